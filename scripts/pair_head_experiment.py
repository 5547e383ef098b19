#!/usr/bin/env python
"""Measure lever 3 of issue 14: a pair head on the shared tower, before building it into the model.

The head is a small classifier over InferSent's pair features [u, v, |u - v|, u * v] of the two
tower outputs (u, v), trained with binary cross-entropy on the 6,500 training pairs of the
canonical QQP split, started from a model folder (default: the bundled model). Two variants:

  frozen  the tower is kept as it is; only the head learns (the vectors are computed once).
  joint   the head and the tower learn together (the tower at a tenth of the head's rate), so the
          energy that encode/dedup use moves too.

With `--teacher DIR` (a sentence-transformers folder, e.g. build/teacher/bi-e2 from
scripts/train_teacher.py) the head also learns a transfer set (lever 2): the unlabelled pairs of
`--text-pairs`, each sentence of `--sentences` paired with its `--neighbours` nearest sentences by
teacher cosine, and the training pairs, all scored by the teacher; the head regresses the
teacher's logit (its cosine through a logistic fit on the training pairs) beside the binary
cross-entropy on the labelled training pairs. Teacher vectors are cached beside the sentences.

Each epoch is evaluated on the 1,500 validation pairs (ROC-AUC); the epoch with the best one is
kept, and then, as everywhere in this project: accuracy at the threshold that maximises accuracy
on validation, applied unchanged to the 2,000 test pairs. The energy of the starting model is the
first row. A table is printed (markdown) with the command that produced it.

    OMP_NUM_THREADS=1 python scripts/pair_head_experiment.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--model", type=Path, default=None, help="model folder (default: the bundled model)")
    ap.add_argument("--variants", nargs="+", default=["frozen", "joint"], choices=["frozen", "joint"])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--teacher", type=Path, default=None, help="sentence-transformers folder scoring a transfer set")
    ap.add_argument("--sentences", type=Path, default=Path("build/transfer/sentences.txt"))
    ap.add_argument("--text-pairs", type=Path, default=Path("build/transfer/pairs.tsv"))
    ap.add_argument("--neighbours", type=int, default=4)
    ap.add_argument("--transfer-weight", type=float, default=1.0)
    return ap.parse_args(argv)


def best_threshold_accuracy(valid_scores, valid_labels, test_scores, test_labels) -> tuple[float, float]:
    """Accuracy on valid at its best threshold, and on test at that same threshold."""
    order = np.sort(np.unique(valid_scores))
    cuts = np.concatenate([[order[0] - 1], (order[1:] + order[:-1]) / 2, [order[-1] + 1]])
    accs = [((valid_scores >= c) == valid_labels).mean() for c in cuts]
    cut = cuts[int(np.argmax(accs))]
    return float(max(accs)), float(((test_scores >= cut) == test_labels).mean())


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch
    from sklearn.metrics import roc_auc_score

    from siamese_text.corpora.labelled import PairSource
    from siamese_text.corpora.splits import SplitConfig, read_parts
    from siamese_text.model.siamese import SiameseModel
    from siamese_text.text.features import pad_batch

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    parts = read_parts(PairSource(args.data / "qqp" / "bimpm" / "dev.tsv", "qqp-bimpm"),
                       SplitConfig(valid_fraction=0.15, test_fraction=0.2, seed=0))
    base = SiameseModel.load(args.model)
    use_sub = bool(base.encoder_config.subword_buckets)
    labels = {name: np.array([p.label for p in getattr(parts, name)], dtype=np.float32)
              for name in ("train", "valid", "test")}
    rows = []

    def energy_row(model, name):
        scores = {k: -model.energies([p.a for p in getattr(parts, k)], [p.b for p in getattr(parts, k)])
                  for k in ("valid", "test")}
        va, ta = best_threshold_accuracy(scores["valid"], labels["valid"], scores["test"], labels["test"])
        return (name, va, roc_auc_score(labels["valid"], scores["valid"]), ta,
                roc_auc_score(labels["test"], scores["test"]))

    rows.append(energy_row(base, "starting model, energy"))
    transfer = build_transfer(args, parts, base) if args.teacher else None

    def head_module(dim):
        return torch.nn.Sequential(torch.nn.Linear(4 * dim, args.hidden), torch.nn.ReLU(),
                                   torch.nn.Dropout(0.1), torch.nn.Linear(args.hidden, 1))

    def pair_features(u, v):
        return torch.cat([u, v, (u - v).abs(), u * v], dim=1)

    for variant in args.variants:
        started = time.perf_counter()
        tower = base.with_backend("torch").encoder.module
        head = head_module(base.dim)
        feats = {k: (base.featurizer([p.a for p in getattr(parts, k)]), base.featurizer([p.b for p in getattr(parts, k)]))
                 for k in ("train", "valid", "test")}

        def vectors(fa, grad: bool):
            batch = {k: torch.from_numpy(v) for k, v in pad_batch(fa, use_sub).items()}
            if grad:
                return tower(**batch)
            with torch.no_grad():
                return tower(**batch)

        if variant == "frozen":
            tower.eval()
            frozen = {k: (torch.from_numpy(base.encode([p.a for p in getattr(parts, k)])),
                          torch.from_numpy(base.encode([p.b for p in getattr(parts, k)])))
                      for k in ("train", "valid", "test")}
            params = [{"params": head.parameters(), "lr": args.lr}]
        else:
            params = [{"params": head.parameters(), "lr": args.lr},
                      {"params": tower.parameters(), "lr": args.lr / 10}]
        optim = torch.optim.AdamW(params, weight_decay=0.01)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        rng = np.random.default_rng(args.seed)
        y = {k: torch.from_numpy(v) for k, v in labels.items()}

        def scores_of(split):
            head.eval()
            tower.eval()
            out = []
            n = len(labels[split])
            with torch.no_grad():
                for s in range(0, n, 256):
                    if variant == "frozen":
                        u, v = frozen[split][0][s:s + 256], frozen[split][1][s:s + 256]
                    else:
                        u = vectors(feats[split][0][s:s + 256], False)
                        v = vectors(feats[split][1][s:s + 256], False)
                    out.append(head(pair_features(u, v)).squeeze(1))
            return torch.cat(out).numpy()

        best = (-1.0, None, None)
        for epoch in range(1, args.epochs + 1):
            head.train()
            if variant == "joint":
                tower.train()
            order = rng.permutation(len(labels["train"]))
            for s in range(0, len(order), args.batch):
                idx = order[s:s + args.batch]
                if variant == "frozen":
                    u, v = frozen["train"][0][idx], frozen["train"][1][idx]
                else:
                    u = vectors([feats["train"][0][i] for i in idx], True)
                    v = vectors([feats["train"][1][i] for i in idx], True)
                logits = (head(pair_features(u, v)) + head(pair_features(v, u))).squeeze(1) / 2  # symmetric
                loss = loss_fn(logits, y["train"][idx])
                if transfer is not None:
                    tv, ti, tj, tz = transfer
                    pick = rng.integers(0, len(tz), size=args.batch * 4)
                    tu, tw = tv[ti[pick]], tv[tj[pick]]
                    t_logits = (head(pair_features(tu, tw)) + head(pair_features(tw, tu))).squeeze(1) / 2
                    loss = loss + args.transfer_weight * torch.nn.functional.mse_loss(t_logits, tz[pick])
                optim.zero_grad()
                loss.backward()
                optim.step()
            valid, test = scores_of("valid"), scores_of("test")
            auc = roc_auc_score(labels["valid"], valid)
            print(f"{variant} epoch {epoch}: valid ROC-AUC {auc:.4f}", file=sys.stderr, flush=True)
            if auc > best[0]:
                best = (auc, valid, test, epoch)
        auc, valid, test, epoch = best
        va, ta = best_threshold_accuracy(valid, labels["valid"], test, labels["test"])
        minutes = (time.perf_counter() - started) / 60
        rows.append((f"pair head{' + transfer set' if transfer is not None else ''}, tower {variant} (best epoch {epoch} of {args.epochs}, {minutes:.1f} min)",
                     va, auc, ta, roc_auc_score(labels["test"], test)))

    print(f"\n`{' '.join(['python', 'scripts/pair_head_experiment.py'] + [shlex.quote(a) for a in (argv or sys.argv[1:])])}`\n")
    print("| variant | valid acc | valid ROC-AUC | test acc | test ROC-AUC |")
    print("|---|---:|---:|---:|---:|")
    for name, va, vauc, ta, tauc in rows:
        print(f"| {name} | {va:.4f} | {vauc:.4f} | {ta:.4f} | {tauc:.4f} |")


def build_transfer(args, parts, base):
    """Teacher-scored pairs over the sentences: (student vectors (N, D) tensor, i, j, teacher logit)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    from siamese_text.corpora.pairs import iter_tsv_lines

    if args.variants != ["frozen"]:
        raise SystemExit("--teacher: only the frozen variant learns the transfer set")
    sentences = [line.rstrip("\n") for line in args.sentences.read_text(encoding="utf-8").splitlines() if line.strip()]
    train = parts.train
    texts = list(dict.fromkeys(sentences + [p.a for p in train] + [p.b for p in train]))
    at = {t: i for i, t in enumerate(texts)}
    cache = args.sentences.with_name(f"teacher-{args.teacher.name}-{len(texts)}.npy")
    if cache.exists():
        tv = np.load(cache)
    else:
        teacher = SentenceTransformer(str(args.teacher), device="cpu", local_files_only=True)
        tv = teacher.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False,
                            convert_to_numpy=True).astype(np.float32)
        np.save(cache, tv)
    pairs: set[tuple[int, int]] = set()
    for _, fields in iter_tsv_lines(args.text_pairs):
        if len(fields) >= 2 and fields[0] in at and fields[1] in at and fields[0] != fields[1]:
            pairs.add((min(at[fields[0]], at[fields[1]]), max(at[fields[0]], at[fields[1]])))
    ns = len(sentences)
    for start in range(0, ns, 2048):
        sims = tv[start:min(start + 2048, ns)] @ tv[:ns].T
        sims[np.arange(len(sims)), np.arange(len(sims)) + start] = -2
        top = np.argpartition(-sims, args.neighbours, axis=1)[:, :args.neighbours]
        for r, js in enumerate(top, start=start):
            pairs.update((min(r, int(j)), max(r, int(j))) for j in js)
    train_ij = [(at[p.a], at[p.b]) for p in train]
    pairs.update(train_ij)
    i, j = (np.array(c, dtype=np.int64) for c in zip(*sorted(pairs)))
    cos = (tv[i] * tv[j]).sum(1)
    train_cos = np.array([tv[a] @ tv[b] for a, b in train_ij])
    fit = LogisticRegression(C=100.0).fit(train_cos[:, None], [p.label for p in train])
    logit = fit.coef_[0, 0] * cos + fit.intercept_[0]
    print(f"transfer set: {len(i):,} pairs over {len(texts):,} texts; teacher logit = "
          f"{fit.coef_[0, 0]:.2f} * cos + {fit.intercept_[0]:.2f}", file=sys.stderr, flush=True)
    sv = torch.from_numpy(base.encode(texts))
    return sv, torch.from_numpy(i), torch.from_numpy(j), torch.from_numpy(logit.astype(np.float32))


if __name__ == "__main__":
    main()
