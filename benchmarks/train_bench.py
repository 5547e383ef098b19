"""Training throughput and the effect of hashed character n-grams (subwords), on QQP.

Trains the plain Siamese BiLSTM (no distillation) on the canonical QQP split, once per
--subwords setting with everything else equal, and prints one table: training pairs/s, seconds
per epoch, and accuracy / ROC-AUC on the validation part (which picked the epoch and fitted the
threshold) and on the untouched test part.

    python benchmarks/train_bench.py --data ../shared/data/qqp/bimpm/dev.tsv

The canonical split: split_pairs(read_pairs(dev.tsv, "qqp-bimpm"), [0.65, 0.15, 0.2], seed=0)
-> 6,500 training, 1,500 validation, 2,000 test pairs, no question in two parts.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from siamese_text.evaluation.metrics import evaluate_pairs
from siamese_text.corpora.pairs import read_pairs, split_pairs
from siamese_text.training.trainer import Trainer, TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/qqp/bimpm/dev.tsv")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--subwords", default="16384,0", help="comma-separated bucket counts (0 = off)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    train, valid, test = split_pairs(read_pairs(args.data, "qqp-bimpm"), [0.65, 0.15, 0.2], seed=0)
    rows = []
    for buckets in (int(b) for b in args.subwords.split(",")):
        config = TrainConfig(epochs=args.epochs, patience=args.patience, seed=0)
        encoder = dict(embedding_dim=128, hidden_size=192, pooling="max", subword_buckets=buckets)
        started = time.perf_counter()
        model = Trainer(config, encoder, progress=False).fit(train, valid)
        total = time.perf_counter() - started
        hist = model.meta["history"]
        v, t = evaluate_pairs(model, valid), evaluate_pairs(model, test)
        rows.append((buckets, len(hist), model.meta["best_epoch"],
                     sum(h["items_per_second"] for h in hist) / len(hist),
                     sum(h["seconds"] for h in hist) / len(hist), total,
                     v["accuracy"], v["roc_auc"], t["accuracy"], t["roc_auc"]))
    print(f"QQP canonical split: {len(train)} train / {len(valid)} valid / {len(test)} test pairs; "
          f"torch threads {args.threads}; {os.cpu_count()} CPUs; {platform.processor() or platform.machine()}; "
          f"load average at the end {os.getloadavg()[0]:.1f} (a shared machine slows every number here)")
    print("| subwords (buckets) | epochs run | best epoch | train pairs/s | s/epoch | total s "
          "| valid acc | valid AUC | test acc | test AUC |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0] or 'off'} | {r[1]} | {r[2]} | {r[3]:.0f} | {r[4]:.1f} | {r[5]:.0f} "
              f"| {r[6]:.4f} | {r[7]:.4f} | {r[8]:.4f} | {r[9]:.4f} |")


if __name__ == "__main__":
    main()
