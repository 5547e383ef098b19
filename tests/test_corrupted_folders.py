"""Corrupted model and index folders, generated systematically.

The property, for every damage: `SiameseModel.load` / `TextIndex.load` refuses the folder with a
SiameseTextError of one line naming the damaged file, or it loads and gives exactly what the
intact folder gives (vectors, energies, probabilities; search hits). Nothing loads into a model
that silently scores wrong.

Damages: each file missing, empty, replaced by a folder or by random bytes, truncated at any
offset, bytes flipped anywhere; every field of config.json (and index.json) removed or set to
null, a string, a list, an object, a negative, a huge, a non-finite number, true, or its value as
a float or a string; weights of the wrong dtype, shape or name; a vocabulary with a duplicate, a
line too few or too many, CRLF endings, a BOM, two tokens swapped; texts.jsonl rows of the wrong
shape, vectors.faiss from another index.

A folder saved by this version records checksums (config.json "checksums", index.json
"checksums"), so even a flipped bit in the middle of the weights, or two swapped tokens, is
refused. A folder without them (written before they existed) is still checked field by field:
there a changed setting may load only if it is a value the model can legitimately hold (a
threshold in [0, 1], a Platt slope that is a finite number, ...), and then must give valid
probabilities.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from siamese_text.dedup.search import TextIndex
from siamese_text.errors import SiameseTextError
from siamese_text.model.calibration import Calibration
from siamese_text.model.folder import (CONFIG_FILE, MAX_LAYERS, MAX_NGRAM, MAX_ROWS, MAX_TOKENS, MAX_WIDTH,
                                        MODEL_FILES, VOCAB_FILE, WEIGHTS_FILE, ModelFolderError, read_spec)
from siamese_text.model.siamese import SiameseModel

from conftest import examples, make_tiny_model

TEXTS = ["How do I learn Python?", "how do i bake bread", "I do not like cats?", "pythonesque zebra",
         "", "learn learn learn python python ? ? ?", "Ünïcödé naïve café 🐍"]
PAIRS_A = TEXTS[:4] + [TEXTS[0]]
PAIRS_B = TEXTS[3:] + [TEXTS[0]]
QUERIES = ["learn python", "bread", "cats", "zebra unicorn"]
INDEXED = ["how do i learn python ?", "bake bread", "i like cats", "not cats", "python python", "do i ?"]
MISSING = object()  # a removed field


def calibrated(method: str = "platt", **options) -> SiameseModel:
    """The tiny model with a calibration that looks fitted (its own, whatever conftest's default)."""
    model = make_tiny_model(**options)
    model.calibration = (Calibration("platt", a=-6.0, b=3.0, fitted_on="12 toy pairs") if method == "platt" else
                         Calibration("isotonic", x=[0.0, 0.3, 1.0], y=[1.0, 0.6, 0.0], fitted_on="12 toy pairs"))
    model.threshold = 0.5
    return model


def outputs(model: SiameseModel):
    """What a model gives: vectors, energies and probabilities (None if it refuses, loudly, to give them)."""
    vectors = model.encode(TEXTS)
    energies = model.energies(PAIRS_A, PAIRS_B)
    try:
        probabilities = model.probabilities(PAIRS_A, PAIRS_B)
    except SiameseTextError:  # a model that says it is uncalibrated: loud, not silent
        probabilities = None
    return vectors, energies, probabilities


def same_outputs(got, want) -> None:
    for g, w in zip(got, want):
        if g is not None:
            np.testing.assert_array_equal(g, w)


def valid_outputs(got) -> None:
    vectors, energies, probabilities = got
    assert np.isfinite(vectors).all() and np.isfinite(energies).all()
    if probabilities is not None:
        assert ((probabilities >= 0) & (probabilities <= 1)).all()


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict:
    """Intact model folders ("platt", "isotonic") and what they give."""
    out = {}
    for method in ("platt", "isotonic"):
        folder = calibrated(method).save(tmp_path_factory.mktemp("intact") / method)
        out[method] = (folder, outputs(SiameseModel.load(folder)))
    return out


def copy_of(folder: Path, into: Path, checksums: bool = True) -> Path:
    """A copy of model folder `folder` under `into`; without its checksums if asked (an older folder)."""
    target = into / "model"
    shutil.copytree(folder, target)
    if not checksums:
        config = json.loads((target / CONFIG_FILE).read_text(encoding="utf-8"))
        del config["checksums"]
        (target / CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")
    return target


def check_model(folder: Path, reference, names=MODEL_FILES, legal: bool = False, what: str = "") -> bool:
    """The property. Returns whether the folder loaded.

    Args:
        names: a refusal must name one of these files (and the folder).
        legal: the damage is a legitimate change of a setting: if the folder loads, its outputs
            need only be valid, not equal to the intact ones.
    """
    try:
        model = SiameseModel.load(folder)
    except SiameseTextError as exc:
        message = str(exc)
        assert message and "\n" not in message, (what, message)
        assert str(folder) in message and any(name in message for name in names), (what, message)
        return False
    got = outputs(model)
    if legal:
        valid_outputs(got)
    else:
        try:
            same_outputs(got, reference)
        except AssertionError:
            raise AssertionError(f"{what}: loaded, and scores differently from the intact model") from None
    return True


# ----- whole files --------------------------------------------------------------------------------

DAMAGES = ("missing", "empty", "folder", "text")


def damage_file(path: Path, damage: str) -> None:
    """Replace a folder's file by nothing, an empty file, a folder of that name or a line of text."""
    path.unlink()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "folder":
        path.mkdir()
    elif damage == "text":
        path.write_text("hello\n")


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "older-folder"])
@pytest.mark.parametrize("name", MODEL_FILES)
def test_a_missing_empty_or_folder_file_is_named(bases, tmp_path, name, checksums):
    folder, reference = bases["platt"]
    for damage in DAMAGES:
        with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
            model = copy_of(folder, Path(tmp), checksums)
            damage_file(model / name, damage)
            assert not check_model(model, reference, [name], what=f"{name} {damage}")


def test_a_model_folder_that_is_a_file_or_absent(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    for path in (tmp_path / "file", tmp_path / "absent"):
        with pytest.raises(SiameseTextError, match="model folder not found|not a folder") as info:
            SiameseModel.load(path)
        assert str(path) in str(info.value)


@examples(40)
@given(name=st.sampled_from(MODEL_FILES), at=st.floats(0, 1))
@example(name=VOCAB_FILE, at=1.0)  # only the last line ending cut: the same tokens
@example(name=CONFIG_FILE, at=0.999)
@example(name=WEIGHTS_FILE, at=0.0)
def test_a_truncated_file_is_named(bases, name, at):
    folder, reference = bases["platt"]
    with tempfile.TemporaryDirectory() as tmp:
        model = copy_of(folder, Path(tmp))
        data = (model / name).read_bytes()
        cut = min(int(at * len(data)), len(data) - 1)
        (model / name).write_bytes(data[:cut])
        check_model(model, reference, [name], what=f"{name} cut at {cut} of {len(data)}")


@examples(60)
@given(name=st.sampled_from(MODEL_FILES),
       flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=3))
@example(name=WEIGHTS_FILE, flips=[(0.9, 1)])  # one bit of a weight: it parses, only the checksum tells
@example(name=VOCAB_FILE, flips=[(0.5, 1)])  # one letter of a token
@example(name=CONFIG_FILE, flips=[(0.02, 1)])
def test_flipped_bytes_are_named(bases, name, flips):
    folder, reference = bases["platt"]
    with tempfile.TemporaryDirectory() as tmp:
        model = copy_of(folder, Path(tmp))
        data = bytearray((model / name).read_bytes())
        for at, xor in flips:
            data[int(at * len(data))] ^= xor
        (model / name).write_bytes(bytes(data))
        check_model(model, reference, [name], what=f"{name} flipped {flips}")


@examples(30)
@given(name=st.sampled_from(MODEL_FILES), data=st.binary(max_size=3000), checksums=st.booleans())
def test_random_bytes_in_place_of_a_file_are_named(bases, name, data, checksums):
    folder, reference = bases["platt"]
    with tempfile.TemporaryDirectory() as tmp:
        model = copy_of(folder, Path(tmp), checksums)
        (model / name).write_bytes(data)
        assert not check_model(model, reference, [name], what=f"{name} = {data[:40]!r}")


# ----- config.json, field by field ----------------------------------------------------------------


def _mutations(value):
    """(label, new value) of each way a field is damaged; MISSING removes it."""
    out = [("removed", MISSING), ("null", None), ("a string", "x"), ("a list", [1]), ("negative", -1),
           ("huge", 10**12), ("huge float", 1e300), ("NaN", math.nan), ("infinite", math.inf), ("true", True),
           ("an object", {"x": 1})]
    if isinstance(value, int) and not isinstance(value, bool):
        out.append(("its value as a float", float(value)))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append(("its value as a string", str(value)))
    return [(label, new) for label, new in out if new is MISSING or json.dumps(new) != json.dumps(value)]


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(low: int, high: float = math.inf):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


# What a field may legitimately be changed to (a folder without checksums loads it and must then
# give valid probabilities); any other value must be refused, or change nothing.
LEGAL = {
    "siamese_text_version": lambda v: True,
    "torch_version": lambda v: True,
    "tokenizer.lowercase": lambda v: isinstance(v, bool),
    "tokenizer.max_chars": _int(1),
    "encoder.dropout": lambda v: _number(v) and 0 <= v < 1,
    "encoder.subword_min_n": _int(1, 5),  # subword_max_n is 5
    "encoder.subword_max_n": _int(3),  # subword_min_n is 3
    "encoder.max_tokens": _int(1, MAX_TOKENS),
    "calibration.a": _number,
    "calibration.b": _number,
    "calibration.fitted_on": lambda v: isinstance(v, str),
    "meta": lambda v: isinstance(v, dict),
}
NOT_SETTINGS = ("meta", "checksums")  # left out of the settings checksum: provenance may be edited


def _set(config: dict, field: str, value) -> dict:
    config = json.loads(json.dumps(config))
    *parents, last = field.split(".")
    node = config
    for p in parents:
        node = node[p]
    if value is MISSING:
        del node[last]
    else:
        node[last] = value
    return config


def _get(config: dict, field: str):
    for p in field.split("."):
        config = config[p]
    return config


def _config_cases():
    cases = []
    for method in ("platt", "isotonic"):
        fields = ["format_version", "siamese_text_version", "tokenizer", "tokenizer.kind", "tokenizer.lowercase",
                  "tokenizer.max_chars", "encoder", "energy", "calibration", "calibration.method",
                  "calibration.fitted_on", "threshold", "meta", "checksums"]
        fields += [f"encoder.{f}" for f in ("vocab_size", "embedding_dim", "hidden_size", "num_layers", "dropout",
                                            "pooling", "subword_buckets", "subword_min_n", "subword_max_n",
                                            "max_tokens", "output_dim")]
        fields += ["calibration.a", "calibration.b"] if method == "platt" else ["calibration.x", "calibration.y"]
        cases += [(method, f, checksums) for f in fields for checksums in (True, False)
                  if f != "checksums" or checksums]  # an older folder has no checksums to damage
    return cases


@pytest.mark.parametrize("method,field,checksums", _config_cases())
def test_every_config_field_damaged_every_way(bases, tmp_path, method, field, checksums):
    folder, reference = bases[method]
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    value = _get(config, field)
    if not checksums:
        del config["checksums"]
    loaded = []
    for label, new in _mutations(value):
        with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
            model = copy_of(folder, Path(tmp))
            (model / CONFIG_FILE).write_text(json.dumps(_set(config, field, new)), encoding="utf-8")
            legal = not checksums and field in LEGAL and new is not MISSING and LEGAL[field](new)
            if check_model(model, reference, [CONFIG_FILE], legal=legal, what=f"{field} {label}"):
                loaded.append(label)
    if checksums and field not in NOT_SETTINGS:
        assert loaded == [], f"{field}: loaded though its checksum no longer matches: {loaded}"


def test_config_json_as_another_json_type_or_with_a_newer_format(bases, tmp_path):
    folder, reference = bases["platt"]
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    for damage in ([config], "config", 1, None, {**config, "format_version": 2}, {**config, "format_version": 0}):
        with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
            model = copy_of(folder, Path(tmp))
            (model / CONFIG_FILE).write_text(json.dumps(damage), encoding="utf-8")
            assert not check_model(model, reference, [CONFIG_FILE], what=repr(damage)[:60])


def test_a_hand_edited_setting_is_refused_but_provenance_may_change(bases, tmp_path):
    folder, reference = bases["platt"]
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    edited = copy_of(folder, tmp_path / "a")
    (edited / CONFIG_FILE).write_text(json.dumps({**config, "threshold": 0.6}), encoding="utf-8")
    with pytest.raises(SiameseTextError, match="config.json: content differs from the checksum"):
        SiameseModel.load(edited)
    stamped = copy_of(folder, tmp_path / "b")
    (stamped / CONFIG_FILE).write_text(json.dumps({**config, "meta": {"trained_on": "a note"}}, indent=1),
                                       encoding="utf-8")
    assert SiameseModel.load(stamped).meta == {"trained_on": "a note"}


@pytest.mark.parametrize("field,bound", [("vocab_size", MAX_ROWS), ("subword_buckets", MAX_ROWS),
                                         ("embedding_dim", MAX_WIDTH), ("hidden_size", MAX_WIDTH),
                                         ("output_dim", MAX_WIDTH), ("num_layers", MAX_LAYERS),
                                         ("max_tokens", MAX_TOKENS), ("subword_max_n", MAX_NGRAM)])
def test_absurd_sizes_are_refused_by_read_spec_before_anything_is_sized(bases, tmp_path, field, bound):
    """A size past its bound is refused from config.json alone (no weights read, nothing allocated);
    the bound itself is still read (it is the weights that then disagree)."""
    folder, _ = bases["platt"]
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    del config["checksums"]  # an older folder: nothing but the bound can refuse it
    for value, refused in ((bound + 1, True), (10**15, True), (bound, False)):
        (tmp_path / "m").mkdir(exist_ok=True)
        (tmp_path / "m" / CONFIG_FILE).write_text(json.dumps(_set(config, f"encoder.{field}", value)))
        if refused:
            with pytest.raises(ModelFolderError, match=rf"config.json: .*encoder.{field} must be at most {bound}"):
                read_spec(tmp_path / "m")
        else:
            assert getattr(read_spec(tmp_path / "m").encoder, field) == bound


# ----- weights --------------------------------------------------------------------------------------


def _weight_damages(state: dict[str, np.ndarray]):
    """(label, new state dict, legal): a legal one holds nearly the same numbers in another float dtype."""
    name = "lstm.weight_ih_l0"
    w = state[name]
    yield "float64", {k: v.astype(np.float64) for k, v in state.items()}, False  # the same numbers: same outputs
    yield "float16", {k: v.astype(np.float16) for k, v in state.items()}, True  # what save(dtype="float16") does
    for dtype in (np.int32, np.int64, np.uint8, np.bool_):
        yield f"{np.dtype(dtype).name} {name}", {**state, name: w.astype(dtype)}, False
    yield "transposed", {**state, name: np.ascontiguousarray(w.T)}, False
    yield "a row fewer", {**state, name: np.ascontiguousarray(w[:-1])}, False
    yield "a row more", {**state, name: np.vstack([w, w[:1]])}, False
    yield "flattened", {**state, name: w.reshape(-1)}, False
    yield "a scalar", {**state, name: np.array(1.0, dtype=np.float32)}, False
    yield "NaN", {**state, name: np.where(np.arange(w.size).reshape(w.shape) == 3, np.nan, w).astype(np.float32)}, False
    yield "infinite", {**state, name: np.full_like(w, np.inf)}, False
    yield "missing tensor", {k: v for k, v in state.items() if k != name}, False
    yield "extra tensor", {**state, "lstm.weight_ih_l1": w}, False
    yield "renamed tensor", {**{k: v for k, v in state.items() if k != name}, name + "_x": w}, False
    yield "no tensors", {}, False


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "older-folder"])
def test_weights_of_wrong_dtype_shape_or_name(bases, tmp_path, checksums):
    from safetensors.numpy import load_file, save_file

    folder, reference = bases["platt"]
    state = load_file(str(folder / WEIGHTS_FILE))
    for label, damaged, legal in _weight_damages(state):
        with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
            model = copy_of(folder, Path(tmp), checksums)
            save_file(damaged, str(model / WEIGHTS_FILE), metadata={"format": "pt"})
            loaded = check_model(model, reference, [WEIGHTS_FILE], legal=legal and not checksums, what=label)
            if checksums:
                assert not loaded, f"{label}: loaded though the weights' checksum no longer matches"


# ----- vocab.txt ------------------------------------------------------------------------------------


def _vocab_damages(tokens: list[str]):
    """(label, new vocab.txt bytes, harmless): a harmless one holds the same tokens."""
    text = "\n".join(tokens) + "\n"
    yield "CRLF endings", text.replace("\n", "\r\n").encode(), True
    yield "a BOM", ("\ufeff" + text).encode(), True
    yield "no final line ending", text[:-1].encode(), True
    yield "a duplicate", "\n".join(tokens[:-1] + [tokens[2]]).encode() + b"\n", False
    yield "a line fewer", "\n".join(tokens[:-1]).encode() + b"\n", False
    yield "a line more", (text + "zebra\n").encode(), False
    yield "a blank line more", (text + "\n").encode(), False
    yield "two tokens swapped", "\n".join(tokens[:2] + [tokens[3], tokens[2]] + tokens[4:]).encode() + b"\n", False
    yield "a token changed", text.replace("\npython\n", "\npythom\n").encode(), False
    yield "specials swapped", "\n".join([tokens[1], tokens[0]] + tokens[2:]).encode() + b"\n", False
    yield "latin-1", text.replace("how", "hów").encode("latin-1"), False
    yield "UTF-16", text.encode("utf-16"), False
    yield "a NUL in a token", text.replace("how", "h\0w").encode(), False


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "older-folder"])
def test_vocabularies_with_duplicates_or_the_wrong_number_of_lines(bases, tmp_path, checksums):
    folder, reference = bases["platt"]
    tokens = (folder / VOCAB_FILE).read_text(encoding="utf-8").split("\n")[:-1]
    assert "python" in tokens and "how" in tokens
    for label, data, harmless in _vocab_damages(tokens):
        if not checksums and label in ("two tokens swapped", "a token changed", "a NUL in a token"):
            continue  # the same size, no duplicate: without a checksum no reader can tell
        with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
            model = copy_of(folder, Path(tmp), checksums)
            (model / VOCAB_FILE).write_bytes(data)
            loaded = check_model(model, reference, [VOCAB_FILE], what=label)
            assert loaded == harmless, f"{label}: {'refused' if harmless else 'loaded'}"


# ----- index folders --------------------------------------------------------------------------------

INDEX_FILES = ("index.json", "texts.jsonl", "vectors.faiss")


@pytest.fixture(scope="module")
def index_base(tmp_path_factory):
    model = calibrated()
    folder = tmp_path_factory.mktemp("index") / "ix"
    TextIndex.build(INDEXED, model).save(folder)
    return folder, model, TextIndex.load(folder, model=model).search_many(QUERIES, 3)


def index_copy(folder: Path, into: Path, checksums: bool = True) -> Path:
    target = into / "ix"
    shutil.copytree(folder, target)
    if not checksums:
        meta = json.loads((target / "index.json").read_text(encoding="utf-8"))
        del meta["checksums"]
        (target / "index.json").write_text(json.dumps(meta), encoding="utf-8")
    return target


def check_index(folder: Path, model, reference, names=INDEX_FILES, what: str = "") -> bool:
    """The property for an index folder: refused naming a file of it, or searches as the intact one."""
    try:
        index = TextIndex.load(folder, model=model)
    except SiameseTextError as exc:
        message = str(exc)
        assert message and "\n" not in message, (what, message)
        assert str(folder) in message and any(name in message for name in names), (what, message)
        return False
    assert index.search_many(QUERIES, 3) == reference, f"{what}: loaded, and searches differently"
    return True


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "older-index"])
@pytest.mark.parametrize("name", INDEX_FILES)
def test_a_missing_empty_or_folder_index_file_is_named(index_base, tmp_path, name, checksums):
    folder, model, reference = index_base
    for damage in DAMAGES:
        with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
            ix = index_copy(folder, Path(tmp), checksums)
            damage_file(ix / name, damage)
            assert not check_index(ix, model, reference, [name], what=f"{name} {damage}")


@examples(40)
@given(name=st.sampled_from(INDEX_FILES), at=st.floats(0, 1), checksums=st.booleans())
@example(name="vectors.faiss", at=0.5, checksums=False)
def test_a_truncated_index_file_is_named(index_base, name, at, checksums):
    folder, model, reference = index_base
    with tempfile.TemporaryDirectory() as tmp:
        ix = index_copy(folder, Path(tmp), checksums)
        data = (ix / name).read_bytes()
        cut = min(int(at * len(data)), len(data) - 1)
        (ix / name).write_bytes(data[:cut])
        check_index(ix, model, reference, [name], what=f"{name} cut at {cut}")


@examples(60)
@given(name=st.sampled_from(INDEX_FILES),
       flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=3))
@example(name="vectors.faiss", flips=[(0.9, 1)])  # one bit of a vector: faiss reads it, only the checksum tells
@example(name="texts.jsonl", flips=[(0.5, 1)])
def test_flipped_bytes_in_an_index_are_named(index_base, name, flips):
    folder, model, reference = index_base
    with tempfile.TemporaryDirectory() as tmp:
        ix = index_copy(folder, Path(tmp))
        data = bytearray((ix / name).read_bytes())
        for at, xor in flips:
            data[int(at * len(data))] ^= xor
        (ix / name).write_bytes(bytes(data))
        check_index(ix, model, reference, [name], what=f"{name} flipped {flips}")


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "older-index"])
def test_every_index_json_field_damaged_every_way(index_base, tmp_path, checksums):
    folder, model, reference = index_base
    meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    if not checksums:
        del meta["checksums"]
    for field in list(meta):
        for label, new in _mutations(meta[field]):
            with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
                ix = index_copy(folder, Path(tmp))
                (ix / "index.json").write_text(json.dumps(_set(meta, field, new)), encoding="utf-8")
                check_index(ix, model, reference, ["index.json"], what=f"{field} {label}")


def _texts_damages(rows: list[str]):
    yield "a row fewer", rows[:-1]
    yield "a row more", rows + [json.dumps([99, "extra"])]
    yield "a text that is a number", [json.dumps([1, 5])] + rows[1:]
    yield "a line number that is a string", [json.dumps(["1", "x"])] + rows[1:]
    yield "three fields", [json.dumps([1, "x", 2])] + rows[1:]
    yield "an object", [json.dumps({"line": 1, "text": "x"})] + rows[1:]
    yield "a two-key object", [json.dumps({"a": 1, "b": 2})] + rows[1:]
    yield "a string of two characters", [json.dumps("ab")] + rows[1:]
    yield "null", ["null"] + rows[1:]
    yield "a text changed", [json.dumps([1, "how do i learn pithon ?"])] + rows[1:]
    yield "two rows swapped", [rows[1], rows[0]] + rows[2:]


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "older-index"])
def test_texts_jsonl_rows_of_the_wrong_shape(index_base, tmp_path, checksums):
    folder, model, reference = index_base
    rows = (folder / "texts.jsonl").read_text(encoding="utf-8").splitlines()
    for label, damaged in _texts_damages(rows):
        if not checksums and label in ("a text changed", "two rows swapped"):
            continue  # well-formed rows: only a checksum can tell
        with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
            ix = index_copy(folder, Path(tmp), checksums)
            (ix / "texts.jsonl").write_text("\n".join(damaged) + "\n", encoding="utf-8")
            assert not check_index(ix, model, reference, ["texts.jsonl"], what=label)


def _wide_model() -> SiameseModel:
    """A model whose vectors are 12-d instead of 8-d, with the tiny model's vocabulary."""
    import torch

    from siamese_text.model.folder import EncoderConfig
    from siamese_text.model.torch_encoder import Encoder

    small = calibrated()
    torch.manual_seed(0)
    config = EncoderConfig(vocab_size=len(small.vocab), embedding_dim=8, hidden_size=6, pooling="mean",
                           subword_buckets=64, dropout=0.0)
    return SiameseModel(Encoder(config), small.vocab, "cosine", small.calibration).with_backend("numpy")


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "older-index"])
def test_vectors_of_another_index(index_base, tmp_path, checksums):
    folder, model, reference = index_base
    others = {"fewer texts": TextIndex.build(INDEXED[:-1], model),
              "another model's width": TextIndex.build(INDEXED, _wide_model()),
              "another energy": TextIndex.build(INDEXED, calibrated(energy="euclidean"))}
    for label, other in others.items():
        with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
            other.save(Path(tmp) / "other")
            ix = index_copy(folder, Path(tmp), checksums)
            shutil.copyfile(Path(tmp) / "other" / "vectors.faiss", ix / "vectors.faiss")
            assert not check_index(ix, model, reference, ["vectors.faiss"], what=label)
