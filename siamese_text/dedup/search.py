"""Searching a text collection: `find_duplicates` (new texts against an existing set, in memory)
and TextIndex, a persistent index ("is my new question already asked?").

An index folder holds `index.json` (what was indexed, with which model), `texts.jsonl` (one
`[line, text]` per distinct text) and `vectors.faiss` (the faiss index). Texts that are equal after normalisation are
indexed once, under their first line; blank texts are skipped.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamese_text.dedup.stages import DedupConfig, ExactGroups, embed, is_blank, partition
from siamese_text.dedup.workers import threads
from siamese_text.model.siamese import SiameseModel
from siamese_text.errors import IndexFolderError, OutputError, SiameseTextError
from siamese_text.dedup.index import Scoring, VectorIndex
from siamese_text.model.energy import Energy
from siamese_text.model.crash_points import crash_point
from siamese_text.model.folder import remove_stale, swap_in

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
        meta["checksums"] = {TEXTS_FILE: _rows_digest(zip(kept_lines, kept_texts)),
                             FAISS_FILE: hashlib.sha256(_faiss_bytes(vindex.index)).hexdigest(),
                             "settings": _settings_digest(meta)}
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
        """Write the index folder atomically: filled under a temporary name beside `folder`, then
        swapped in (`model.folder.swap_in`), so a crash leaves the old index or the new one, whole.

        Temporary folders that a killed save left beside `folder` are removed (or, when the old
        index was left aside, put back) first.

        Raises:
            OutputError: `folder` exists (and is not an empty folder) without overwrite.
        """
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(folder)
        if folder.exists() and not (folder.is_dir() and (overwrite or not any(folder.iterdir()))):
            raise OutputError(f"{folder}: already exists (pass --overwrite to replace it)"
                              if folder.is_dir() else f"{folder}: exists and is not a folder")
        tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            with open(tmp / TEXTS_FILE, "w", encoding="utf-8", newline="\n") as fh:
                for line, text in zip(self.lines, self.texts):
                    fh.write(json.dumps([line, text], ensure_ascii=False) + "\n")
            crash_point("index.texts-written")
            self.vectors.save(tmp / FAISS_FILE)
            crash_point("index.vectors-written")
            (tmp / META_FILE).write_text(json.dumps(self.meta, indent=2) + "\n", encoding="utf-8")
            crash_point("index.meta-written")
            swap_in(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder

    @classmethod
    def load(cls, folder: str | Path, model=None, threshold: float | None = None,
             model_path: str | Path | None = None) -> "TextIndex":
        """Read an index folder; the model is the one it was built with unless given.

        Every file is checked (types, counts, the vectors' width, and the checksums index.json
        records) before it is used, so a damaged index is refused by name, never searched.

        Raises:
            SiameseTextError: a missing or damaged file, or a model other than the index's.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise IndexFolderError(f"{folder}: index folder not found")
        meta_file, texts_file, faiss_file = folder / META_FILE, folder / TEXTS_FILE, folder / FAISS_FILE
        try:
            meta = json.loads(meta_file.read_bytes().decode("utf-8"))
            if not isinstance(meta, dict):
                raise TypeError("expected a JSON object")
            energy, count = Energy(meta["energy"]), meta["count"]
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise TypeError(f"count must be a non-negative integer, got {count!r}")
            version = meta.get("format_version", FORMAT_VERSION)
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise TypeError(f"format_version must be a positive integer, got {version!r}")
            sums = meta.get("checksums", {})
            if not isinstance(sums, dict):
                raise TypeError("checksums must be an object")
        except FileNotFoundError:
            raise IndexFolderError(f"{folder}: not an index folder ({META_FILE} is missing)") from None
        except OSError as exc:
            raise IndexFolderError(f"{meta_file}: cannot be read ({exc.strerror or exc})") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexFolderError(f"{meta_file}: malformed ({_first_line(exc)})") from None
        if version > FORMAT_VERSION:
            raise IndexFolderError(f"{meta_file}: written by a newer siamese-text (format {version}); upgrade to "
                                   "load it")
        if "settings" in sums and sums["settings"] != _settings_digest(meta):
            raise IndexFolderError(f"{meta_file}: content differs from its checksum; the index is damaged or was "
                                   "edited (rebuild it with `siamese-text index`)")
        texts, lines = [], []
        try:
            with open(texts_file, "rb") as fh:
                for number, row in enumerate(fh, start=1):
                    line, text = json.loads(row.decode("utf-8"))
                    if not isinstance(line, int) or isinstance(line, bool) or not isinstance(text, str):
                        raise TypeError(f"line {number} is not [line number, text]")
                    lines.append(line)
                    texts.append(text)
        except OSError as exc:
            raise IndexFolderError(f"{texts_file}: missing or unreadable ({exc.strerror or exc})") from None
        except (ValueError, TypeError) as exc:
            raise IndexFolderError(f"{texts_file}: malformed ({_first_line(exc)})") from None
        if len(texts) != count:
            raise IndexFolderError(f"{texts_file}: damaged index ({len(texts)} texts, {META_FILE} says {count})")
        if TEXTS_FILE in sums and sums[TEXTS_FILE] != _rows_digest(zip(lines, texts)):
            raise IndexFolderError(f"{texts_file}: content differs from the checksum in {META_FILE}; the index "
                                   "is damaged (rebuild it with `siamese-text index`)")
        try:
            vector_bytes = faiss_file.read_bytes()
        except OSError as exc:
            raise IndexFolderError(f"{faiss_file}: missing or unreadable ({exc.strerror or exc})") from None
        if FAISS_FILE in sums and sums[FAISS_FILE] != hashlib.sha256(vector_bytes).hexdigest():
            raise IndexFolderError(f"{faiss_file}: content differs from the checksum in {META_FILE}; the index "
                                   "is damaged (rebuild it with `siamese-text index`)")
        vindex = _read_vectors(faiss_file, vector_bytes, energy)
        if len(vindex) != count:
            raise IndexFolderError(f"{faiss_file}: damaged index ({len(vindex)} vectors, {len(texts)} texts)")
        if model is None:
            named = model_path is None and meta.get("model") is not None
            model_path = model_path or meta.get("model")
            if model_path is not None and not isinstance(model_path, str | Path):
                raise IndexFolderError(f"{meta_file}: malformed (model must be a path, got {model_path!r})")
            try:
                model = SiameseModel.load(model_path)
            except SiameseTextError as exc:
                if not named:
                    raise
                raise IndexFolderError(f"{meta_file}: the model the index was built with cannot be loaded: {exc}") \
                    from None
        current = fingerprint(model)
        if meta.get("model_fingerprint") and current and current != meta["model_fingerprint"]:
            raise IndexFolderError(f"{meta_file}: built with a different model; rebuild the index with "
                                   f"`siamese-text index` or pass the model it was built with")
        dim = getattr(model, "dim", None)
        if count and dim is not None and vindex.index.d != dim:
            raise IndexFolderError(f"{faiss_file}: vectors of width {vindex.index.d}, but the model's are {dim}")
        if threshold is None and meta.get("score") == "cosine":  # a plain encoder: the threshold it was built with
            try:
                scoring = Scoring.for_encoder(model, meta.get("threshold"))
            except (SiameseTextError, TypeError, ValueError) as exc:
                raise IndexFolderError(f"{meta_file}: malformed ({_first_line(exc)})") from None
        else:
            scoring = Scoring.for_encoder(model, threshold)
        return cls(texts, lines, vindex, model, scoring, meta)


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), at most 160 characters."""
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]


def _settings_digest(meta: dict) -> str:
    """sha256 of index.json's settings: every key but the checksums and the model's path (which may move)."""
    body = {k: v for k, v in meta.items() if k not in ("checksums", "model")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("ascii")).hexdigest()


def _rows_digest(rows) -> str:
    """sha256 of the (line, text) rows of texts.jsonl, as canonical JSON (any text, lone surrogates too)."""
    h = hashlib.sha256()
    for line, text in rows:
        h.update(json.dumps([line, text]).encode("ascii") + b"\n")
    return h.hexdigest()


def _faiss_bytes(index) -> bytes:
    """What faiss.write_index writes for `index`."""
    import faiss

    return faiss.serialize_index(index).tobytes()


def _read_vectors(file: Path, data: bytes, energy: Energy) -> VectorIndex:
    """The VectorIndex held in `data` (the bytes of `file`), or a one-line error naming the file."""
    import faiss

    try:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except (RuntimeError, MemoryError, ValueError) as exc:
        raise IndexFolderError(f"{file}: unreadable vector index ({_first_line(exc)})") from None
    metric = faiss.METRIC_INNER_PRODUCT if energy is Energy.cosine else \
        faiss.METRIC_L2 if energy is Energy.euclidean else faiss.METRIC_L1
    if not isinstance(index, faiss.Index) or index.metric_type != metric:
        raise IndexFolderError(f"{file}: not a vector index for the {energy.value} energy of {META_FILE}")
    return VectorIndex(index, energy)
