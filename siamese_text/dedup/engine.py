"""Where an engine plugs in: who runs the near-duplicate stages, on this machine or a cluster.

`dedup` (texts in memory) and `dedup_files` (records in files) both do

    read -> ExactGroups -> [engine: embed -> partition -> candidate pairs -> keep-first] -> resolve -> write

and hand the bracketed part to an Engine: given the distinct texts in record order, it returns
for each the earlier kept text it duplicates (or -1) and the score. The local engine runs the
stages of stages.py in this process, with encoding spread over worker processes (workers.py). An
engine for a cluster implements the same method: RayEngine (ray_engine.py, the `[ray]` extra) runs
the stages as Ray Data operations. To add one, write a class here (or in its own module beside this
one) and register it in ENGINES (a function returning the class when its module needs an extra,
so that naming the engines imports nothing). It must give the local engine's answer: keep-first
in record order, no chaining (stages.keep_first).

An engine may also take over the whole of a file run, reading and writing included, with a
method `dedup_shards` (RayEngine has one: the records never pass through the driver); dedup_files
then hands it the planned sources and outputs and only renames the finished files into place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from siamese_text.dedup.index import Scoring
from siamese_text.dedup.stages import DedupConfig, embed, partition, search_and_resolve
from siamese_text.dedup.workers import threads
from siamese_text.errors import ArgumentError
from siamese_text.extras import require


class Engine(Protocol):
    """Runs stages 2-5 of deduplication on distinct texts."""

    name: str

    def near_duplicates(self, texts: Sequence[str], encoder, scoring: Scoring, config: DedupConfig,
                        progress: bool = False, on_stage: Callable[[str], None] | None = None,
                        exact_search: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """dup_of (U,) int64 (-1 = kept) and best (U,) float64 score, as `stages.keep_first`.

        on_stage(name) is called as each stage ends ("embed", "index", "search"), for timings;
        an engine may report one of its own first ("start": RayEngine connecting to its cluster).
        """
        ...


class LocalEngine:
    """This machine: one process, with `config.workers` encoding processes."""

    name = "local"

    def near_duplicates(self, texts: Sequence[str], encoder, scoring: Scoring, config: DedupConfig,
                        progress: bool = False, on_stage: Callable[[str], None] | None = None,
                        exact_search: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        stage = on_stage or (lambda name: None)
        with threads(config.threads):
            vectors = embed(texts, encoder, scoring, config, progress)
            stage("embed")
            index = partition(vectors, scoring, config, exact_search)
            stage("index")
            result = search_and_resolve(index, vectors, scoring, config, progress)
            stage("search")
            return result


def _ray_engine() -> type:
    """RayEngine, imported only when asked for (ray is an extra; the light core never loads it)."""
    require("ray", "ray")  # MissingExtra: "the Ray engine needs Ray: pip install 'siamese-text[ray]'"
    from siamese_text.dedup.ray_engine import RayEngine

    return RayEngine


# name -> the Engine class, or a function returning it for an engine whose module needs an extra
ENGINES: dict[str, Callable[[], type] | type] = {"local": LocalEngine, "ray": _ray_engine}


def get_engine(engine: str | Engine = "local", **options) -> Engine:
    """An Engine by name ("local", "ray"), built with `options` (e.g. address="HEAD:6379" for
    "ray"), or `engine` itself when it already is one."""
    if not isinstance(engine, str):
        if options:
            raise ArgumentError("engine options go with an engine name, not with an Engine object")
        return engine
    if engine not in ENGINES:
        raise ArgumentError(f"unknown dedup engine {engine!r}; choose one of {', '.join(ENGINES)}")
    factory = ENGINES[engine]
    cls = factory if isinstance(factory, type) else factory()
    try:
        return cls(**options)
    except TypeError as exc:
        raise ArgumentError(f"dedup engine {engine!r}: {exc}") from None
