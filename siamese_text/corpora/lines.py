"""The one line reader: every line-based text file the package reads goes through `iter_lines`.

Pair and corpus files, word vectors, a text per line (`embed`, `distil`) and dedup records all
agree on what a line is, and fail alike, with one line naming the file and line:

- a line ends at "\n"; its ending ("\n" or "\r\n") is not part of its text, and a last line
  without one is still a line;
- bytes are decoded as UTF-8: strictly (the first bad line is named, with the byte) unless
  errors="replace" turns bad bytes into U+FFFD;
- a byte-order mark at the start of the file is dropped;
- a NUL character is refused unless nul_ok: it is how a UTF-16 or binary file shows up;
- with max_bytes, a longer line is refused before it is held in memory;
- "-" is standard input, named "<stdin>" in errors.

Only the standard library is used here, so the light core (dedup, `embed`) may read with it.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from pathlib import Path

from siamese_text.errors import InputFileError

STDIN = "-"
UTF8_HINT = "convert the file to UTF-8"


def iter_lines(path: str | Path, errors: str = "strict", *, max_bytes: int | None = None,
               nul_ok: bool = False, name: str | None = None,
               hint: str = UTF8_HINT) -> Iterator[tuple[int, str, bytes]]:
    """Stream the lines of a UTF-8 text file.

    Args:
        path: the file, or "-" for standard input.
        errors: "strict" (invalid UTF-8 is an error) or "replace" (bad bytes become U+FFFD).
        max_bytes: the longest line accepted, in bytes without its ending (None = no limit).
        nul_ok: let NUL characters through (dedup copies records byte for byte) instead of
            refusing the file.
        name: how errors name the file (default: the path, "<stdin>" for "-").
        hint: what an invalid-UTF-8 error advises.
    Yields:
        (number, text, raw): the 1-based line number, the decoded text without its line ending
        (nor, on line 1, the BOM), and the line's bytes as in the file, ending included.
    Raises:
        SiameseTextError: a missing or unreadable file, invalid UTF-8, a NUL, a line too long;
            one line naming FILE:LINE.
    """
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors is 'strict' or 'replace', not {errors!r}")
    where = name or ("<stdin>" if str(path) == STDIN else str(path))
    with _open(path, where) as fh:
        if max_bytes is None:
            chunks = fh
        else:  # room for the longest line and its "\r\n"; a read cut short is a line too long
            chunks = iter(functools.partial(fh.readline, max_bytes + 2), b"")
        for number, raw in enumerate(chunks, start=1):
            if max_bytes is not None and _without_ending(raw) > max_bytes:
                raise InputFileError(f"{where}:{number}: line longer than {max_bytes} bytes; "
                                       "is it a text file with one record a line?")
            try:
                text = raw.decode("utf-8", errors)
            except UnicodeDecodeError as exc:
                raise not_utf8(f"{where}:{number}", exc, hint) from None
            if text.endswith("\n"):
                text = text[:-1]
            text = text.removesuffix("\r")
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            if not nul_ok and "\0" in text:
                raise _nul(f"{where}:{number}", text)
            yield number, text, raw


def read_lines(source: str | Path, errors: str = "strict", **options) -> list[str]:
    """Every line of a UTF-8 file as one text, blank lines kept, so text i is line i + 1.

    Args:
        source: the file, or "-" for standard input.
        **options: as `iter_lines` (max_bytes, nul_ok, name, hint).
    Returns:
        The lines without their line endings (LF or CRLF); a first-line BOM is dropped.
    Raises:
        SiameseTextError: as `iter_lines` (a missing file, "FILE:LINE: not valid UTF-8", ...).
    """
    return [text for _, text, _ in iter_lines(source, errors, **options)]


def read_whole(path: str | Path, errors: str = "strict", *, nul_ok: bool = False, name: str | None = None,
               hint: str = UTF8_HINT) -> tuple[bytes, str]:
    """A whole file as one record: (its bytes, its text without a leading BOM); see `iter_lines`.

    Line endings are part of the text; "-" is standard input.
    """
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors is 'strict' or 'replace', not {errors!r}")
    where = name or ("<stdin>" if str(path) == STDIN else str(path))
    with _open(path, where) as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8", errors)
    except UnicodeDecodeError as exc:
        raise not_utf8(where, exc, hint, of="") from None
    text = text.removeprefix("\ufeff")
    if not nul_ok and "\0" in text:
        raise _nul(where, text, of="")
    return raw, text


def not_utf8(where: str, exc: UnicodeDecodeError, hint: str = UTF8_HINT,
             of: str = " of the line") -> InputFileError:
    """The error for bytes that are not UTF-8: `WHERE: not valid UTF-8 (byte N of the line); HINT`."""
    return InputFileError(f"{where}: not valid UTF-8 (byte {exc.start + 1}{of})" + (f"; {hint}" if hint else ""))


def _nul(where: str, text: str, of: str = " of the line") -> InputFileError:
    return InputFileError(f"{where}: holds a NUL character (character {text.index(chr(0)) + 1}{of}); "
                            "a UTF-16 or binary file? convert it to UTF-8 text")


def _without_ending(raw: bytes) -> int:
    """Bytes of a line without its "\n" or "\r\n"."""
    return len(raw) - (2 if raw.endswith(b"\r\n") else 1 if raw.endswith(b"\n") else 0)


def _open(path: str | Path, where: str):
    """The file opened for binary reading (standard input for "-"), or a one-line error."""
    if str(path) == STDIN:
        return contextlib.nullcontext(sys.stdin.buffer)
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputFileError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{where}: is a folder, not a file") from None
    except PermissionError:
        raise InputFileError(f"{where}: permission denied") from None
