"""Dedup's own threshold: near-duplicate precision and recall of a corpus against the probability.

The pair threshold (best accuracy on the balanced validation pairs) is not what cleaning a corpus
wants: there most candidate pairs are different texts, and merging two different questions costs
more than keeping a duplicate. This benchmark measures, for one model:

  * on the held-out QQP validation split (1,500 pairs the model never trained on), the precision
    and recall of "duplicate" at each probability, and the thresholds that three rules pick from
    them (the pair threshold, the best F0.5, the best F1);
  * on the existing dedup benchmark's 1M-line workload (benchmarks/dedup_bench.py: real sentences
    of QQP dev, MRPC and PAWS, ground truth from the labelled paraphrase groups), the
    near-duplicate precision and recall of `dedup` at every probability of a grid and at each rule's
    threshold. Near decisions depend only on the distinct texts in first-seen order, so the texts
    are encoded once and `dedup` runs on them at each threshold with exact search.

    python benchmarks/dedup_threshold.py [--model DIR] [--size 1000000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup_bench import DATA, build_workload, ground_truth, load_pairs  # noqa: E402

GRID = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97]


class CachedModel:
    """The model's energy, calibration and threshold, with embeddings looked up, not recomputed."""

    def __init__(self, model, texts: list[str]) -> None:
        self.energy, self.calibration, self.threshold = model.energy, model.calibration, model.threshold
        self._rows = {t: i for i, t in enumerate(texts)}
        self._vectors = model.encode(texts)

    def encode(self, texts, **_) -> np.ndarray:
        return self._vectors[[self._rows[t] for t in texts]]


def pair_rules(probs: np.ndarray, labels: np.ndarray, pair_threshold: float) -> dict[str, float]:
    """Threshold picked by each rule on labelled pairs (the highest-scoring threshold on ties)."""
    candidates = np.unique(probs)
    best = {"F0.5": (-1.0, 1.0), "F1": (-1.0, 1.0)}
    for t in candidates:
        called = probs >= t
        tp = float((called & (labels == 1)).sum())
        p = tp / max(called.sum(), 1)
        r = tp / max((labels == 1).sum(), 1)
        for name, beta in (("F0.5", 0.5), ("F1", 1.0)):
            f = (1 + beta**2) * p * r / max(beta**2 * p + r, 1e-12)
            if f >= best[name][0]:
                best[name] = (f, float(t))
    return {"pair threshold (accuracy)": pair_threshold, **{f"best {k} on validation pairs": v[1]
                                                           for k, v in best.items()}}


def pair_pr(probs: np.ndarray, labels: np.ndarray, t: float) -> tuple[float, float]:
    called = probs >= t
    tp = float((called & (labels == 1)).sum())
    return tp / max(called.sum(), 1), tp / max((labels == 1).sum(), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--size", type=int, default=1_000_000, help="lines of the dedup workload")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: the benchmark needs the shared data sets")

    from siamese_text.corpora.pairs import read_pairs, split_pairs
    from siamese_text.dedup.stages import DedupConfig, dedup
    from siamese_text.dedup.index import IndexConfig
    from siamese_text.model.siamese import SiameseModel

    model = SiameseModel.load(args.model)
    valid = split_pairs(read_pairs(DATA / "qqp/bimpm/dev.tsv", "qqp-bimpm"), [0.65, 0.15, 0.2], seed=0)[1]
    probs = model.probabilities([p.a for p in valid], [p.b for p in valid])
    labels = np.array([p.label for p in valid])
    rules = pair_rules(probs, labels, model.threshold)

    pairs = load_pairs(DATA)
    lines = build_workload(pairs, args.size, args.seed)
    true, exact = ground_truth(lines, pairs)
    first = np.flatnonzero(~exact)
    texts, truth = [lines[i] for i in first], true[first]
    cached = CachedModel(model, texts)
    config = DedupConfig(min_parallel=10**12, index=IndexConfig(exact_limit=10**9))

    def corpus_pr(t: float) -> tuple[int, float, float]:
        removed = np.asarray(dedup(texts, cached, threshold=t, config=config).duplicate_of) >= 0
        hit = float((removed & truth).sum())
        return int(removed.sum()), hit / max(removed.sum(), 1), hit / max(truth.sum(), 1)

    print(f"model: {args.model or 'bundled'}; QQP validation pairs: {len(valid)}; dedup workload: {args.size:,} lines, "
          f"{len(texts):,} distinct, {int(truth.sum()):,} near duplicates by the labelled groups")
    print("| threshold | chosen by | validation pairs precision | validation pairs recall | near removed | "
          "near precision | near recall |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    rows = sorted({*GRID, *rules.values()})
    for t in rows:
        why = ", ".join(k for k, v in rules.items() if v == t) or "grid"
        vp, vr = pair_pr(probs, labels, t)
        n, p, r = corpus_pr(t)
        print(f"| {t:.4f} | {why} | {vp:.3f} | {vr:.3f} | {n:,} | {p:.3f} | {r:.3f} |", flush=True)


if __name__ == "__main__":
    main()
