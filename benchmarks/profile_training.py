"""Where one training epoch spends its time: cProfile of Trainer.fit (1 epoch) on QQP.

    python benchmarks/profile_training.py [--threads 1] [--top 15]

Trains the bundled model's sizes for one epoch on the 6,500-pair training part of the canonical
QQP split (validation: the 1,500-pair part), then prints pairs/s and the functions with the most
time of their own, plus the share of the epoch spent in torch (forward, backward, optimiser),
in padding batches (features.collate) and in tokenizing.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
from pathlib import Path

QQP = Path(__file__).resolve().parents[2] / "shared" / "data" / "qqp" / "bimpm" / "dev.tsv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    from siamese_text.model.siamese import DEFAULT_MODEL_DIR
    from siamese_text.corpora.pairs import read_pairs, split_pairs
    from siamese_text.training.trainer import Trainer, TrainConfig

    enc = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())["encoder"]
    options = {k: enc[k] for k in ("embedding_dim", "hidden_size", "num_layers", "pooling", "subword_buckets",
                                   "output_dim", "dropout")}
    train, valid, _ = split_pairs(read_pairs(QQP, "qqp-bimpm"), [0.65, 0.15, 0.2], seed=0)
    trainer = Trainer(TrainConfig(epochs=1, threads=args.threads), options, progress=False)
    profiler = cProfile.Profile()
    profiler.enable()
    trainer.fit(train, valid)
    profiler.disable()
    epoch = trainer.history_[0]
    print(f"one epoch: {len(train)} pairs in {epoch['seconds']:.1f} s = {epoch['items_per_second']:.0f} pairs/s "
          f"(threads {args.threads}, sizes {options})")
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]

    def cumulative(pattern: str) -> float:
        # the largest matching entry: wrappers (e.g. _engine_run_backward) contain what they wrap
        return max((v[3] for k, v in stats.stats.items()  # type: ignore[attr-defined]
                    if pattern in f"{k[0]}:{k[2]}"), default=0.0)

    print(f"profiled total {total:.1f} s (fit: vocabulary, features, 1 epoch, validation, calibration)")
    for label, pattern in (("Encoder.forward", "encoder.py:forward"), ("loss.backward", "run_backward"),
                           ("optimizer.step", "adam.py:step"), ("features.collate", "features.py:collate"),
                           ("tokenizing", "tokenizer.py:pipe"), ("clip_grad_norm_", "clip_grad.py")):
        print(f"  {label:<18} {cumulative(pattern):6.2f} s cumulative")
    print(f"\ntop {args.top} functions by own time:")
    stats.sort_stats("tottime").print_stats(args.top)
    torch_ops(trainer, train, args.top)


def torch_ops(trainer, train, top: int, steps: int = 10) -> None:
    """torch.profiler over `steps` training steps (batch 64 pairs) of a fresh encoder of the same sizes."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from siamese_text.model.torch_encoder import Encoder
    from siamese_text.model.energy import cosine
    from siamese_text.text.features import collate
    from siamese_text.training.losses import contrastive_loss
    from siamese_text.model.siamese import SiameseModel

    model = SiameseModel.load()
    encoder = Encoder(model.encoder.config).train()
    optimizer = torch.optim.Adam(encoder.parameters(), lr=2e-3)
    pairs = train[: 64 * steps]
    feats = model.featurizer([p.a for p in pairs] + [p.b for p in pairs])
    n = len(pairs)
    batches = [(collate(feats[i : i + 64] + feats[n + i : n + i + 64], True),
                torch.tensor([float(p.label) for p in pairs[i : i + 64]])) for i in range(0, n, 64)]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch, labels in batches:
            vecs = encoder(**batch)
            loss = contrastive_loss(cosine(vecs[: len(labels)], vecs[len(labels) :]), labels, 0.5)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
            optimizer.step()
    print(f"\ntorch operators over {steps} training steps (self CPU time):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))


if __name__ == "__main__":
    main()
