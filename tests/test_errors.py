"""Every library error is a named kind of SiameseTextError (siamese_text/errors.py), so a caller can
catch one kind, or SiameseTextError for all of them."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import siamese_text
from siamese_text import errors
from siamese_text.corpora.formats import read_corpus
from siamese_text.corpora.pairs import read_pairs
from siamese_text.corpora.splits import SplitConfig
from siamese_text.dedup.index import Scoring
from siamese_text.errors import (ArgumentError, FolderError, InputError, InputFileError, OutputError,
                                 SiameseTextError)
from siamese_text.model.folder import ModelFolderError, UnsupportedModel
from siamese_text.model.siamese import SiameseModel
from siamese_text.text.vocab import Vocab

PACKAGE = Path(siamese_text.__file__).parent
# Modules whose raises another change is converting; each still raises SiameseTextError itself.
NOT_YET_NAMED: set[str] = set()


def test_every_kind_is_a_siamese_text_error():
    kinds = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]
    assert len(kinds) >= 8
    assert all(issubclass(c, SiameseTextError) for c in kinds)
    assert issubclass(ModelFolderError, FolderError) and issubclass(UnsupportedModel, ModelFolderError)
    assert issubclass(InputFileError, InputError)
    for name in [c.__name__ for c in kinds if c is not SiameseTextError]:
        assert name in errors.__doc__, f"{name} is missing from the hierarchy in errors.py's docstring"


def test_no_module_raises_the_bare_base_class():
    bare = []
    for file in sorted(PACKAGE.rglob("*.py")):
        rel = file.relative_to(PACKAGE).as_posix()
        if rel in NOT_YET_NAMED:
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "SiameseTextError":
                bare.append(f"{rel}:{node.lineno}")
    assert bare == [], "raise a named kind from siamese_text/errors.py instead: " + ", ".join(bare)
    for rel in NOT_YET_NAMED:  # the list shrinks as they are converted
        assert "SiameseTextError(" in (PACKAGE / rel).read_text(encoding="utf-8"), f"{rel} is done: drop it"


def test_each_kind_where_it_belongs(tmp_path):
    with pytest.raises(InputFileError, match="label must be 0 or 1"):
        (tmp_path / "pairs.tsv").write_text("a\tb\tyes\n", encoding="utf-8")
        read_pairs(tmp_path / "pairs.tsv")
    with pytest.raises(ArgumentError, match="unknown corpus format"):
        read_corpus(tmp_path / "pairs.tsv", "no-such-format")
    with pytest.raises(ArgumentError):
        SplitConfig(valid_fraction=0.7, test_fraction=0.7)
    with pytest.raises(ArgumentError, match="threshold must lie in"):
        Scoring.for_encoder(object(), threshold=7.0)
    with pytest.raises(InputFileError, match="file is missing"):
        Vocab.load(tmp_path / "vocab.txt")
    with pytest.raises(ArgumentError, match="backend must be one of"):
        SiameseModel.load(backend="abacus")


def test_a_bad_vocabulary_in_a_model_folder_is_a_model_folder_error(tmp_path, tiny_model):
    folder = tiny_model.save(tmp_path / "model")
    (folder / "vocab.txt").write_bytes(b"<pad>\n<unk>\n\xff\n")
    with pytest.raises(ModelFolderError, match="vocab.txt: not valid UTF-8"):
        SiameseModel.load(folder)


def test_an_existing_output_is_an_output_error(tmp_path):
    from siamese_text.dedup.collection import embed_file

    source = tmp_path / "in.txt"
    source.write_text("a\n", encoding="utf-8")
    (tmp_path / "out.npy").write_bytes(b"old")
    with pytest.raises(OutputError, match="already exists"):
        embed_file(source, tmp_path / "out.npy")
    with pytest.raises(OutputError, match="refusing to write over the input"):
        embed_file(source, source, overwrite=True)
    assert source.read_text(encoding="utf-8") == "a\n" and (tmp_path / "out.npy").read_bytes() == b"old"
