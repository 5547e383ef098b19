"""Edited copies of unlabelled texts, each paired with its source, for distillation.

A question and the same question with one word deleted, two words swapped, or one word replaced
(by a random word of the corpus or by one of its nearest words in a word-vector space) differ
in one place; how far the teacher moves them apart says how much that word carries. Matching
the teacher on such pairs teaches the student the fine distinctions that duplicate detection
lives on, from text alone, and shows it many sentences the corpus does not contain.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

EDITS = ("delete", "swap", "replace", "neighbour")
_WORD = re.compile(r"^(\W*)([A-Za-z][A-Za-z'-]*)(\W*)$")  # leading punctuation, word, trailing punctuation


def word_neighbours(words: Sequence[str], vectors: np.ndarray, wanted: set[str], k: int = 8,
                    chunk: int = 2048) -> dict[str, list[str]]:
    """For each word of `wanted` that has a vector: its k nearest other words by cosine.

    Args:
        words: the words of the vector table, row i is words[i].
        vectors: (N, D) word vectors.
    """
    v = np.asarray(vectors, dtype=np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-8)
    rows = [i for i, w in enumerate(words) if w in wanted]
    k = min(k, len(words) - 1)
    found: dict[str, list[str]] = {}
    for start in range(0, len(rows) if k > 0 else 0, chunk):
        part = rows[start : start + chunk]
        sims = v[part] @ v.T  # (c, N)
        sims[np.arange(len(part)), part] = -2.0  # never the word itself
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        for r, i in enumerate(part):
            order = top[r][np.argsort(-sims[r, top[r]])]
            found[words[i]] = [words[j] for j in order]
    return found


def edit(text: str, rng: random.Random, pool: Sequence[str],
         neighbours: dict[str, list[str]] | None = None) -> str | None:
    """One random edit of `text` (see EDITS); None when the text offers nothing to edit."""
    tokens = text.split()
    spots = [i for i, t in enumerate(tokens) if _WORD.match(t)]
    if len(spots) < 2:
        return None
    kinds = [e for e in EDITS if e != "neighbour" or neighbours]
    kind = rng.choice(kinds)
    i = rng.choice(spots)
    if kind == "delete":
        del tokens[i]
    elif kind == "swap":
        j = i + 1 if i + 1 < len(tokens) else i - 1
        tokens[i], tokens[j] = tokens[j], tokens[i]
    else:
        lead, word, trail = _WORD.match(tokens[i]).groups()
        options = (neighbours or {}).get(word.lower(), []) if kind == "neighbour" else []
        new = rng.choice(options) if options else rng.choice(pool)
        if word[:1].isupper():
            new = new[:1].upper() + new[1:]
        tokens[i] = lead + new + trail
    out = " ".join(tokens)
    return out if out != text else None


def augment(texts: Sequence[str], copies: int, seed: int = 0, word_vectors=None) -> list[tuple[str, str]]:
    """`copies` edited versions of each text, as (source, edited) pairs, each edited text once.

    Args:
        word_vectors: optional `embeddings.WordVectors`; enables replacement by a nearest word.
    """
    rng = random.Random(seed)
    counts = Counter(w.lower() for t in texts for tok in t.split() if (m := _WORD.match(tok))
                     for w in [m.group(2)])
    pool = sorted(w for w, n in counts.items() if n >= 2 and len(w) >= 3)
    if not pool:
        return []
    neighbours = None
    if word_vectors is not None:
        neighbours = word_neighbours(word_vectors.words, word_vectors.vectors, set(counts))
    seen = set(texts)
    pairs: list[tuple[str, str]] = []
    for text in texts:
        for _ in range(copies):
            new = edit(text, rng, pool, neighbours)
            if new is not None and new not in seen:
                seen.add(new)
                pairs.append((text, new))
    return pairs
