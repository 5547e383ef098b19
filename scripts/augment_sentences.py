"""Augmented sentences for a teacher-scored transfer set (build-time only; issue 14, lever 2).

Tang et al. (2019) distil a task-trained teacher into a BiLSTM over a transfer set grown from
the training sentences by three random edits. This script makes that set from the distillation
sentences, with two departures that suit a sentence-embedding teacher:

  * word dropping stands in for masking (a sentence encoder has no mask slot that the student
    could also see, so a masked word is removed instead), with probability --p-drop per word;
  * a word is replaced by one of its --nearest nearest words by the teacher's static word vectors
    (scripts/teacher_word_vectors.py; Tang et al. used a word of the same part of speech), with
    probability --p-swap per word;
  * with probability --p-ngram the edited sentence is cut to a random window of at least half
    its words (Tang et al. sample 1- to 5-grams; Quora questions are short, so shorter windows
    would mostly be fragments no user writes).

Each sentence gets --per-sentence variants; a variant equal to its source, empty, already seen,
or equal to a sentence of a reported test set (after normalisation) is dropped. The variants go
one a line to OUT_TEXTS, and each (source, variant) pair to OUT_PAIRS (text_a<TAB>text_b), so
that `siamese-text distill --texts OUT_TEXTS --text-pairs OUT_PAIRS` makes the student match the
teacher's similarity between a sentence and its own near-variant, the distinction dedup lives on.

    python scripts/augment_sentences.py ../shared/data build/x/sentences.txt build/x/words.txt \
        build/x/augmented.txt build/x/augmented_pairs.tsv --per-sentence 2 --seed 0
"""

from __future__ import annotations

import argparse
import random
import string
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distill_sentences import banned_sentences  # noqa: E402

from siamese_text.text.tokenizer import normalize  # noqa: E402

PUNCT = string.punctuation + "“”‘’"


def read_word_vectors(path: Path) -> tuple[list[str], np.ndarray]:
    """Words and unit-length rows of a GloVe-layout text file (an optional 'N D' header line)."""
    words, rows = [], []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh):
            parts = line.rstrip("\n").split(" ")
            if number == 0 and len(parts) == 2:
                continue
            words.append(parts[0])
            rows.append(np.asarray(parts[1:], dtype=np.float32))
    matrix = np.vstack(rows)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    return words, matrix


def nearest_words(words: list[str], matrix: np.ndarray, wanted: set[str], k: int,
                  chunk: int = 2048) -> dict[str, list[str]]:
    """For each word of `wanted` that has a vector: its k nearest other alphabetic words by cosine."""
    index = {w: i for i, w in enumerate(words)}
    alpha = np.array([w.isalpha() for w in words])
    rows = [index[w] for w in sorted(wanted) if w in index]
    out: dict[str, list[str]] = {}
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        sims = matrix[part] @ matrix.T  # (chunk, V)
        sims[:, ~alpha] = -2.0
        sims[np.arange(len(part)), part] = -2.0
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        for r, cand in zip(part, top):
            out[words[r]] = [words[c] for c in cand]
    return out


def variant(tokens: list[str], near: dict[str, list[str]], rng: random.Random, p_drop: float,
            p_swap: float, p_ngram: float) -> str:
    """One random edit of a whitespace-tokenised sentence."""
    out = []
    for token in tokens:
        roll = rng.random()
        if roll < p_drop and len(tokens) > 2:
            continue
        core = token.strip(PUNCT)
        if roll < p_drop + p_swap and core and core.lower() in near:
            choice = rng.choice(near[core.lower()])
            if core[0].isupper():
                choice = choice.capitalize()
            token = token.replace(core, choice, 1)
        out.append(token)
    if len(out) > 3 and rng.random() < p_ngram:
        n = rng.randint((len(out) + 1) // 2, len(out) - 1)
        start = rng.randint(0, len(out) - n)
        out = out[start:start + n]
    return " ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="../shared/data (for the test sentences to keep out)")
    ap.add_argument("sentences", type=Path, help="source sentences, one a line")
    ap.add_argument("word_vectors", type=Path, help="teacher word vectors (GloVe text layout)")
    ap.add_argument("out_texts", type=Path)
    ap.add_argument("out_pairs", type=Path)
    ap.add_argument("--per-sentence", type=int, default=2)
    ap.add_argument("--p-drop", type=float, default=0.1)
    ap.add_argument("--p-swap", type=float, default=0.1)
    ap.add_argument("--p-ngram", type=float, default=0.25)
    ap.add_argument("--nearest", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    sentences = [s for s in args.sentences.read_text(encoding="utf-8").splitlines() if s.strip()]
    banned = banned_sentences(args.data, hold_out_valid=True)
    seen = {normalize(s) for s in sentences} | banned
    words, matrix = read_word_vectors(args.word_vectors)
    wanted = {t.strip(PUNCT).lower() for s in sentences for t in s.split()}
    near = nearest_words(words, matrix, wanted, args.nearest)
    rng = random.Random(args.seed)
    texts, pairs = [], []
    for source in sentences:
        tokens = source.split()
        for _ in range(args.per_sentence):
            text = variant(tokens, near, rng, args.p_drop, args.p_swap, args.p_ngram)
            key = normalize(text)
            if not text or key in seen:
                continue
            seen.add(key)
            texts.append(text)
            pairs.append((source, text))
    args.out_texts.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    args.out_pairs.write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")
    print(f"{len(texts)} variants of {len(sentences)} sentences -> {args.out_texts}, pairs -> {args.out_pairs}")


if __name__ == "__main__":
    main()
