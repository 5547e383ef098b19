"""The one line reader (corpora/lines.py): what a line is, and one-line FILE:LINE errors."""

import io
import sys

import pytest

from siamese_text.corpora.lines import iter_lines, read_lines, read_whole
from siamese_text.errors import SiameseTextError


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_endings_bom_blank_lines_and_a_last_line_without_ending(tmp_path):
    f = write(tmp_path / "t.txt", b"\xef\xbb\xbfone\r\n\ntwo \r\nthree")
    assert list(iter_lines(f)) == [(1, "one", b"\xef\xbb\xbfone\r\n"), (2, "", b"\n"), (3, "two ", b"two \r\n"),
                                   (4, "three", b"three")]
    assert read_lines(f) == ["one", "", "two ", "three"]  # text i is line i + 1
    assert read_lines(write(tmp_path / "e.txt", b"")) == []
    assert read_lines(write(tmp_path / "n.txt", b"\n")) == [""]
    # a lone CR is not a line break, and only one ending is removed
    assert read_lines(write(tmp_path / "cr.txt", b"a\rb\r\r\n")) == ["a\rb\r"]
    # a BOM is dropped at the start of the file only
    assert read_lines(write(tmp_path / "b.txt", b"x\n\xef\xbb\xbfy\n")) == ["x", "\ufeffy"]


def test_invalid_utf8_names_file_line_and_byte_or_is_replaced(tmp_path):
    f = write(tmp_path / "bad.txt", b"fine\nab\xffc\n")
    with pytest.raises(SiameseTextError, match=r"bad\.txt:2: not valid UTF-8 \(byte 3 of the line\); "
                                               r"convert the file to UTF-8$") as info:
        list(iter_lines(f))
    assert "\n" not in str(info.value)
    with pytest.raises(SiameseTextError, match=r"^in\.txt:2: .*; pass --errors replace"):
        list(iter_lines(f, name="in.txt", hint="pass --errors replace"))
    assert read_lines(f, errors="replace") == ["fine", "ab\ufffdc"]
    with pytest.raises(ValueError):
        list(iter_lines(f, errors="ignore"))


def test_nul_is_refused_unless_allowed(tmp_path):
    utf16 = write(tmp_path / "u.txt", "ab\ncd\n".encode("utf-16-le"))  # valid UTF-8, full of NULs
    with pytest.raises(SiameseTextError, match=r"u\.txt:1: holds a NUL character \(character 2 of the line\)"):
        read_lines(utf16)
    assert [text for _, text, _ in iter_lines(utf16, nul_ok=True)] == ["a\0b\0", "\0c\0d\0", "\0"]


def test_max_bytes_counts_the_text_not_the_ending_and_names_the_line(tmp_path):
    f = write(tmp_path / "long.txt", b"12345\r\n1234\n123456\n")
    assert [t for _, t, _ in iter_lines(f, max_bytes=6)] == ["12345", "1234", "123456"]
    with pytest.raises(SiameseTextError, match=r"long\.txt:3: line longer than 5 bytes"):
        list(iter_lines(f, max_bytes=5))
    huge = write(tmp_path / "huge.txt", b"ok\n" + b"x" * 100_000)
    with pytest.raises(SiameseTextError, match=r"huge\.txt:2: line longer than 10 bytes"):
        list(iter_lines(huge, max_bytes=10))


def test_standard_input_is_dash(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a\r\nb\xff\n")))
    with pytest.raises(SiameseTextError, match=r"^<stdin>:2: not valid UTF-8"):
        read_lines("-")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(SiameseTextError, match=r"absent\.txt: no such file"):
        read_lines(tmp_path / "absent.txt")
    with pytest.raises(SiameseTextError, match="is a folder, not a file"):
        read_lines(tmp_path)


def test_whole_file_record(tmp_path):
    f = write(tmp_path / "w.txt", b"\xef\xbb\xbfa\r\nb\n")
    assert read_whole(f) == (b"\xef\xbb\xbfa\r\nb\n", "a\r\nb\n")  # endings are part of a whole-file text
    with pytest.raises(SiameseTextError, match=r"^w\.bin: not valid UTF-8 \(byte 2\)"):
        read_whole(write(tmp_path / "x", b"a\xff"), name="w.bin")
    with pytest.raises(SiameseTextError, match="NUL"):
        read_whole(write(tmp_path / "z", b"a\0"))
    assert read_whole(tmp_path / "z", nul_ok=True)[1] == "a\0"


def test_every_reader_goes_through_it(tmp_path, monkeypatch):
    """Corpora, pair files, word vectors and dedup records report a bad line the same way."""
    from siamese_text.corpora import scan
    from siamese_text.corpora.formats import load_corpus
    from siamese_text.corpora.pairs import read_pairs
    from siamese_text.dedup.files import Source, iter_records
    from siamese_text.training.word_vectors import read_word_vectors

    f = write(tmp_path / "bad.tsv", b"a\tb\t1\nc\td\x00\t0\n")
    for read in (lambda: load_corpus(f, "tsv"), lambda: read_pairs(f)):
        with pytest.raises(SiameseTextError, match=r"bad\.tsv:2: holds a NUL character \(character 4 of the line\)"):
            read()
    vectors = write(tmp_path / "vec.txt", b"a 1 2\nb\x00 1 2\n")
    with pytest.raises(SiameseTextError, match=r"vec\.txt:2: holds a NUL character \(character 2 of the line\)"):
        read_word_vectors(vectors)
    assert [text for _, text in iter_records(Source("bad.tsv", f, "bad.tsv"), "line", "strict")][1] == "c\td\x00\t0"
    monkeypatch.setattr(scan, "MAX_LINE_BYTES", 5)
    with pytest.raises(SiameseTextError, match=r"bad\.tsv:2: line longer than 5 bytes"):
        load_corpus(f, "tsv")
