"""One-shot matching with `SiameseModel.most_similar` on held-out Quora duplicates.

Each duplicate pair (q1, q2) of the canonical QQP test split (never trained or calibrated on)
becomes a task: find q2 for query q1 among n candidates (q2 plus n - 1 other questions of the
split, drawn with a fixed seed), as when mapping a user question onto a handful of FAQ entries.
Distractors are drawn at random, or among questions that open with the same two words as the
query ("how do", "what is"), which is harder for word-overlap methods. Removing q2 from the
candidates gives the "no FAQ entry fits" case: then the best match should NOT be flagged as a
paraphrase. Baselines: random choice, and TF-IDF cosine (word 1-2 grams, fitted on the split).
Candidate vectors are encoded once (as for a fixed FAQ); ms/query covers encoding the query and
ranking the candidates.

    python benchmarks/one_shot.py [--model DIR] [--candidates 5 20] [--seed 0] [--threads 1]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer

from bundled_model import DEFAULT_DATA, canonical_qqp_split  # this folder is on sys.path
from siamese_text.model.siamese import SiameseModel
from siamese_text.text.tokenizer import normalize


def opening(text: str) -> str:
    return " ".join(normalize(text).split()[:2])


def tasks(pairs, n: int, seed: int, hard: bool) -> list[tuple[str, str, list[str]]]:
    """(query, answer, distractors) for every duplicate pair; distractors differ from both.

    hard: distractors start with the same two words as the query ("how do", "what is") when
    the split has enough of them, as FAQ entries often do; otherwise they are drawn at random.
    """
    rng = random.Random(seed)
    pool = sorted({t for p in pairs for t in (p.a, p.b)})
    by_opening: dict[str, list[str]] = {}
    for t in pool:
        by_opening.setdefault(opening(t), []).append(t)
    out = []
    for p in (p for p in pairs if p.label == 1):
        banned = {normalize(p.a), normalize(p.b)}
        same = [t for t in by_opening[opening(p.a)] if normalize(t) not in banned] if hard else []
        distractors = rng.sample(same, n - 1) if len(same) >= n - 1 else []
        while len(distractors) < n - 1:
            t = rng.choice(pool)
            if normalize(t) not in banned and t not in distractors:
                distractors.append(t)
        out.append((p.a, p.b, distractors))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: bundled)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--candidates", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (more oversubscribe a busy CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = SiameseModel.load(args.model)
    _, _, test = canonical_qqp_split(args.data)
    pool = sorted({t for p in test for t in (p.a, p.b)})
    row_of = {t: i for i, t in enumerate(pool)}
    vectors = model.encode(pool)  # (M, D): candidates are encoded once, as a fixed FAQ would be
    tfidf = TfidfVectorizer(preprocessor=normalize, ngram_range=(1, 2)).fit(pool)

    print(f"model: {args.model or 'bundled'}; QQP test split, threshold {model.threshold:.3f}; "
          f"torch threads: {args.threads}")
    print(f"{'distractors':<14}{'candidates':>10}{'queries':>9}{'random top-1':>14}{'TF-IDF top-1':>14}"
          f"{'model top-1':>13}{'flagged (answer in)':>21}{'flagged (answer out)':>22}{'ms/query':>10}")
    for hard in (False, True):
        for n in args.candidates:
            rows = tasks(test, n, args.seed, hard)
            hits = tf_hits = flag_in = flag_out = 0
            seconds = 0.0
            for query, answer, distractors in rows:
                candidates = [answer, *distractors]  # the answer is index 0
                cand_vectors = vectors[[row_of[t] for t in candidates]]
                started = time.perf_counter()
                best = model.most_similar(query, candidates, k=1, candidate_vectors=cand_vectors)[0]
                seconds += time.perf_counter() - started
                hits += best.index == 0
                flag_in += best.index == 0 and best.paraphrase
                flag_out += model.most_similar(query, distractors, k=1, candidate_vectors=cand_vectors[1:])[0].paraphrase
                sims = (tfidf.transform([query]) @ tfidf.transform(candidates).T).toarray()[0]
                tf_hits += int(np.argmax(sims)) == 0
            q = len(rows)
            print(f"{'same opening' if hard else 'random':<14}{n:>10}{q:>9}{1 / n:>14.3f}{tf_hits / q:>14.3f}"
                  f"{hits / q:>13.3f}{flag_in / q:>21.3f}{flag_out / q:>22.3f}{seconds / q * 1000:>10.1f}")


if __name__ == "__main__":
    main()
