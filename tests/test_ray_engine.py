"""The Ray engine gives the local engine's answer: on one local Ray instance (2 CPUs, shared by the
session), on a two-node cluster (in a subprocess: a process holds one Ray connection), and with an
embedding actor killed in the middle of a run.

Encoders defined here reach Ray's workers by import: the session's instance and the cluster put
this folder on their workers' PYTHONPATH.
"""

from __future__ import annotations

import json
import re
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from siamese_text.dedup.engine import ENGINES, LocalEngine, get_engine  # noqa: E402
from siamese_text.dedup.files import dedup_files  # noqa: E402
from siamese_text.dedup.index import IndexConfig, Scoring  # noqa: E402
from siamese_text.dedup.ray_engine import RayEngine, embed_with_ray  # noqa: E402
from siamese_text.dedup.stages import DedupConfig  # noqa: E402
from siamese_text.errors import ArgumentError, InputFileError, OutputError  # noqa: E402
from siamese_text.extras import MissingExtra  # noqa: E402

TESTS = Path(__file__).resolve().parent
QUIET = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
WORKER_ENV = {"env_vars": {"PYTHONPATH": str(TESTS)}}

# Hand-written, with known duplicates: exact repeats (after normalisation) and paraphrases.
TOY = [
    "How do I learn Python?",
    "What is the best way to learn Python?",  # a near duplicate of line 1
    "How do I bake bread at home?",
    "Is it going to rain today?",
    "Will it rain today?",
    "how do i learn python?",  # an exact duplicate of line 1 (normalised)
    "I like cats.",
    "I never liked cats.",
    "What is the capital of France?",
    "Which city is the capital of France?",
    "What is the population of France?",
    "",
    "How can I lose weight fast?",
    "What is the fastest way to lose weight?",
    "How can I gain weight fast?",
    "Where can I buy a cheap laptop?",
    "Where do I find an inexpensive laptop?",
    "Where can I sell my old laptop?",
    "Is it going to rain today?",
    "What  is the capital of FRANCE?",
    "Who wrote the novel War and Peace?",
    "Which author wrote War and Peace?",
    "How many legs does a spider have?",
    "How many legs do spiders have?",
    "What is the boiling point of water?",
    "At what temperature does water boil?",
]


@pytest.fixture(scope="session")
def model(bundled_model):
    """The bundled model on the NumPy path, which the Ray engine's actors (and the local engine's
    worker processes) run: the local engine in-process then encodes exactly as they do."""
    return bundled_model.with_backend("numpy", threads=1)


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance, 2 CPUs, for the whole session."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, runtime_env=WORKER_ENV, **QUIET)
    yield ray
    ray.shutdown()


class KillOnce:
    """Encodes with `model`; the first process to encode a second batch kills itself (once:
    `marker` remembers), and every call records its process id under `calls`."""

    def __init__(self, model, marker: str, calls: str) -> None:
        self.model = model.with_backend("numpy", threads=1)  # a fresh copy: one that has encoded holds caches
        self.marker, self.calls = marker, calls
        self.batches = 0
        self.energy, self.calibration, self.threshold = model.energy, model.calibration, model.threshold

    def encode(self, texts, batch_size=None):
        self.batches += 1
        Path(self.calls, f"{os.getpid()}-{self.batches}-{len(os.listdir(self.calls))}").touch()
        if self.batches == 2 and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return self.model.encode(texts, batch_size=batch_size)


class Failing:
    """An encoder that fails on a text, as a user's encoder might."""

    def encode(self, texts, batch_size=None):
        if any("boom" in t for t in texts):
            raise ValueError("cannot encode 'boom'")
        return np.ones((len(texts), 4), dtype=np.float32)


class NodeRecorder:
    """Encodes with `model` and records, for each batch, the Ray node that encoded it."""

    def __init__(self, model, folder: str) -> None:
        self.model, self.folder = model.with_backend("numpy", threads=1), folder

    def encode(self, texts, batch_size=None):
        node = ray.get_runtime_context().get_node_id()
        Path(self.folder, f"{node}-{os.getpid()}-{len(texts)}-{id(texts)}").touch()
        return self.model.encode(texts, batch_size=batch_size)


def _write(folder: Path, lines: list[str], shards: int = 2) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(lines) // shards)
    files = []
    for s in range(shards):
        files.append(folder / f"part-{s}.txt")
        files[-1].write_text("".join(line + "\n" for line in lines[s * size : (s + 1) * size]), encoding="utf-8")
    return files


def _run(files, out: Path, model, engine, config: DedupConfig) -> tuple[dict[str, bytes], bytes]:
    dedup_files(files, out / "kept", out / "report.jsonl", model=model, config=config, engine=engine)
    kept = {p.name: p.read_bytes() for p in sorted((out / "kept").iterdir())}
    return kept, (out / "report.jsonl").read_bytes()


def _real_lines(n: int) -> list[str]:
    from conftest import shared_file

    lines = []
    for row in shared_file("qqp", "bimpm", "dev.tsv").read_text(encoding="utf-8").splitlines():
        fields = row.split("\t")
        lines += [fields[1], fields[2]]
        if len(lines) >= n:
            break
    return lines[:n]


# ----- one partition: the local engine's answer, byte for byte -------------------------------


def test_one_partition_gives_the_local_outputs_byte_for_byte(ray_local, model, tmp_path):
    files = _write(tmp_path / "in", TOY)
    config = DedupConfig(chunk_size=6)  # several embedding batches, spread over the actors
    local = _run(files, tmp_path / "local", model, "local", config)
    remote = _run(files, tmp_path / "ray", model, RayEngine(partitions=1, min_parallel=0), config)
    assert remote == local
    entries = [json.loads(line) for line in local[1].decode().splitlines()]
    near = {(e["text"], e["duplicate_of"]["text"]) for e in entries if not e["exact"]}
    assert ("What is the best way to learn Python?", "How do I learn Python?") in near
    assert sum(e["exact"] for e in entries) == 3  # lines 6, 19, 20


def test_few_texts_are_embedded_in_the_driver_as_the_local_engine_does(ray_local, bundled_model, tmp_path):
    files = _write(tmp_path / "in", TOY)  # fewer than min_parallel: the model's own backend, in-process
    local = _run(files, tmp_path / "local", bundled_model, "local", DedupConfig())
    assert _run(files, tmp_path / "ray", bundled_model, RayEngine(), DedupConfig()) == local


def test_shards_with_no_text_at_all_give_the_local_outputs(ray_local, model, tmp_path):
    files = _write(tmp_path / "in", ["", "   ", "", "\t"], shards=2)  # no record for the shuffle
    local = _run(files, tmp_path / "local", model, "local", DedupConfig())
    remote = _run(files, tmp_path / "ray", model, RayEngine(min_parallel=0), DedupConfig())
    assert remote == local
    assert local[0] == {f.name: f.read_bytes() for f in files}  # every blank line kept


def test_one_partition_on_real_sentences(ray_local, model, tmp_path):
    lines = _real_lines(2000)
    files = _write(tmp_path / "in", lines, shards=3)
    config = DedupConfig(chunk_size=500)
    local = _run(files, tmp_path / "local", model, "local", config)
    remote = _run(files, tmp_path / "ray", model, RayEngine(partitions=1, min_parallel=0), config)
    assert local[1].count(b"\n") > 100  # QQP dev is full of paraphrases: the comparison means something
    assert remote == local


def test_a_big_cell_searched_by_several_tasks_finds_the_same_pairs(ray_local, model, tmp_path, monkeypatch):
    from siamese_text.dedup import ray_cells
    from siamese_text.dedup.stages import embed

    texts = list(dict.fromkeys(_real_lines(2000)))
    scoring = Scoring.for_encoder(model)
    config = DedupConfig(chunk_size=500, k=4, max_k=64, search_chunk=100)  # tasks of 3 search chunks
    vectors = embed(texts, model, scoring, config)
    batch = {"id": np.arange(len(texts))[::-1].copy(), "vector": vectors[::-1].copy()}  # order must not matter
    spread, real_spread = [], ray_cells._spread
    monkeypatch.setattr(ray_cells, "_spread", lambda *a: spread.append(a[-1]) or real_spread(*a))
    one = ray_cells._cell_pairs(batch, scoring, config, None, split=0)
    many = ray_cells._cell_pairs(batch, scoring, config, None, split=300)
    assert spread == [300]  # the second call spread its queries: ceil(n / 300) tasks a round
    assert len(one["later"]) > 100
    for key in ("later", "earlier", "score"):
        np.testing.assert_array_equal(many[key], one[key])
    # end to end: one partition, split into tasks, is still the local engine's answer byte for byte
    files = _write(tmp_path / "in", _real_lines(2000), shards=3)
    local = _run(files, tmp_path / "local", model, "local", config)
    remote = _run(files, tmp_path / "ray", model, RayEngine(partitions=1, min_parallel=0, split_queries=300), config)
    assert remote == local


# ----- several partitions: nearly the same removals ------------------------------------------


def test_each_vector_is_split_into_its_two_nearest_cells(ray_local):
    from siamese_text.dedup import ray_cells

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    centre = vectors[rng.choice(300, 5, replace=False)] + 0.01
    rows = [{"id": i, "vector": v} for i, v in enumerate(vectors)]
    blocks = ray.get(ray.data.from_items(rows, override_num_blocks=3).materialize().to_arrow_refs())
    pieces = ray_cells._split(centre, True, *blocks)
    assert len(pieces) == 5
    nearest = np.argsort(-(vectors @ centre.T), axis=1)[:, :2]  # by brute force
    for cell, piece in enumerate(pieces):
        expected = np.flatnonzero((nearest == cell).any(axis=1))
        np.testing.assert_array_equal(np.sort(piece["id"]), expected)
        np.testing.assert_array_equal(piece["vector"], vectors[piece["id"]])
    one = ray_cells._split(None, True, *blocks)  # one cell: every vector, once
    np.testing.assert_array_equal(np.sort(one["id"]), np.arange(300))



def test_four_partitions_agree_with_the_local_engine(ray_local, model):
    texts = list(dict.fromkeys(_real_lines(2000)))
    scoring, config = Scoring.for_encoder(model), DedupConfig(chunk_size=500)
    local_dup, local_best = LocalEngine().near_duplicates(texts, model, scoring, config)
    stages = []
    dup, best = RayEngine(partitions=4, min_parallel=0).near_duplicates(texts, model, scoring, config,
                                                         on_stage=stages.append)
    assert stages == ["start", "embed", "index", "search"]
    local_removed, ray_removed = set(np.flatnonzero(local_dup >= 0)), set(np.flatnonzero(dup >= 0))
    also = len(local_removed & ray_removed) / len(local_removed)
    extra = len(ray_removed - local_removed) / len(ray_removed)
    print(f"4 partitions: {len(local_removed)} local removals, {also:.2%} also made, {extra:.2%} extra")
    assert len(local_removed) > 100
    assert also >= 0.97 and extra <= 0.03
    same = local_dup == dup  # a removed text points at a kept text, with its score, as keep-first says
    assert same.mean() >= 0.97
    assert np.all(best[dup < 0] == 0) and np.all(best[dup >= 0] >= scoring.threshold)
    assert np.all(dup[dup >= 0] < np.flatnonzero(dup >= 0)) and np.all(dup[dup[dup >= 0]] < 0)


# ----- a worker killed mid-run ---------------------------------------------------------------


def test_an_actor_killed_mid_run_is_restarted_and_the_answer_is_the_same(ray_local, model, tmp_path):
    calls, marker = tmp_path / "calls", tmp_path / "killed"
    calls.mkdir()
    files = _write(tmp_path / "in", TOY)
    config = DedupConfig(chunk_size=4)
    local = _run(files, tmp_path / "local", model, "local", config)
    killer = KillOnce(model, str(marker), str(calls))
    remote = _run(files, tmp_path / "ray", killer, RayEngine(partitions=1, min_parallel=0), config)
    assert marker.exists(), "no actor was killed"
    killed = int(marker.read_text())
    pids = {int(p.name.split("-")[0]) for p in calls.iterdir()}
    assert pids - {killed}, "no other process finished the work"
    assert remote == local


def test_an_encoder_error_in_an_actor_is_one_line_naming_it(ray_local):
    from siamese_text.dedup.workers import WorkerError

    scoring = Scoring.for_encoder(Failing(), threshold=0.9)
    with pytest.raises(WorkerError, match="cannot encode 'boom'") as caught:
        RayEngine(min_parallel=0).near_duplicates(["a", "b", "boom"], Failing(), scoring, DedupConfig())
    assert "\n" not in str(caught.value)


def test_an_address_nobody_answers_at_is_one_line_at_once(monkeypatch):
    import socket

    with socket.socket() as free:  # a port nobody listens at
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a process without Ray yet
    texts = ["How do I learn Python?", "What is AI?"]
    with pytest.raises(ArgumentError, match=f"cannot connect to the Ray cluster at 127.0.0.1:{port}: nothing answers"):
        RayEngine(address=f"127.0.0.1:{port}").near_duplicates(texts, None, None, DedupConfig())


# ----- two nodes ------------------------------------------------------------------------------

CLUSTER_RUN = textwrap.dedent('''
    import json, logging, sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    import ray
    from ray.cluster_utils import Cluster
    from siamese_text import SiameseModel
    from siamese_text.dedup.engine import LocalEngine
    from siamese_text.dedup.index import Scoring
    from siamese_text.dedup.ray_engine import RayEngine
    from siamese_text.dedup.stages import DedupConfig
    from test_ray_engine import TOY, NodeRecorder

    cluster = Cluster(initialize_head=True, head_node_args={{"num_cpus": 1, "include_dashboard": False}})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.ERROR,
                 runtime_env={{"env_vars": {{"PYTHONPATH": {tests!r}}}}})
        nodes = len([n for n in ray.nodes() if n["Alive"]])
        model = SiameseModel.load(backend="numpy", threads=1)
        texts = list(dict.fromkeys(TOY))
        scoring, config = Scoring.for_encoder(model), DedupConfig(chunk_size=2)
        dup, best = RayEngine(partitions=1, actors=2, min_parallel=0).near_duplicates(
            texts, NodeRecorder(model, {calls!r}), scoring, config)
        local_dup, local_best = LocalEngine().near_duplicates(texts, model, scoring, config)
        print(json.dumps({{"nodes": nodes, "dup": dup.tolist(), "local": local_dup.tolist(),
                          "same_best": bool(np.array_equal(best, local_best))}}))
    finally:
        ray.shutdown()
        cluster.shutdown()
''')


@pytest.mark.slow
def test_a_two_node_cluster_spreads_the_actors_and_gives_the_local_answer(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    script = tmp_path / "cluster_run.py"
    script.write_text(CLUSTER_RUN.format(tests=str(TESTS), calls=str(calls)), encoding="utf-8")
    env = {**os.environ, "RAY_ADDRESS": ""}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["nodes"] == 2
    nodes = {p.name.split("-")[0] for p in calls.iterdir()}
    assert len(nodes) == 2, f"the embedding ran on {len(nodes)} node(s)"
    assert result["dup"] == result["local"] and result["same_best"]
    assert any(d >= 0 for d in result["dup"])


# ----- the seam, the extra, embeddings -------------------------------------------------------


def test_get_engine_builds_the_named_engine_with_its_options():
    engine = get_engine("ray", partitions=3, address="localhost:6379")
    assert isinstance(engine, RayEngine) and engine.partitions == 3 and engine.address == "localhost:6379"
    assert isinstance(get_engine("local"), LocalEngine)
    assert get_engine(engine) is engine
    with pytest.raises(ArgumentError, match="partitions"):
        get_engine("ray", partitions=0)
    with pytest.raises(ArgumentError, match="local"):
        get_engine("local", address="x")
    with pytest.raises(ArgumentError, match="choose one of local, ray"):
        get_engine("spark")


def test_cells_search_with_their_own_ivf_settings_and_one_partition_with_the_local_engines():
    config = DedupConfig(k=8, index=IndexConfig(exact_limit=500, nprobe=40, seed=3))
    engine = RayEngine(cell_nprobe=5, cell_train_per_list=12)
    assert engine.cell_config(config, 1) is config  # one partition: the local engine's search, unchanged
    within = engine.cell_config(config, 4)
    assert (within.index.nprobe, within.index.train_per_list) == (5, 12)
    assert within.k == 8 and (within.index.exact_limit, within.index.seed) == (500, 3)  # the rest as given
    with pytest.raises(ArgumentError, match="cell_nprobe"):
        RayEngine(cell_nprobe=0)


def test_a_full_disk_says_where_ray_spills_and_what_to_do():
    from siamese_text.dedup.ray_session import failure
    from siamese_text.dedup.workers import WorkerError

    error = failure(RuntimeError("Local disk is full\nThe object cannot be created because ..."))
    assert isinstance(error, WorkerError) and "\n" not in str(error)
    assert str(error).startswith("the Ray engine failed: Local disk is full: Ray spills objects to disk")
    assert "/tmp/ray" in str(error) and "--object-spilling-directory" in str(error)
    other = failure(RuntimeError("a worker died"))
    assert str(other) == "the Ray engine failed: a worker died"


def test_without_ray_the_engine_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` is where it is not installed
    with pytest.raises(MissingExtra, match=r"pip install 'siamese-text\[ray\]'") as caught:
        get_engine("ray")
    assert "\n" not in str(caught.value) and caught.value.extra == "ray"
    assert callable(ENGINES["ray"])


def test_embed_with_ray_writes_parquet_and_npy_shards(ray_local, model, tmp_path):
    import pyarrow.parquet as pq

    texts = [t for t in TOY if t]
    expected = model.encode(texts)
    assert embed_with_ray(texts, model, tmp_path / "pq", chunk_size=7, actors=1) == len(texts)
    table = pq.read_table(tmp_path / "pq")
    order = np.argsort(table["id"].to_numpy())
    vectors = np.stack(table["vector"].to_numpy(zero_copy_only=False))[order]
    assert table["id"].to_numpy()[order].tolist() == list(range(len(texts)))
    np.testing.assert_allclose(vectors, expected, atol=1e-5)

    assert embed_with_ray(texts, model, tmp_path / "npy", format="npy", chunk_size=7, actors=1) == len(texts)
    ids = np.concatenate([np.load(f) for f in sorted((tmp_path / "npy").glob("ids-*.npy"))])
    vecs = np.concatenate([np.load(f) for f in sorted((tmp_path / "npy").glob("vectors-*.npy"))])
    np.testing.assert_allclose(vecs[np.argsort(ids)], expected, atol=1e-5)
    assert not list((tmp_path / "npy").glob(".*"))  # no temporary file left
    with pytest.raises(OutputError, match="not empty"):
        embed_with_ray(texts, model, tmp_path / "npy", format="npy")


def test_embed_command_on_a_jsonl_shard_writes_the_records_vectors(ray_local, model, tmp_path):
    """`siamese-text embed SHARD --engine ray --text-field t --out DIR`, in this process (it joins
    the session's Ray instance): one vector per record, in record order by id, blank text included."""
    import json

    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from siamese_text.cli import app

    texts = [t for t in TOY if t][:6] + [""]
    shard = tmp_path / "part-0.jsonl"
    shard.write_text("".join(json.dumps({"t": t, "other": i}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    result = CliRunner().invoke(app, ["embed", str(shard), "--engine", "ray", "--text-field", "t",
                                      "--out", str(tmp_path / "vec"), "--threads", "1"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "vec")
    order = np.argsort(table["id"].to_numpy())
    assert table["id"].to_numpy()[order].tolist() == list(range(len(texts)))
    np.testing.assert_allclose(np.stack(table["vector"].to_numpy(zero_copy_only=False))[order],
                               model.encode(texts), atol=1e-5)
    missing = CliRunner().invoke(app, ["embed", str(shard), "--engine", "ray", "--out", str(tmp_path / "v2")])
    assert missing.exit_code == 1 and "--text-field" in missing.output


# ----- shards read and written in Ray tasks --------------------------------------------------


class Corrupting:
    """Encodes with `model`; its first call makes the file `victim` invalid UTF-8, so that the
    writer task of that shard (which reads it again) fails after the others may have written."""

    def __init__(self, model, victim: str) -> None:
        self.model, self.victim = model.with_backend("numpy", threads=1), victim
        self.energy, self.calibration, self.threshold = model.energy, model.calibration, model.threshold

    def encode(self, texts, batch_size=None):
        with open(self.victim, "ab") as fh:
            fh.write(b"caf\xe9\n")
        return self.model.encode(texts, batch_size=batch_size)


def _jsonl(folder: Path, shards: dict[str, list]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, rows in shards.items():
        files.append(folder / name)
        files[-1].write_bytes(b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows))
    return files


def _both(files, tmp_path, model, **options) -> tuple[tuple, tuple]:
    """(local, ray) outputs and report of one dedup_files call on each engine."""
    out = []
    for name, engine in (("local", "local"), ("ray", RayEngine(partitions=1, min_parallel=0))):
        report = tmp_path / name / "report.jsonl"
        dedup_files(files, tmp_path / name / "kept", report, model=model, engine=engine, **options)
        out.append(({p.name: p.read_bytes() for p in sorted((tmp_path / name / "kept").iterdir())},
                    report.read_bytes()))
    return out[0], out[1]


def test_global_order_is_shard_then_record_across_read_tasks(ray_local, model, tmp_path):
    files = _jsonl(tmp_path / "in", {
        "a.jsonl": [{"id": 1, "t": "Will it rain today?"}, {"id": 2, "t": "How do I learn Python?"}],
        "b.jsonl": [{"id": 3, "t": "how do I LEARN python?"}, {"id": 4, "t": "Is it going to rain today?"},
                    {"id": 5, "t": "I like cats."}],
        "c.jsonl": [{"id": 6, "t": "i like cats."}, {"id": 7, "t": "Will it  rain today?"}]})
    local, remote = _both(files, tmp_path, model, text_fields=["t"], id_field="id")
    assert remote == local
    entries = {(e["file"].rsplit("/", 1)[-1], e["record"]): e for e in map(json.loads, local[1].splitlines())}
    assert entries[("b.jsonl", 1)]["duplicate_of"]["record"] == 2 and entries[("b.jsonl", 1)]["exact"]
    assert entries[("c.jsonl", 1)]["duplicate_of"] == {"file": str(files[1]), "record": 3, "text": "I like cats.",
                                                        "id": 5}
    assert entries[("c.jsonl", 2)]["duplicate_of"]["file"] == str(files[0])  # the earliest copy, in shard a


def test_a_failed_shard_write_leaves_no_file_under_a_final_name(ray_local, model, tmp_path):
    files = _write(tmp_path / "in", TOY, shards=3)
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    with pytest.raises(InputFileError, match=r"part-2\.txt:\d+: .*UTF-8") as caught:
        dedup_files(files, out, report, model=Corrupting(model, str(files[2])), config=DedupConfig(chunk_size=6),
                    engine=RayEngine(partitions=1, min_parallel=0))
    assert "\n" not in str(caught.value)
    assert not report.exists() and not any(tmp_path.glob(".report.jsonl*"))
    assert not out.exists() or list(out.iterdir()) == []  # no output, and no temporary file left beside one


def test_bad_records_on_the_ray_engine(ray_local, model, tmp_path):
    files = _jsonl(tmp_path / "in", {
        "a.jsonl": [{"t": "How do I learn Python?"}, {"t": "Will it rain today?"}],
        "b.jsonl": [{"t": "how do i learn python?"}, b"not json", {"u": "no text"}, {"t": "Is it going to rain today?"}]})
    with pytest.raises(InputFileError, match=r"b\.jsonl:2: not a JSON line") as caught:
        dedup_files(files, tmp_path / "x", tmp_path / "x.jsonl", model=model, text_fields=["t"],
                    engine=RayEngine(partitions=1, min_parallel=0))
    assert "\n" not in str(caught.value) and not (tmp_path / "x").exists()
    local, remote = _both(files, tmp_path, model, text_fields=["t"], on_bad="skip")
    assert remote == local
    kinds = [json.loads(line)["kind"] for line in remote[1].splitlines()]
    assert kinds.count("bad") == 2 and b"not json\n" in remote[0]["b.jsonl"]


def test_parquet_in_and_out_on_the_ray_engine(ray_local, model, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    (tmp_path / "in").mkdir()
    for s, rows in enumerate((TOY[:13], TOY[13:])):
        pq.write_table(pa.table({"id": pa.array([100 * s + i for i in range(len(rows))], pa.int32()),
                                 "t": rows, "w": [float(i) for i in range(len(rows))]}), tmp_path / "in" / f"p{s}.parquet")
    tables = {}
    for name, engine in (("local", "local"), ("ray", RayEngine(partitions=1, min_parallel=0))):
        dedup_files([tmp_path / "in"], tmp_path / name, tmp_path / f"{name}.parquet", model=model, engine=engine,
                    text_fields=["t"], id_field="id")
        tables[name] = ({p.name: pq.read_table(p) for p in sorted((tmp_path / name).iterdir())},
                        pq.read_table(tmp_path / f"{name}.parquet").to_pylist())
    assert tables["ray"][1] == tables["local"][1] and len(tables["ray"][1]) >= 4
    for name, table in tables["ray"][0].items():
        assert table.schema == pq.read_table(tmp_path / "in" / name).schema
        assert table.equals(tables["local"][0][name])


def test_each_stage_ends_with_one_line_on_stderr_when_progress_is_on(capsys):
    from siamese_text.dedup.ray_engine import _announce

    seen = []
    stage = _announce(seen.append, progress=True)
    stage("read")
    stage("group")
    err = capsys.readouterr().err.splitlines()
    assert seen == ["read", "group"] and len(err) == 2
    assert re.fullmatch(r"ray: read done in \d+\.\d s", err[0]) and err[1].startswith("ray: group done in ")
    quiet = _announce(None, progress=False)
    quiet("write")
    assert capsys.readouterr().err == ""
