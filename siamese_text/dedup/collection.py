"""A text file as a collection, one record a line: the embedding of every line in a .npy file
(`siamese-text embed`), or a search index of its distinct lines (`siamese-text index`).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamese_text.corpora.lines import read_lines
from siamese_text.dedup.files import DecodeErrors, iter_records, open_sources, work_folder
from siamese_text.dedup.search import TextIndex
from siamese_text.dedup.stages import DedupConfig
from siamese_text.errors import InputFileError, OutputError


def _model(model, model_path: str | Path | None):
    if model is not None:
        return model
    from siamese_text.model.siamese import SiameseModel

    return SiameseModel.load(model_path)


def embed_file(source: str | Path, out: str | Path, model=None, model_path: str | Path | None = None,
               batch_size: int | None = None, overwrite: bool = False) -> tuple[int, int]:
    """Write the (N, D) float32 embeddings of the N lines of `source` to the .npy file `out`.

    Row i is line i + 1 (a blank line gives a zero vector). The file appears only once complete.

    Args:
        source: a UTF-8 text file, or "-" for standard input.
        model: the encoder (default: the model folder `model_path`, or the bundled model).
        batch_size: texts per forward pass (default: the model's).
        overwrite: replace an existing `out` (never the input).
    Returns:
        The shape written, (N, D).
    """
    source, out = Path(source), Path(out)
    if str(source) != "-" and source.resolve() == out.resolve():
        raise OutputError(f"{out}: refusing to write over the input")
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: already exists (pass --overwrite to replace it)")
    texts = read_lines(source)
    vectors = _model(model, model_path).encode(texts, batch_size=batch_size)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.save(fh, vectors)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return vectors.shape


@dataclass(frozen=True)
class Indexed:
    """What `index_file` built."""

    index: TextIndex  # the distinct texts, saved
    lines: int  # non-blank lines read


def index_file(source: str | Path, out: str | Path, model=None, model_path: str | Path | None = None,
               errors: DecodeErrors | str = DecodeErrors.strict, overwrite: bool = False, progress: bool = False,
               config: DedupConfig | None = None) -> Indexed:
    """Index the non-blank lines of `source` (each distinct text once, under its first line) and
    save the index folder `out`.

    Args:
        source: a UTF-8 text file, or "-" for standard input.
        model: the encoder (default: the model folder `model_path`, or the bundled model); the
            index records `model_path` so that search finds the same model.
        errors: invalid UTF-8 stops with an error naming the line, or is replaced.
        overwrite: replace an existing index folder.
        config: how to embed and index (default: one thread per process, one process per core).
    """
    out = Path(out)
    if out.exists() and not (out.is_dir() and (overwrite or not any(out.iterdir()))):
        raise OutputError(f"{out}: already exists (pass --overwrite to replace it)")
    # standard input is spooled beside the index (its file system, cleaned after a killed run)
    with work_folder(out.parent) if str(source) == "-" else contextlib.nullcontext() as spool:
        (src,) = open_sources([str(source)], spool)
        texts, lines = [], []
        for number, (_, text) in enumerate(iter_records(src, "line", DecodeErrors(errors).value), start=1):
            if text.strip():
                texts.append(text)
                lines.append(number)
    if not texts:
        raise InputFileError(f"{source}: no non-blank lines to index")
    index = TextIndex.build(texts, _model(model, model_path), lines=lines,
                            config=config or DedupConfig(),
                            progress=progress, model_path=model_path)
    index.save(out, overwrite=overwrite)
    return Indexed(index, len(lines))
