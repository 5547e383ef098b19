"""The exceptions siamese-text raises for a user's mistake: SiameseTextError and its named kinds.

Catch SiameseTextError for all of them; each message is one line, meant to be shown as it is.

    SiameseTextError
    ├── InputError          an input that cannot be used as given (an empty or over-long text, data with one class)
    │   └── InputFileError  an input file missing, unreadable or malformed; the message starts with FILE or FILE:LINE
    ├── ArgumentError       an argument or setting that cannot be used (an unknown name, a value out of range,
    │                       options that exclude each other, an operation the object does not support)
    ├── OutputError         an output that cannot be written (it exists: pass --overwrite; it is an input)
    ├── FolderError         a folder the library reads, missing, damaged or not matching the other inputs
    │   ├── ModelFolderError     (model/folder.py) a model folder; UnsupportedModel: from a newer siamese-text
    │   ├── IndexFolderError     an index folder (siamese-text index)
    │   └── CheckpointError      a checkpoint folder, or one of another run's settings or data
    ├── TrainingError       training or distillation cannot start or go on; TrainingInterrupted (training/trainer.py)
    ├── WorkerError         (dedup/workers.py) an encoding worker process failed (naming its chunk), or its pool died twice
    ├── UncalibratedModel   (model/calibration.py) a probability asked of a model whose calibration was never fitted
    └── MissingExtra        (extras.py) an optional library that is not installed; also an ImportError
"""

from __future__ import annotations


class SiameseTextError(Exception):
    """A problem with the user's input (a file, a model folder, an argument).

    The message is one line, meant to be shown as it is; the CLI prints it and exits non-zero.
    """


class InputError(SiameseTextError):
    """An input that cannot be used as given: an empty or over-long text, data without both classes."""


class InputFileError(InputError):
    """An input file (pairs, a corpus, text lines, word vectors, a vocabulary) that is missing,
    unreadable or malformed; the message names it, as FILE:LINE where a line is at fault."""


class ArgumentError(SiameseTextError):
    """An argument or setting that cannot be used: an unknown name, a value out of range, options
    that exclude each other, an operation the object does not support."""


class OutputError(SiameseTextError):
    """An output that cannot be written: it exists (pass --overwrite), or it is one of the inputs."""


class FolderError(SiameseTextError):
    """A folder the library reads (a model, an index, a checkpoint) that is missing, damaged, or
    does not match the other inputs; the message names the file at fault."""


class IndexFolderError(FolderError):
    """An index folder (written by `siamese-text index`) that is missing, damaged or built with another model."""


class CheckpointError(FolderError):
    """A checkpoint folder that is missing or unreadable, or holds a run with other settings or data."""


class TrainingError(SiameseTextError):
    """Training or distillation cannot start or go on (a teacher that is not a model, a stale teacher
    cache, too few texts, word vectors of another width)."""
