"""Searching a text collection: `find_duplicates` (new texts against an existing set, in memory)
and TextIndex, a persistent index ("is my new question already asked?").

An index folder holds `index.json` (what was indexed, with which model), `texts.jsonl` (one
`[line, text]` per distinct text) and `vectors.faiss` (the faiss index). Texts that are equal after normalisation are
indexed once, under their first line; blank texts are skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamese_text.dedup.stages import DedupConfig, ExactGroups, embed, is_blank, partition
from siamese_text.dedup.workers import threads
from siamese_text.model.siamese import SiameseModel
from siamese_text.errors import SiameseTextError
from siamese_text.dedup.index import Scoring, VectorIndex

FORMAT_VERSION = 1
META_FILE, TEXTS_FILE, FAISS_FILE = "index.json", "texts.jsonl", "vectors.faiss"


@dataclass(frozen=True)
class Hit:
    """One search result."""

    line: int  # 1-based line of the indexed file (position + 1 when built from a list)
    text: str
    score: float  # probability of being a duplicate (cosine similarity for a plain encoder)
    duplicate: bool  # score reaches the threshold


@dataclass(frozen=True)
class Match:
    """A query text that duplicates a corpus text."""

    query: int
    corpus: int  # the best-scoring corpus text (for an exact match: its first copy)
    score: float  # 1.0 for an exact match
    exact: bool


def find_duplicates(query_texts: Sequence[str], corpus_texts: Sequence[str], model=None,
                    threshold: float | None = None, config: DedupConfig | None = None) -> list[Match | None]:
    """For each query, the corpus text it duplicates, or None (incremental dedup of new texts
    against an existing set). Queries are not compared with each other: run `dedup` for that.

    Returns:
        One entry per query, in order; blank queries give None.
    """
    encoder = model if model is not None else SiameseModel.load()
    scoring = Scoring.for_encoder(encoder, threshold)
    config = config or DedupConfig()
    groups = ExactGroups()
    for text in corpus_texts:
        groups.add(text)
    first = list(groups.first)
    out: list[Match | None] = [None] * len(query_texts)
    todo = []
    for qi, text in enumerate(query_texts):
        if is_blank(text):
            continue
        uid = groups.find(text)
        if uid is not None:
            out[qi] = Match(qi, first[uid], 1.0, True)
        else:
            todo.append(qi)
    if todo and first:
        index = partition(embed([corpus_texts[i] for i in first], encoder, scoring, config), scoring, config)
        queries = embed([query_texts[i] for i in todo], encoder, scoring, config)
        energies, ids = index.search(queries, 1)  # (Q, 1)
        with np.errstate(over="ignore"):
            scores = np.asarray(scoring.to_score(energies[:, 0]), dtype=np.float64)
        for qi, uid, score in zip(todo, ids[:, 0].tolist(), scores.tolist()):
            if uid >= 0 and score >= scoring.threshold:
                out[qi] = Match(qi, first[uid], score, False)
    return out


def fingerprint(model) -> str | None:
    """Digest of a SiameseModel's weights and energy, so a search can tell a different model."""
    if not isinstance(model, SiameseModel) or model.backend == "int8":
        return None
    h = hashlib.blake2b(digest_size=16)
    for name, array in sorted(model.weights.items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    h.update(str(getattr(model, "energy", "")).encode())
    return h.hexdigest()


class TextIndex:
    """Texts, their line numbers and a VectorIndex of their embeddings, with the model's Scoring.

    Build with `TextIndex.build`, write with `save`, read back with `TextIndex.load`.
    """

    def __init__(self, texts: list[str], lines: list[int], vectors: VectorIndex, model, scoring: Scoring,
                 meta: dict) -> None:
        self.texts, self.lines, self.vectors = texts, lines, vectors
        self.model, self.scoring, self.meta = model, scoring, meta

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def build(cls, texts: Sequence[str], model=None, threshold: float | None = None,
              lines: Sequence[int] | None = None, config: DedupConfig | None = None,
              progress: bool = False, model_path: str | Path | None = None) -> "TextIndex":
        """Index the distinct non-blank texts (`lines[i]` numbers texts[i]; default i + 1)."""
        model = model if model is not None else SiameseModel.load(model_path)
        scoring = Scoring.for_encoder(model, threshold)
        groups = ExactGroups()
        keep = [i for i, t in enumerate(texts) if groups.add(t)]
        kept_texts = [texts[i] for i in keep]
        kept_lines = [int(lines[i]) if lines is not None else i + 1 for i in keep]
        with threads((config or DedupConfig()).threads):
            vecs = embed(kept_texts, model, scoring, config, progress)
            vindex = partition(vecs, scoring, config)
        meta = {"format_version": FORMAT_VERSION, "count": len(kept_texts), "dim": int(vecs.shape[1]),
                "energy": scoring.energy.value, "score": scoring.kind, "threshold": scoring.threshold,
                "exact": vindex.exact, "model": str(Path(model_path).resolve()) if model_path else None,
                "model_fingerprint": fingerprint(model)}
        return cls(kept_texts, kept_lines, vindex, model, scoring, meta)

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The k indexed texts nearest to `query`, best first."""
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int = 5) -> list[list[Hit]]:
        """`search` for each query, embedding them together."""
        if isinstance(queries, str):
            raise TypeError("search_many takes a list of queries")
        if not len(self) or not queries:
            return [[] for _ in queries]
        q = embed(list(queries), self.model, self.scoring)
        energies, ids = self.vectors.search(q, k)  # (Q, k)
        with np.errstate(over="ignore"):
            scores = np.asarray(self.scoring.to_score(energies), dtype=np.float64)
        return [[Hit(self.lines[j], self.texts[j], float(s), bool(s >= self.scoring.threshold))
                 for j, s in zip(row_ids.tolist(), row_scores.tolist()) if j >= 0]
                for row_ids, row_scores in zip(ids, scores)]

    def save(self, folder: str | Path, overwrite: bool = False) -> Path:
        """Write the index folder atomically (built aside, then renamed into place)."""
        folder = Path(folder)
        if folder.exists() and not (folder.is_dir() and (overwrite or not any(folder.iterdir()))):
            raise SiameseTextError(f"{folder}: already exists (pass --overwrite to replace it)"
                                   if folder.is_dir() else f"{folder}: exists and is not a folder")
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            with open(tmp / TEXTS_FILE, "w", encoding="utf-8", newline="\n") as fh:
                for line, text in zip(self.lines, self.texts):
                    fh.write(json.dumps([line, text], ensure_ascii=False) + "\n")
            self.vectors.save(tmp / FAISS_FILE)
            (tmp / META_FILE).write_text(json.dumps(self.meta, indent=2) + "\n", encoding="utf-8")
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return folder

    @classmethod
    def load(cls, folder: str | Path, model=None, threshold: float | None = None,
             model_path: str | Path | None = None) -> "TextIndex":
        """Read an index folder; the model is the one it was built with unless given.

        Raises:
            SiameseTextError: a missing or damaged file, or a model other than the index's.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise SiameseTextError(f"{folder}: index folder not found")
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            energy, count = meta["energy"], int(meta["count"])
        except FileNotFoundError:
            raise SiameseTextError(f"{folder}: not an index folder ({META_FILE} is missing)") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise SiameseTextError(f"{folder / META_FILE}: malformed ({exc})") from None
        if model is None:
            model_path = model_path or meta.get("model")
            model = SiameseModel.load(model_path)
        current = fingerprint(model)
        if meta.get("model_fingerprint") and current and current != meta["model_fingerprint"]:
            raise SiameseTextError(f"{folder}: built with a different model; rebuild it with "
                                   f"`siamese-text index` or pass the model it was built with")
        if threshold is None and meta.get("score") == "cosine":
            threshold = meta.get("threshold")
        scoring = Scoring.for_encoder(model, threshold)
        vindex = VectorIndex.load(folder / FAISS_FILE, energy)
        texts, lines = [], []
        try:
            with open(folder / TEXTS_FILE, encoding="utf-8") as fh:
                for row in fh:
                    line, text = json.loads(row)
                    lines.append(int(line))
                    texts.append(text)
        except (FileNotFoundError, ValueError, TypeError) as exc:
            raise SiameseTextError(f"{folder / TEXTS_FILE}: missing or malformed ({exc})") from None
        if len(texts) != count or len(vindex) != count:
            raise SiameseTextError(f"{folder}: damaged index ({len(texts)} texts, {len(vindex)} vectors, "
                                   f"{count} expected)")
        return cls(texts, lines, vindex, model, scoring, meta)
