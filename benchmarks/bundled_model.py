"""Accuracy and ROC-AUC of a model on the canonical held-out QQP split.

The split (seed 0, leakage-free: no question in two parts) of the BiMPM Quora dev file:
train 6,500 / valid 1,500 (early stopping, calibration, threshold) / test 2,000 (reported here;
never trained, distilled or calibrated on).

    python benchmarks/bundled_model.py [--model DIR] [--data ../shared/data/qqp/bimpm/dev.tsv]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from siamese_text.evaluation.metrics import evaluate_pairs
from siamese_text.model.siamese import SiameseModel
from siamese_text.corpora.pairs import read_pairs, split_pairs

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "qqp" / "bimpm" / "dev.tsv"


def canonical_qqp_split(path: Path = DEFAULT_DATA):
    """(train, valid, test) lists of Pair: 6,500 / 1,500 / 2,000."""
    return split_pairs(read_pairs(path, "qqp-bimpm"), [0.65, 0.15, 0.2], seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: bundled)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    model = SiameseModel.load(args.model)
    _, valid, test = canonical_qqp_split(args.data)
    print(f"model: {args.model or 'bundled'}; trained on: {model.meta.get('trained_on', '?')}")
    print(f"{'split':<28}{'pairs':>7}{'accuracy':>10}{'F1':>8}{'ROC-AUC':>9}{'threshold':>11}{'seconds':>9}")
    for name, pairs in (("QQP valid (calibration)", valid), ("QQP test (held out)", test)):
        started = time.perf_counter()
        m = evaluate_pairs(model, pairs)
        took = time.perf_counter() - started
        print(f"{name:<28}{m['n']:>7}{m['accuracy']:>10.4f}{m['f1']:>8.4f}{m['roc_auc']:>9.4f}"
              f"{m['threshold']:>11.4f}{took:>9.2f}")
    questions = list(dict.fromkeys(t for p in test for t in (p.a, p.b)))
    unknown = sum(any(tok not in model.vocab for tok in model.tokenizer(q)) for q in questions)
    print(f"test questions holding a word outside the vocabulary: {unknown / len(questions):.1%} "
          f"({unknown} of {len(questions)} distinct)")


if __name__ == "__main__":
    main()
