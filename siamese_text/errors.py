"""The one exception type that siamese-text raises for a user's mistake."""

from __future__ import annotations


class SiameseTextError(Exception):
    """A problem with the user's input (a file, a model folder, an argument).

    The message is one line, meant to be shown as it is; the CLI prints it and exits non-zero.
    """
