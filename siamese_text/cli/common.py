"""What the commands share: option types, the model loader, one-line errors.

Every user mistake ends as one line on stderr ("error: ...") and exit code 1, never a traceback;
an unexpected exception (a bug) ends as one line naming it and exit code 2.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from siamese_text.corpora.formats import CorpusFormat

ModelOption = Annotated[
    Optional[Path],
    typer.Option("--model", "-m", help="Model folder (default: the bundled model).", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per result.")]


class Backend(str, Enum):
    """What runs the network: ONNX Runtime, the NumPy reference path, or torch (the train extra)."""

    onnx = "onnx"
    numpy = "numpy"
    torch = "torch"


BackendOption = Annotated[Optional[Backend], typer.Option(
    help="What runs the network (default: onnx when onnxruntime is installed and the model folder carries "
         "its encoder.onnx, else numpy; `info` says which).", show_default=False)]
Int8Option = Annotated[bool, typer.Option("--int8", help="Run the int8-quantized network (onnx or torch "
                                          "backend): faster, vectors move by about 1e-3.")]
ThreadsOption = Annotated[Optional[int], typer.Option(
    help="Threads while encoding (default: the CPUs this process may use).", min=1, show_default=False)]


class EngineName(str, Enum):
    """Who runs the heavy stages: this machine, or Ray Data (the ray extra)."""

    local = "local"
    ray = "ray"


AddressOption = Annotated[Optional[str], typer.Option(
    help="With --engine ray: the cluster to join (HOST:PORT, or 'auto'); without it a local Ray instance "
         "is started.", show_default=False)]

def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


DEBUG_VARIABLE = "SIAMESE_TEXT_DEBUG"
# the global --debug option, for the length of one invocation (set by the app's group in cli/__init__.py)
DEBUG = contextvars.ContextVar("siamese_text_debug", default=False)
# what Typer itself raises to exit or to report a usage error: Exit, Abort and click's ClickException
# (whether Typer uses click or its own copy of it, as Typer >= 0.20 does)
_TYPER_EXITS = (typer.Exit, typer.Abort,
                next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"))


def debugging() -> bool:
    """True when the traceback of an internal error is wanted: --debug, or SIAMESE_TEXT_DEBUG=1."""
    return DEBUG.get() or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


@contextlib.contextmanager
def user_errors():
    """Turn the errors a user can cause into one line and exit code 1 (130 on Ctrl-C); anything
    else is a bug of ours: one line naming it and exit code 2, or the original exception (and so
    its traceback) with --debug or SIAMESE_TEXT_DEBUG=1."""
    from siamese_text.errors import SiameseTextError

    try:
        yield
    except SiameseTextError as exc:
        raise fail(str(exc)) from None
    except (OSError, UnicodeError, ValueError) as exc:
        raise fail(f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    except MemoryError:
        raise fail("out of memory") from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    except _TYPER_EXITS:
        raise  # the command's own exits and Typer's usage errors pass through
    except Exception as exc:
        if debugging():
            raise
        what = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
        raise fail(f"internal error ({what}); this is a bug in siamese-text: rerun with --debug (or "
                   f"{DEBUG_VARIABLE}=1) for the traceback", 2) from None


def load_model(path: Optional[Path], backend: Optional[Backend] = None, int8: bool = False,
               threads: Optional[int] = None):
    """The model folder `path` (None: the bundled model) on `backend` (None: the default one)."""
    from siamese_text.model.siamese import SiameseModel

    return SiameseModel.load(path, backend=backend.value if backend else None, threads=threads, int8=int8)


def switch_backend(model, source: Optional[Path], backend: Optional[Backend] = None, int8: bool = False,
                   threads: Optional[int] = None):
    """`model` (loaded from folder `source`; None: the bundled model) on the backend and threads asked for."""
    from siamese_text.model.folder import DEFAULT_MODEL_DIR

    if backend is None and not int8 and threads is None:
        return model
    return model.with_backend(backend.value if backend else None, threads=threads, int8=int8,
                              source=Path(source) if source is not None else DEFAULT_MODEL_DIR)


def pair_source(data: Path, fmt: CorpusFormat, text_a: Optional[str], text_b: Optional[str],
                label: Optional[str], split: Optional[str], binarize: Optional[float]):
    """The labelled-pairs options gathered for the library's reader."""
    from siamese_text.corpora.labelled import PairSource

    return PairSource(data, fmt.value, text_a, text_b, label, split, binarize)


def skipped(lines: list[int]) -> None:
    """Say which lines of a corpus were left out for an empty text."""
    if lines:
        shown = ", ".join(map(str, lines[:5])) + (" ..." if len(lines) > 5 else "")
        note(f"skipped {len(lines)} pair(s) with an empty text (line {shown})")


def command_line() -> str:
    """The command as typed, for a model's provenance."""
    return "siamese-text " + " ".join(sys.argv[1:]) if sys.argv[1:] else "siamese-text"


def note(message: str) -> None:
    """A line for the user on stderr (stdout carries only results)."""
    typer.echo(message, err=True)
