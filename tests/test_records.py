"""dedup over record shards: JSONL, CSV, TSV and Parquet in, the same format out, bad records.

Most tests use FirstLetter, an encoder for which texts with the same first letter are near
duplicates (cosine 1) and others are not (cosine 0), so every expected removal is worked out by
hand; the command-line tests use the tiny model with a threshold above its highest probability,
so that only exact (normalised) repeats are removed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from siamese_text.cli import app
from siamese_text.corpora.records import Format, expand_paths, format_of
from siamese_text.dedup.engine import LocalEngine
from siamese_text.dedup.files import dedup_files
from siamese_text.errors import ArgumentError, InputFileError, OutputError

from conftest import make_tiny_model

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ROOT = Path(__file__).resolve().parents[1]


class FirstLetter:
    """Texts with the same first letter (case kept) are duplicates; others are unrelated."""

    def encode(self, texts):
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, ord(t[0]) % 256 if t else 0] = 1.0
        return out


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run_api(tmp_path: Path, inputs, report: str | None = "report.jsonl", **kwargs):
    kwargs.setdefault("text_fields", ["text"])
    summary = dedup_files([str(i) for i in inputs], tmp_path / "out", tmp_path / report if report else None,
                          FirstLetter(), threshold=0.99, **kwargs)
    return summary


def report_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ----- formats ------------------------------------------------------------------------------


def test_format_from_the_extension_and_the_option():
    assert [format_of(n) for n in ("a.jsonl", "a.JSON", "a.ndjson", "a.csv", "a.tsv", "a.parquet", "a.txt", "a")] \
        == ["jsonl", "jsonl", "jsonl", "csv", "tsv", "parquet", "lines", "lines"]
    assert format_of("a.txt", "jsonl") == "jsonl" and format_of("a.jsonl", "lines") == "lines"
    with pytest.raises(ArgumentError, match="unknown record format 'xml'"):
        format_of("a.xml", "xml")
    assert {f.value for f in Format} == {"auto", "lines", "file", "jsonl", "csv", "tsv", "parquet"}


def test_jsonl_kept_lines_are_byte_identical(tmp_path):
    lines = [
        b'{"id": 1, "text": "apple pie", "meta": {"n": [1, 2.50]}}\n',
        b'{"text":"Apple  PIE","id":2}\r\n',  # an exact (normalised) repeat of line 1
        b'\n',  # blank: kept
        '{"text": "b\\u00e9ret", "x": "caf\u00e9 \u2603"}\r\n'.encode(),
        b'{"text": "avocado", "id": 5}\n',  # same first letter as line 1: a near duplicate
        b'{"text": "cherry"}',  # no final line ending
    ]
    src = write(tmp_path / "in" / "a.jsonl", b"".join(lines))
    s = run_api(tmp_path, [src])
    assert (tmp_path / "out" / "a.jsonl").read_bytes() == b"".join(lines[i] for i in (0, 2, 3, 5))
    assert (s.records, s.blank, s.exact_removed, s.near_removed, s.bad, s.kept) == (6, 1, 1, 1, 0, 4)
    rows = report_rows(tmp_path / "report.jsonl")
    assert [(r["file"], r["record"], r["kind"], r["duplicate_of"]["record"]) for r in rows] == [
        (str(src), 2, "exact", 1), (str(src), 5, "near", 1)]
    assert rows[1]["text"] == "avocado" and rows[1]["duplicate_of"]["text"] == "apple pie"
    assert rows[1]["score"] == pytest.approx(1.0) and rows[1]["exact"] is False


def test_csv_quoted_multiline_fields_and_crlf_stay_byte_identical(tmp_path):
    header = b'id,text,note\r\n'
    rows = [
        b'1,"apple\r\npie, with ""quotes""",first\r\n',  # a quoted field across two lines
        b'2,banana,"a note\nover\nthree lines"\r\n',
        b'3,"Apple\r\npie, with ""quotes""",repeat\r\n',  # exact repeat of record 1 (case differs)
        b'4,cherry,\r\n',
        b'5,bagel,near banana',  # no final line ending
    ]
    src = write(tmp_path / "t.csv", header + b"".join(rows))
    s = run_api(tmp_path, [src])
    assert (tmp_path / "out" / "t.csv").read_bytes() == header + rows[0] + rows[1] + rows[3]
    assert (s.records, s.exact_removed, s.near_removed) == (5, 1, 1)
    got = report_rows(tmp_path / "report.jsonl")
    assert [(r["record"], r["kind"], r["duplicate_of"]["record"]) for r in got] == [(3, "exact", 1), (5, "near", 2)]
    assert got[0]["text"] == 'Apple\r\npie, with "quotes"'


def test_tsv_with_a_header(tmp_path):
    src = write(tmp_path / "t.tsv", b'text\tlabel\n"apple\t1\nbanana\t0\n"Apple\t1\n')
    s = run_api(tmp_path, [src])
    # TSV has no quoting: the quote is part of the text, and line 3 repeats line 1
    assert (tmp_path / "out" / "t.tsv").read_bytes() == b'text\tlabel\n"apple\t1\nbanana\t0\n'
    assert s.exact_removed == 1 and report_rows(tmp_path / "report.jsonl")[0]["text"] == '"Apple'


def test_several_text_fields_are_joined_with_a_newline(tmp_path):
    src = write(tmp_path / "q.jsonl", b'{"title": "apple", "body": "one"}\n{"title": "avocado", "body": "two"}\n'
                                      b'{"title": "apple", "body": "ONE"}\n')
    s = run_api(tmp_path, [src], text_fields=["title", "body"])
    rows = report_rows(tmp_path / "report.jsonl")
    assert [(r["record"], r["kind"], r["text"]) for r in rows] == [
        (2, "near", "avocado\ntwo"), (3, "exact", "apple\nONE")]
    assert s.kept == 1


def test_parquet_in_and_out_keeps_the_schema_and_filters_rows(tmp_path):
    schema = pa.schema([("id", pa.int64()), ("text", pa.large_string()), ("score", pa.float32()),
                        ("tags", pa.list_(pa.string()))], metadata={b"origin": b"test"})
    table = pa.table({"id": [10, 11, 12, 13, 14], "text": ["apple", "banana", "APPLE", "cherry", "avocado"],
                      "score": [0.5, 1.5, 2.5, 3.5, 4.5], "tags": [["a"], [], ["c", "d"], None, ["e"]]},
                     schema=schema)
    src = tmp_path / "in" / "p.parquet"
    src.parent.mkdir()
    pq.write_table(table, src, compression="zstd", row_group_size=2)
    s = run_api(tmp_path, [src], report="report.parquet", id_field="id")
    out = tmp_path / "out" / "p.parquet"
    assert pq.read_schema(out).equals(pq.read_schema(src), check_metadata=True)
    assert pq.read_table(out).to_pylist() == table.take([0, 1, 3]).to_pylist()
    assert pq.ParquetFile(out).metadata.row_group(0).column(0).compression == "ZSTD"
    assert (s.exact_removed, s.near_removed) == (1, 1)
    rep = pq.read_table(tmp_path / "report.parquet").to_pylist()
    assert [(r["file"], r["record"], r["kind"], r["duplicate_of_record"], r["id"], r["duplicate_of_id"])
            for r in rep] == [(str(src), 3, "exact", 1, "12", "10"), (str(src), 5, "near", 1, "14", "10")]


def test_an_empty_parquet_shard_gives_an_empty_shard(tmp_path):
    src = tmp_path / "e.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), src)
    s = run_api(tmp_path, [src])
    assert s.records == 0 and pq.read_table(tmp_path / "out" / "e.parquet").num_rows == 0


# ----- several shards -----------------------------------------------------------------------


def test_mixed_shards_in_one_run_follow_shard_then_record_order(tmp_path):
    a = write(tmp_path / "a.jsonl", b'{"text": "banana"}\n{"text": "apple"}\n')
    b = write(tmp_path / "b.csv", b'text\nApple\ncherry\nbanana split\n')
    c = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["cherry", "date"]}), c)
    d = write(tmp_path / "d.txt", b"date\nelder\n")
    s = run_api(tmp_path, [a, b, c, d])
    out = tmp_path / "out"
    assert (out / "a.jsonl").read_bytes() == a.read_bytes()
    assert (out / "b.csv").read_bytes() == b"text\ncherry\n"
    assert pq.read_table(out / "c.parquet").to_pylist() == [{"text": "date"}]
    assert (out / "d.txt").read_bytes() == b"elder\n"
    rows = report_rows(tmp_path / "report.jsonl")
    assert [(r["file"], r.get("record", r.get("line")), r["duplicate_of"]["file"]) for r in rows] == [
        (str(b), 1, str(a)), (str(b), 3, str(a)), (str(c), 1, str(b)), (str(d), 1, str(c))]
    assert rows[-1]["line"] == 1 and "record" not in rows[-1]  # a text line is named by its line
    assert s.records == 9 and s.files_written == 4


def test_folders_and_globs_of_shards(tmp_path):
    shards = tmp_path / "shards"
    write(shards / "part-1.jsonl", b'{"text": "apple"}\n')
    write(shards / "part-0.jsonl", b'{"text": "Apple"}\n{"text": "kiwi"}\n')
    write(shards / "_SUCCESS", b"")
    write(shards / ".hidden.jsonl", b"not json\n")
    write(shards / "notes.md", b"# notes\n")
    assert [Path(p).name for p in expand_paths([shards], "jsonl")] == ["part-0.jsonl", "part-1.jsonl"]
    assert [Path(p).name for p in expand_paths([shards])] == ["notes.md", "part-0.jsonl", "part-1.jsonl"]
    assert [Path(p).name for p in expand_paths([str(shards / "part-*.jsonl")])] == ["part-0.jsonl", "part-1.jsonl"]
    with pytest.raises(InputFileError, match=r"nothing-\*\.jsonl: no file matches"):
        expand_paths([str(shards / "nothing-*.jsonl")])
    with pytest.raises(InputFileError, match="a folder without parquet files"):
        expand_paths([shards], "parquet")
    s = run_api(tmp_path, [shards], format="jsonl")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["part-0.jsonl", "part-1.jsonl"]
    assert (tmp_path / "out" / "part-1.jsonl").read_bytes() == b""  # a repeat of part-0's first record
    assert report_rows(tmp_path / "report.jsonl")[0]["duplicate_of"]["file"] == str(shards / "part-0.jsonl")
    assert s.records == 3


def test_engine_gets_the_distinct_texts_in_global_record_order(tmp_path):
    seen = []

    class Recording(LocalEngine):
        def near_duplicates(self, texts, *args, **kwargs):
            seen.append(list(texts))
            return super().near_duplicates(texts, *args, **kwargs)

    a = write(tmp_path / "a.csv", b'text,n\nbanana,1\napple,2\n')
    b = write(tmp_path / "b.jsonl", b'{"text": "BANANA"}\n{"text": "cherry"}\n')
    run_api(tmp_path, [a, b], engine=Recording())
    assert seen == [["banana", "apple", "cherry"]]


def test_record_formats_need_a_text_field_and_outputs_keep_their_rules(tmp_path):
    src = write(tmp_path / "a.jsonl", b'{"text": "apple"}\n')
    with pytest.raises(ArgumentError, match=r"a\.jsonl is jsonl: give --text-field NAME"):
        run_api(tmp_path, [src], text_fields=())
    with pytest.raises(ArgumentError, match="does not go with --format jsonl"):
        run_api(tmp_path, [src], unit="file", format="jsonl")
    with pytest.raises(OutputError, match="refusing to write over an input"):
        dedup_files([src], tmp_path, None, FirstLetter(), threshold=0.99, text_fields=["text"])
    run_api(tmp_path, [src])
    with pytest.raises(OutputError, match="already exists"):
        run_api(tmp_path, [src], report=None)
    run_api(tmp_path, [src], report=None, overwrite=True)
    assert not [p for p in tmp_path.rglob(".*") if ".tmp-" in p.name or ".old-" in p.name]


# ----- bad records --------------------------------------------------------------------------

BAD_CASES = {  # name -> (file name, content or table, expected message after "SHARD:RECORD: ")
    "not json": ("b.jsonl", b'{"text": "apple"}\n{"text": "banana"\n', r"b\.jsonl:2: not a JSON line"),
    "no field": ("b.jsonl", b'{"text": "apple"}\n{"body": "banana"}\n', r"b\.jsonl:2: no field 'text'"),
    "null text": ("b.jsonl", b'{"text": "apple"}\n{"text": null}\n', r"b\.jsonl:2: field 'text' is null, not a string"),
    "number text": ("b.jsonl", b'{"text": "apple"}\n{"text": 7}\n', r"b\.jsonl:2: field 'text' is int, not a string"),
    "not an object": ("b.jsonl", b'{"text": "apple"}\n["banana"]\n', r"b\.jsonl:2: a JSON list, not an object"),
    "csv fields": ("b.csv", b'id,text\n1,apple\r\n2,banana,extra\r\n',
                   r"b\.csv:2: 3 fields where the header has 2 \(line 3\)"),
    "tsv fields": ("b.tsv", b'id\ttext\n1\tapple\n2\tbanana\textra\n',
                   r"b\.tsv:2: 3 fields where the header has 2 \(line 3\)"),
    "csv quoting": ("b.csv", b'id,text\n1,apple\n2,"ban"ana\n', r"b\.csv:2: not valid CSV"),
    "parquet null": ("b.parquet", {"text": ["apple", None], "n": [1, 2]},
                     r"b\.parquet:2: column 'text' is null, not a string"),
    "parquet column": ("b.parquet", {"body": ["apple", "banana"]},
                       r"b\.parquet:1: no column 'text' \(columns: body\)"),
}


def _bad_shard(tmp_path: Path, case: str) -> Path:
    name, content, _ = BAD_CASES[case]
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    if isinstance(content, dict):
        pq.write_table(pa.table(content), path)
    else:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_a_bad_record_is_a_one_line_error_naming_shard_and_record(tmp_path, case):
    src = _bad_shard(tmp_path, case)
    with pytest.raises(InputFileError, match=BAD_CASES[case][2]) as err:
        run_api(tmp_path, [src])
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "report.jsonl").exists()


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_on_bad_skip_writes_the_bad_record_through_and_reports_it(tmp_path, case):
    src = _bad_shard(tmp_path, case)
    first = write(tmp_path / "in" / "a.jsonl", b'{"text": "apple"}\n')  # makes every readable "apple" a repeat
    s = run_api(tmp_path, [first, src], on_bad="skip")
    out = tmp_path / "out" / src.name
    rows = report_rows(tmp_path / "report.jsonl")
    bad = [r for r in rows if r["kind"] == "bad"]
    expected = BAD_CASES[case][2].split(": ", 1)[1]
    if case == "parquet column":  # the whole shard lacks the column: every row is bad, every row kept
        assert pq.read_table(out).equals(pq.read_table(src))
        assert s.bad == 2 and [r["record"] for r in bad] == [1, 2]
    elif src.suffix == ".parquet":  # "apple" repeats a.jsonl's and goes; the null row stays
        assert pq.read_table(out).equals(pq.read_table(src).slice(1))
        assert s.bad == 1 and [r["record"] for r in bad] == [2]
    else:  # the good record repeats a.jsonl's and goes; the bad one stays, byte for byte
        lines = src.read_bytes().splitlines(keepends=True)
        assert out.read_bytes() == (lines[0] + lines[2] if src.suffix in (".csv", ".tsv") else lines[1])
        assert s.bad == 1 and [r["record"] for r in bad] == [2]
        assert [r["kind"] for r in rows] == ["exact", "bad"]
    assert all(r["file"] == str(src) and re.match(expected, r["reason"]) and r["duplicate_of"] is None
               for r in bad)
    assert s.kept == s.records - s.exact_removed - s.near_removed


def test_a_json_array_file_gets_a_hint(tmp_path):
    src = write(tmp_path / "a.json", b'[\n{"text": "apple"}\n]\n')
    with pytest.raises(InputFileError, match=r"a\.json:1: not a JSON line .*a JSON array\?"):
        run_api(tmp_path, [src])


# ----- ids ----------------------------------------------------------------------------------


def test_id_field_names_records_in_the_report(tmp_path):
    a = write(tmp_path / "a.jsonl", b'{"uid": "x-1", "text": "apple"}\n{"uid": 42, "text": "APPLE"}\n')
    b = write(tmp_path / "b.csv", b'text,uid\napple,c-7\nbanana,c-8\n')
    run_api(tmp_path, [a, b], id_field="uid")
    rows = report_rows(tmp_path / "report.jsonl")
    assert [(r["id"], r["duplicate_of"]["id"]) for r in rows] == [(42, "x-1"), ("c-7", "x-1")]
    c = write(tmp_path / "c.jsonl", b'{"uid": 1, "text": "apple"}\n{"text": "kiwi"}\n')
    with pytest.raises(InputFileError, match=r"c\.jsonl:2: no field 'uid' \(the id field\)"):
        run_api(tmp_path, [c], id_field="uid", report=None, overwrite=True)


# ----- the command line ---------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny"
    make_tiny_model().save(path)
    return path


def cli(tiny_dir, *args):
    # the tiny model's probabilities stay below 0.9: at 0.95 only exact repeats are duplicates
    return runner.invoke(app, ["dedup", *[str(a) for a in args], "--model", str(tiny_dir), "--threshold", "0.95",
                               "--no-progress", "--workers", "1"])


def test_cli_jsonl_with_text_field_id_field_and_a_parquet_report(tmp_path, tiny_dir):
    src = write(tmp_path / "docs" / "part-0.jsonl",
                b'{"id": "a", "text": "How do I learn Python?"}\n{"id": "b", "text": "how do i learn python?"}\r\n'
                b'{"id": "c", "text": "bake bread"}\n')
    other = write(tmp_path / "docs" / "part-1.csv", b'id,text\r\nd,"bake\r\nsourdough"\r\ne,Bake bread\r\n')
    result = cli(tiny_dir, tmp_path / "docs", "--out", tmp_path / "out", "--text-field", "text",
                 "--id-field", "id", "--report", tmp_path / "r.parquet")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "part-0.jsonl").read_bytes() == src.read_bytes().replace(
        b'{"id": "b", "text": "how do i learn python?"}\r\n', b"")
    assert (tmp_path / "out" / "part-1.csv").read_bytes() == b'id,text\r\nd,"bake\r\nsourdough"\r\n'
    rep = pq.read_table(tmp_path / "r.parquet").to_pylist()
    assert [(Path(r["file"]).name, r["record"], r["kind"], r["id"], r["duplicate_of_id"]) for r in rep] == [
        ("part-0.jsonl", 2, "exact", "b", "a"), ("part-1.csv", 2, "exact", "e", "c")]
    assert "5 records read" in result.output and "removed 2 exact" in result.output
    assert other.read_bytes() == b'id,text\r\nd,"bake\r\nsourdough"\r\ne,Bake bread\r\n'  # inputs untouched


def test_cli_format_option_and_on_bad(tmp_path, tiny_dir):
    src = write(tmp_path / "records.txt", b'{"t": "bake bread", "u": "x"}\nnot json\n{"t": "Bake  bread"}\n')
    result = cli(tiny_dir, src, "--out", tmp_path / "o1", "--format", "jsonl", "--text-field", "t")
    assert result.exit_code == 1 and result.output.strip() == f"error: {src}:2: not a JSON line " \
        "(Expecting value: line 1 column 1 (char 0))"
    result = cli(tiny_dir, src, "--out", tmp_path / "o2", "--format", "jsonl", "--text-field", "t",
                 "--on-bad", "skip", "--report", tmp_path / "r.jsonl")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o2" / "records.txt").read_bytes() == b'{"t": "bake bread", "u": "x"}\nnot json\n'
    assert "1 bad record(s) not deduplicated" in result.output
    assert [r["kind"] for r in report_rows(tmp_path / "r.jsonl")] == ["bad", "exact"]
    # the same file read as text lines: three distinct lines
    result = cli(tiny_dir, src, "--out", tmp_path / "o3")
    assert result.exit_code == 0 and (tmp_path / "o3" / "records.txt").read_bytes() == src.read_bytes()


def test_cli_reads_records_from_stdin_with_an_explicit_format(tmp_path, tiny_dir):
    data = '\ufeff{"text": "bake bread"}\n{"text": "BAKE BREAD"}\n'.encode()
    result = runner.invoke(app, ["dedup", "-", "--format", "jsonl", "--text-field", "text", "--out",
                                 str(tmp_path / "out"), "--model", str(tiny_dir), "--threshold", "0.95",
                                 "--no-progress", "--workers", "1"], input=data)
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["stdin.jsonl"]
    assert (tmp_path / "out" / "stdin.jsonl").read_bytes() == data.split(b"\n")[0] + b"\n"  # BOM kept


@pytest.mark.parametrize("args, needle", [
    (["--text-field", "text", "--engine", "local", "--address", "127.0.0.1:6379"], "--address goes with --engine ray"),
    ([], "is jsonl: give --text-field NAME"),
    (["--text-field", "text", "--unit", "file", "--format", "csv"], "does not go with --format csv"),
])
def test_cli_option_mistakes_are_one_line(tmp_path, tiny_dir, args, needle):
    src = write(tmp_path / "a.jsonl", b'{"text": "bake bread"}\n')
    result = cli(tiny_dir, src, "--out", tmp_path / "out", *args)
    text = result.output.strip()
    assert result.exit_code in (1, 2) and text.startswith("error: ") and "\n" not in text and needle in text, text


def test_cli_help_names_the_record_options():
    result = runner.invoke(app, ["dedup", "--help"], terminal_width=200, env={"COLUMNS": "200"})
    for option in ("--format", "--text-field", "--id-field", "--on-bad", "--engine", "--address"):
        assert option in result.output
    assert "newline" in result.output  # several --text-field values are joined with one


# ----- the light core -----------------------------------------------------------------------


def test_records_without_pyarrow_installed(tmp_path):
    """JSONL needs no pyarrow; a Parquet shard without it is one line naming the extra."""
    write(tmp_path / "a.jsonl", b'{"text": "apple"}\n{"text": "Apple"}\n')
    write(tmp_path / "b.parquet", b"PAR1")
    script = textwrap.dedent(f'''
        import importlib.abc, sys

        class Blocked(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "pyarrow":
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

        sys.meta_path.insert(0, Blocked())
        import numpy as np
        from pathlib import Path
        from siamese_text.dedup.files import dedup_files
        from siamese_text.errors import SiameseTextError

        class Same:
            def encode(self, texts):
                return np.ones((len(texts), 4), dtype=np.float32)

        t = Path({str(tmp_path)!r})
        s = dedup_files([t / "a.jsonl"], t / "out", None, Same(), threshold=0.99, text_fields=["text"])
        print(s.exact_removed, "pyarrow" in sys.modules)
        try:
            dedup_files([t / "b.parquet"], t / "out2", None, Same(), threshold=0.99, text_fields=["text"])
        except SiameseTextError as exc:
            print(type(exc).__name__, exc)
    ''')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.strip().splitlines()
    assert first == "1 False"
    assert second == "MissingExtra reading Parquet needs pyarrow: pip install 'siamese-text[parquet]'"

