"""Near-duplicate removal over many texts, in stages a distributed engine can re-run one by one:

    ExactGroups (normalised hash) -> embed (unique texts only) -> partition (vector index)
    -> candidate_pairs (neighbour search within partitions) -> keep_first -> resolve

(`search_and_resolve` alternates candidate_pairs and keep_first for the rare texts that need more
neighbours.) Which engine runs the middle stages, and where, is engine.py's business.

Keep-first, no chaining: texts are taken in order, and a text is removed only when it is a
duplicate of an earlier text that is KEPT; its `duplicate_of` always points at a kept text. So
if A ~ B and B ~ C but not A ~ C, A and C are kept and B removed. Blank texts (empty or white
space only) are always kept and never compared.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from siamese_text.dedup.index import IndexConfig, Scoring, VectorIndex
from siamese_text.text.tokenizer import normalize
from siamese_text.dedup.workers import available_cpus, encode_chunks
from siamese_text.model.siamese import SiameseModel


@dataclass(frozen=True)
class DedupConfig:
    """How hard to look for neighbours."""

    k: int = 16  # neighbours fetched per text; raised (x4) for texts whose k neighbours all match
    max_k: int = 256
    batch_size: int = 256  # texts per encoder forward pass
    chunk_size: int = 8192  # texts per encode call (bounds the tokenizer's memory)
    search_chunk: int = 4096  # queries per index search call
    threads: int = 1  # BLAS and faiss threads while deduplicating (0 leaves them as they are); one is
    # often fastest on a busy machine
    workers: int = 0  # processes that encode at once, one thread each (0 = the CPUs this process may use)
    min_parallel: int = 5000  # fewer distinct texts than this are encoded in-process
    index: IndexConfig = field(default_factory=IndexConfig)


@dataclass(frozen=True)
class Removed:
    """One removed text: its position, the kept text it duplicates, the score, exact or not."""

    index: int
    duplicate_of: int  # always an earlier, kept text
    score: float  # probability (or cosine for a plain encoder); 1.0 for an exact duplicate
    exact: bool  # same text after normalisation (NFKC, lower case, white space collapsed)


@dataclass(frozen=True)
class DedupResult:
    """Outcome of `dedup`, one entry per input text.

    Attributes:
        duplicate_of: (N,) int64, the kept text each removed text duplicates; -1 = kept.
        scores: (N,) float64, score against that kept text (0 for kept texts).
        exact: (N,) bool, removed as an exact (normalised) duplicate.
        threshold: the score at or above which two texts were called duplicates.
    """

    duplicate_of: np.ndarray
    scores: np.ndarray
    exact: np.ndarray
    threshold: float

    @property
    def kept(self) -> list[int]:
        """Positions of the kept texts, in order."""
        return np.flatnonzero(self.duplicate_of < 0).tolist()

    @property
    def removed(self) -> list[Removed]:
        """The removed texts, in order, each with its kept twin."""
        return [Removed(int(i), int(self.duplicate_of[i]), float(self.scores[i]), bool(self.exact[i]))
                for i in np.flatnonzero(self.duplicate_of >= 0)]

    @property
    def n_exact(self) -> int:
        return int(self.exact.sum())

    @property
    def n_near(self) -> int:
        return int((self.duplicate_of >= 0).sum()) - self.n_exact


def is_blank(text: str) -> bool:
    """Blank texts (empty or white space only) are kept and never deduplicated."""
    return not text.strip()


class ExactGroups:
    """Stage 1: records with the same normalised text share a unique id (streaming).

    Attributes (after the last `add`):
        unique_of: record -> unique id (-1 for a blank record).
        first: unique id -> the record where that text first appears.
    """

    def __init__(self) -> None:
        self._ids: dict[bytes, int] = {}
        self.unique_of = array("q")
        self.first = array("q")

    def find(self, text: str) -> int | None:
        """Unique id of a text seen before, else None."""
        return self._ids.get(_key(text))

    def add(self, text: str) -> bool:
        """Register the next record; True when it is the first of a new unique text."""
        if is_blank(text):
            self.unique_of.append(-1)
            return False
        uid = self._ids.setdefault(_key(text), len(self._ids))
        self.unique_of.append(uid)
        if uid == len(self.first):
            self.first.append(len(self.unique_of) - 1)
            return True
        return False


def _key(text: str) -> bytes:
    """128-bit hash of the normalised text (NFKC, lower case, white space collapsed)."""
    return hashlib.blake2b(normalize(text).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def embed(texts: Sequence[str], encoder, scoring: Scoring, config: DedupConfig | None = None,
          progress: bool = False) -> np.ndarray:
    """Stage 2: prepared embeddings of the (unique) texts, in chunks of similar length. -> (U, D)"""
    config = config or DedupConfig()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    workers, size = embedding_plan(len(texts), config)
    pieces = [order[s : s + size] for s in range(0, len(order), size)]
    chunks = ([texts[i] for i in idx] for idx in pieces)
    out: np.ndarray | None = None
    with _bar(len(texts), "embedding", progress) as bar:
        for idx, vecs in zip(pieces, encode_chunks(encoder, chunks, config.batch_size, workers)):
            vecs = scoring.prepare(vecs)
            if out is None:
                out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
            bar.update(len(idx))
    return out if out is not None else np.zeros((0, 1), dtype=np.float32)


def embedding_plan(n: int, config: DedupConfig) -> tuple[int, int]:
    """(worker processes, texts per chunk) for embedding n distinct texts: one process below
    `config.min_parallel` texts, and then chunks of `config.chunk_size`; with several, smaller
    chunks (about 8 a worker, at least 256) that balance them. The Ray engine cuts its chunks by
    the same rule, so that each text is encoded in the same company and gets the same vector."""
    workers = available_cpus(config.workers) if n >= config.min_parallel else 1
    return workers, config.chunk_size if workers <= 1 else min(config.chunk_size, max(256, -(-n // (8 * workers))))


def partition(vectors: np.ndarray, scoring: Scoring, config: DedupConfig | None = None,
              exact: bool | None = None) -> VectorIndex:
    """Stage 3: index the vectors; beyond `exact_limit` they are split into IVF cells."""
    return VectorIndex.build(vectors, scoring.energy, (config or DedupConfig()).index, exact)


def candidate_pairs(index: VectorIndex, vectors: np.ndarray, scoring: Scoring, rows: np.ndarray, k: int,
                    config: DedupConfig | None = None, progress: bool = False):
    """Stage 4: the neighbours of texts `rows` (among their k nearest) whose score reaches the
    threshold. Both directions of a pair count: a found pair is returned as (later, earlier).

    Returns:
        (later (E,), earlier (E,) int64, score (E,) float64), and saturated (len(rows),) bool:
        all k neighbours matched, so more matches may lie beyond them.
    """
    config = config or DedupConfig()
    n = len(vectors)
    want = min(k + 1, n)  # + 1: a text finds itself
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    saturated = np.zeros(len(rows), dtype=bool)
    with _bar(len(rows), f"searching (k={k})", progress) as bar:
        for start in range(0, len(rows), config.search_chunk):
            q = rows[start : start + config.search_chunk]
            energies, ids = index.search(vectors[q], want)  # (C, want)
            with np.errstate(over="ignore"):
                scores = np.asarray(scoring.to_score(energies), dtype=np.float64)  # (C, want)
            hit = (ids >= 0) & (ids != q[:, None]) & (scores >= scoring.threshold)
            r, c = np.nonzero(hit)
            a, b = q[r], ids[r, c]
            found.append((np.maximum(a, b), np.minimum(a, b), scores[r, c]))
            saturated[start : start + len(q)] = (hit.sum(1) >= want - 1) & (want < n)
            bar.update(len(q))
    return _merge(found, n), saturated


def _merge(found, n: int):
    """Concatenate edge lists, drop repeated pairs, sort by (later, earlier)."""
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    later, earlier, score = (np.concatenate(x) for x in zip(*found))
    _, first = np.unique(later * n + earlier, return_index=True)
    return later[first], earlier[first], score[first]


def search_and_resolve(index: VectorIndex, vectors: np.ndarray, scoring: Scoring,
                       config: DedupConfig | None = None, progress: bool = False):
    """Stages 4 and 5: candidate pairs of every text, then keep-first. A text that is kept although
    all its k neighbours matched may have a kept match further out: it asks again with 4k
    neighbours (up to max_k), and keep-first runs again, until no such text is left.

    Returns:
        dup_of (n,), best (n,) as `keep_first`.
    """
    config = config or DedupConfig()
    n = len(vectors)
    k = np.full(n, config.k)  # neighbours each text asked for
    saturated = np.zeros(n, dtype=bool)
    edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    dup_of, best = np.full(n, -1, dtype=np.int64), np.zeros(n)
    rows = np.arange(n) if n > 1 else np.zeros(0, dtype=np.int64)
    while len(rows):
        for ask in np.unique(k[rows]).tolist():
            these = rows[k[rows] == ask]
            found, saturated[these] = candidate_pairs(index, vectors, scoring, these, ask, config, progress)
            edges.append(found)
        dup_of, best = keep_first(n, *_merge(edges, n))
        rows = np.flatnonzero(saturated & (dup_of < 0) & (k < config.max_k))
        k[rows] = np.minimum(4 * k[rows], config.max_k)
    return dup_of, best


def keep_first(n: int, later: np.ndarray, earlier: np.ndarray, score: np.ndarray):
    """Stage 5: walk texts in order; drop a text that matches an earlier KEPT text (no chaining).

    Returns:
        dup_of (n,) int64 (-1 = kept) and best (n,) float64, the score against that kept text
        (the highest-scoring kept match; ties go to the earliest).
    """
    dup_of = np.full(n, -1, dtype=np.int64)
    best = np.zeros(n, dtype=np.float64)
    if len(later) == 0:
        return dup_of, best
    starts = np.concatenate([[0], np.flatnonzero(np.diff(later)) + 1, [len(later)]])
    for s, e in zip(starts[:-1].tolist(), starts[1:].tolist()):
        cand = earlier[s:e]
        live = dup_of[cand] < 0  # candidates that were kept (all are earlier, so decided)
        if live.any():
            j = int(np.argmax(np.where(live, score[s:e], -np.inf)))
            dup_of[later[s]], best[later[s]] = cand[j], score[s + j]
    return dup_of, best


def resolve(groups: ExactGroups, dup_of: np.ndarray, best: np.ndarray, threshold: float) -> DedupResult:
    """Stage 6: from unique texts back to records (exact repeats follow their first copy)."""
    uid = np.frombuffer(groups.unique_of, dtype=np.int64) if len(groups.unique_of) else np.zeros(0, np.int64)
    first = np.frombuffer(groups.first, dtype=np.int64) if len(groups.first) else np.zeros(0, np.int64)
    n = len(uid)
    out_dup = np.full(n, -1, dtype=np.int64)
    out_score = np.zeros(n, dtype=np.float64)
    exact = np.zeros(n, dtype=bool)
    real = np.flatnonzero(uid >= 0)
    u = uid[real]
    near = dup_of[u] >= 0  # the text's first copy is itself a near duplicate of a kept text
    out_dup[real[near]] = first[dup_of[u[near]]]
    out_score[real[near]] = best[u[near]]
    repeat = ~near & (first[u] != real)  # a later copy of a kept text
    out_dup[real[repeat]] = first[u[repeat]]
    out_score[real[repeat]] = 1.0
    exact[real[repeat]] = True
    return DedupResult(out_dup, out_score, exact, threshold)


def dedup(texts: Sequence[str], model=None, threshold: float | None = None,
          config: DedupConfig | None = None, progress: bool = False, engine="local") -> DedupResult:
    """Remove exact and near duplicates, keeping the first text of each group.

    Args:
        texts: the texts, in the order that decides which one is kept.
        model: a SiameseModel (default: the bundled one) or any object with
            `encode(list[str]) -> (N, D) ndarray` (then `threshold` is a cosine similarity).
        threshold: a probability (default: the model's own threshold).
        engine: who runs the near-duplicate stages: "local" (this machine), or an Engine
            (see engine.py).
    Returns:
        A DedupResult: kept positions, and each removed text with its kept twin and score.
    """
    if isinstance(texts, str):
        raise TypeError("dedup takes a list of texts")
    from siamese_text.dedup.engine import get_engine

    encoder = model if model is not None else SiameseModel.load()
    scoring = Scoring.for_encoder(encoder, threshold)
    groups = ExactGroups()
    for text in texts:
        groups.add(text)
    unique = [texts[i] for i in groups.first]
    dup_of, best = get_engine(engine).near_duplicates(unique, encoder, scoring, config or DedupConfig(), progress)
    return resolve(groups, dup_of, best, scoring.threshold)


def _bar(total: int, description: str, enabled: bool):
    """A tqdm bar on stderr when enabled, a silent one otherwise (the library never prints)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="text", leave=False, disable=not enabled)
