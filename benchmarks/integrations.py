"""The integrations, measured: spaCy component throughput, and SiameseClassifier under cross-validation.

Table 1: texts per second to embed questions of the QQP test split (canonical split) with the
bundled model called directly, and through a spaCy pipeline (blank English + our component) at
two `nlp.pipe` batch sizes.
Table 2: 3-fold cross-validation (scikit-learn's `cross_validate`) of `SiameseClassifier`
against a lexical baseline (TF-IDF cosine + word overlap -> LogisticRegression, in a
`Pipeline`) on the first N pairs of the QQP training part; then both are refitted on those N
pairs and scored on the held-out QQP test split.

    python benchmarks/integrations.py [--texts 2000] [--pairs 2000] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import spacy
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_validate
from sklearn.pipeline import Pipeline

from bundled_model import DEFAULT_DATA, canonical_qqp_split  # this folder is on sys.path
from siamese_text.integrations.sklearn_estimator import SiameseClassifier
from siamese_text.model.siamese import SiameseModel
from siamese_text.text.tokenizer import normalize


class LexicalFeatures(TransformerMixin, BaseEstimator):
    """Pairs (n, 2) -> (n, 3): TF-IDF cosine, word Jaccard overlap, length difference in words.

    The TF-IDF vocabulary and weights are fitted on the training pairs' texts only.
    """

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=object)
        self.tfidf_ = TfidfVectorizer(preprocessor=normalize).fit(list(X[:, 0]) + list(X[:, 1]))
        return self

    def transform(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=object)
        a, b = self.tfidf_.transform(X[:, 0]), self.tfidf_.transform(X[:, 1])
        cosine = np.asarray(a.multiply(b).sum(axis=1)).ravel()  # rows are L2-normalised
        rows = []
        for (s, t), c in zip(X, cosine):
            ws, wt = set(normalize(s).split()), set(normalize(t).split())
            rows.append((c, len(ws & wt) / max(len(ws | wt), 1), abs(len(ws) - len(wt))))
        return np.array(rows)


def spacy_table(model_dir: Path | None, texts: list[str]) -> None:
    model = SiameseModel.load(model_dir)
    nlp = spacy.blank("en")
    nlp.add_pipe("siamese_similarity", config={"model": str(model_dir) if model_dir else None})
    nlp.initialize()
    model.encode(texts[:64]), list(nlp.pipe(texts[:64]))  # warm up: spaCy tokenizer, torch kernels
    print(f"{'how':<42}{'texts':>7}{'seconds':>9}{'texts/s':>9}")
    runs = [("SiameseModel.encode (batch 256)", lambda: model.encode(texts))]
    for size in (1, 64):
        runs.append((f"spaCy nlp.pipe(batch_size={size})", lambda size=size: list(nlp.pipe(texts, batch_size=size))))
    for name, run in runs:
        started = time.perf_counter()
        run()
        took = time.perf_counter() - started
        print(f"{name:<42}{len(texts):>7}{took:>9.2f}{len(texts) / took:>9.0f}")


def classifier_table(train, test, n_pairs: int, folds: int) -> None:
    pairs = train[:n_pairs]
    X = np.array([(p.a, p.b) for p in pairs], dtype=object)
    y = np.array([p.label for p in pairs])
    X_test = np.array([(p.a, p.b) for p in test], dtype=object)
    y_test = np.array([p.label for p in test])
    candidates = [("SiameseClassifier()", SiameseClassifier()),
                  ("TF-IDF + overlap -> LogisticRegression",
                   Pipeline([("features", LexicalFeatures()), ("logreg", LogisticRegression())]))]
    print(f"{'estimator':<40}{'pairs':>7}{'CV ROC-AUC':>17}{'CV accuracy':>17}{'s/fit':>8}"
          f"{'test ROC-AUC':>14}{'test acc':>10}")
    for name, estimator in candidates:
        cv = cross_validate(estimator, X, y, cv=folds, scoring=["roc_auc", "accuracy"])
        fitted = estimator.fit(X, y)
        p = fitted.predict_proba(X_test)[:, 1]
        test_acc = float((fitted.predict(X_test) == y_test).mean())
        auc, acc = cv["test_roc_auc"], cv["test_accuracy"]
        print(f"{name:<40}{len(pairs):>7}{auc.mean():>10.3f} ± {auc.std():.3f}{acc.mean():>10.3f} ± {acc.std():.3f}"
              f"{cv['fit_time'].mean():>8.1f}{roc_auc_score(y_test, p):>14.3f}{test_acc:>10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder for table 1 (default: bundled)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, _, test = canonical_qqp_split(args.data)
    texts = list(dict.fromkeys(t for p in test for t in (p.a, p.b)))[: args.texts]
    print(f"torch threads: {args.threads}\n")
    spacy_table(args.model, texts)
    print()
    classifier_table(train, test, args.pairs, args.folds)


if __name__ == "__main__":
    main()
