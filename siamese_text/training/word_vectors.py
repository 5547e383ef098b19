"""Pretrained word vectors from a text file: GloVe, word2vec (text) or fastText (.vec).

All three put one word per line followed by its numbers, separated by spaces. word2vec and
fastText start with a header line `COUNT DIM`; GloVe has none. Only the words a vocabulary needs
are kept, so a multi-gigabyte file streams through in bounded memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from siamese_text.corpora.lines import iter_lines
from siamese_text.errors import InputFileError, TrainingError
from siamese_text.text.vocab import Vocab


@dataclass(frozen=True)
class WordVectors:
    """Vectors of the words found: row i of `vectors` belongs to `words[i]`."""

    words: list[str]
    vectors: np.ndarray  # (N, D) float32
    dim: int
    lines: int  # vector lines read from the file


def vector_dim(path: str | Path) -> int:
    """The width of the vectors in the file, from its header or its first line."""
    path = Path(path)
    for number, parts in _lines(path):
        if number == 1 and _is_header(parts):
            return int(parts[1])
        return len(parts) - 1
    raise InputFileError(f"{path}: empty word-vector file")


def _is_header(parts: list[str]) -> bool:
    return len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit()


def _lines(path: Path):
    """(line number, space-separated parts) of each non-blank line (see `lines.iter_lines`)."""
    for number, line, _ in iter_lines(path):
        parts = line.rstrip(" ").split(" ")
        if parts != [""]:
            yield number, parts


def read_word_vectors(path: str | Path, wanted: set[str] | None = None) -> WordVectors:
    """Read the vectors of the `wanted` words (all words when None).

    Raises:
        SiameseTextError: a missing or empty file, or a malformed line, named as FILE:LINE.
    """
    path = Path(path)
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim, count = 0, 0
    for number, parts in _lines(path):
        if number == 1 and _is_header(parts):
            dim = int(parts[1])
            continue
        if dim == 0:
            dim = len(parts) - 1
            if dim < 1:
                raise InputFileError(f"{path}:{number}: expected a word followed by numbers")
        if len(parts) != dim + 1:
            raise InputFileError(f"{path}:{number}: expected a word and {dim} numbers, "
                                   f"got {len(parts) - 1} number(s)")
        count += 1
        word = parts[0]
        if wanted is not None and word not in wanted and word.lower() not in wanted:
            continue
        try:
            rows.append(np.asarray(parts[1:], dtype=np.float32))
        except ValueError:
            raise InputFileError(f"{path}:{number}: the vector of {word[:30]!r} holds something "
                                   "that is not a number") from None
        words.append(word)
    if count == 0:
        raise InputFileError(f"{path}: no word vectors in the file")
    matrix = np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)
    if not np.isfinite(matrix).all():
        raise InputFileError(f"{path}: holds NaN or infinite values")
    return WordVectors(words, matrix, dim, count)


def vectors_for(path: str | Path, vocab: Vocab, extend: bool = False,
                max_size: int | None = None) -> tuple[Vocab, WordVectors]:
    """The vectors a vocabulary needs from a word-vector file, read in one pass.

    Args:
        extend: also add every word of the file to the vocabulary (after its own words).
        max_size: with extend, the largest vocabulary allowed.
    Returns:
        The vocabulary (extended or as given) and the vectors read.
    """
    vectors = read_word_vectors(path, wanted=None if extend else set(vocab.itos))
    if extend:
        vocab = vocab.extended(vectors.words, max_size=max_size)
    return vocab, vectors


def initialise_embedding(weight: torch.Tensor, vocab: Vocab, vectors: WordVectors) -> int:
    """Copy pretrained vectors into the rows of an embedding matrix, in place.

    A vocabulary token takes the vector of the same word, else of its lower-cased form. Rows of
    words the file lacks keep their random initialisation; `<pad>` stays zero.

    Args:
        weight: (V, D) embedding matrix with D == vectors.dim.
    Returns:
        How many vocabulary tokens received a pretrained vector.
    """
    if weight.shape[1] != vectors.dim:
        raise TrainingError(f"word vectors have {vectors.dim} dimensions, the encoder {weight.shape[1]}")
    index = {w: i for i, w in reversed(list(enumerate(vectors.words)))}  # first occurrence wins
    for i, w in enumerate(vectors.words):
        index.setdefault(w.lower(), i)
    found = 0
    with torch.no_grad():
        for token_id, token in enumerate(vocab.itos[2:], start=2):
            row = index.get(token)
            if row is not None:
                weight[token_id] = torch.from_numpy(vectors.vectors[row])
                found += 1
    return found
