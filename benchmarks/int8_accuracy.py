"""What int8 costs in accuracy: the bundled model's int8 networks vs float32, task by task.

    python benchmarks/int8_accuracy.py [--model DIR] [--data ../shared/data] [--tasks qqp,mrpc,stsb]

Variants of one model: float32 on the NumPy path (the reference), float32 in ONNX Runtime (the
default backend), ONNX Runtime int8 (the folder's encoder.int8.onnx: `quantize_dynamic`, the LSTM
as DynamicQuantizeLSTM) and, with torch installed, torch float32 and torch int8 (dynamic
quantization of the LSTM and Linear layers). Every variant is scored exactly as
benchmarks/accuracy.py scores the model (its tasks and its `scores`): on a binary task the
threshold of each variant is fitted on a split other than the reported one (QQP valid of the
canonical split, MRPC train), then accuracy, F1 and ROC-AUC on the test split; STS-B test gives
Pearson and Spearman. The last table is the change in points (x100) of each int8 variant against
its float32 twin; int8 would become the default only if no change were worse than -0.3.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import DATA, machine, scores, tasks  # noqa: E402

METRICS = {False: ("accuracy", "f1", "roc_auc"), True: ("pearson", "spearman")}
PAIRS = (("onnx int8", "onnx float32"), ("torch int8", "torch float32"))  # (int8, its float twin)


class Variant:
    """One backend of the model as a method of accuracy.py: (task, texts_a, texts_b) -> similarities."""

    def __init__(self, name: str, model) -> None:
        from siamese_text.model.energy import similarity_from_energy

        self.name, self.model, self._sim = name, model, similarity_from_energy

    def __call__(self, task, a, b):
        return np.asarray(self._sim(self.model.energies(a, b), self.model.energy), dtype=np.float64)


def variants(model_dir: Path | None, threads: int) -> list[Variant]:
    from siamese_text.extras import MissingExtra
    from siamese_text.model.folder import DEFAULT_MODEL_DIR
    from siamese_text.model.siamese import SiameseModel

    source = model_dir or DEFAULT_MODEL_DIR
    out = [Variant("numpy float32", SiameseModel.load(source, backend="numpy", threads=threads)),
           Variant("onnx float32", SiameseModel.load(source, backend="onnx", threads=threads)),
           Variant("onnx int8", SiameseModel.load(source, backend="onnx", int8=True, threads=threads))]
    for v in out[1:]:
        assert v.model.backend == {"onnx float32": "onnx", "onnx int8": "onnx-int8"}[v.name], v.model.backend_reason()
    try:
        out += [Variant("torch float32", SiameseModel.load(source, backend="torch", threads=threads)),
                Variant("torch int8", SiameseModel.load(source, backend="torch", int8=True, threads=threads))]
    except MissingExtra as exc:
        print(f"(torch rows skipped: {exc})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the bundled one)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--tasks", default="qqp,mrpc,stsb", help="any of accuracy.py's: qqp,mrpc,paws,sick-e,"
                        "sick-r,stsb")
    parser.add_argument("--threads", type=int, default=1, help="threads of every variant")
    args = parser.parse_args()

    models = variants(args.model, args.threads)
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}; model {args.model or 'bundled'}\n")
    names = [m.name for m in models]
    print("| task | metric | " + " | ".join(names) + " |\n|---|---|" + "---|" * len(names))
    results = {}
    for task in tasks(args.data, set(args.tasks.split(","))):
        rows = {m.name: scores(m, task) for m in models}
        for metric in METRICS[task.graded]:
            results[(task.name, metric)] = {name: rows[name][metric] for name in names}
            print(f"| {task.name} ({rows[names[0]]['n']:,} pairs) | {metric} | "
                  + " | ".join(f"{rows[name][metric]:.4f}" for name in names) + " |", flush=True)

    pairs = [(q, f) for q, f in PAIRS if q in names]
    print("\nchange of int8 against its float32 twin, in points (x100; negative = worse)\n"
          "| task | metric | " + " | ".join(q for q, _ in pairs) + " |\n|---|---|" + "---|" * len(pairs))
    worst = {q: 0.0 for q, _ in pairs}
    for (task, metric), values in results.items():
        changes = [100 * (values[q] - values[f]) for q, f in pairs]
        for (q, _), change in zip(pairs, changes):
            worst[q] = min(worst[q], change)
        print(f"| {task} | {metric} | " + " | ".join(f"{c:+.2f}" for c in changes) + " |")
    for q, change in worst.items():
        verdict = "under" if change > -0.3 else "NOT under"
        print(f"{q}: worst change {change:+.2f} points, {verdict} the 0.3-point bar")


if __name__ == "__main__":
    main()
