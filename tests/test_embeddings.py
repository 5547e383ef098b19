"""Pretrained word vectors from GloVe / word2vec / fastText text files."""

import numpy as np
import pytest
import torch

from siamese_text.training.word_vectors import initialise_embedding, read_word_vectors, vector_dim
from siamese_text.errors import SiameseTextError
from siamese_text.training.trainer import Trainer, TrainConfig
from siamese_text.text.vocab import Vocab

from conftest import TOY_PAIRS

GLOVE = "python 0.1 0.2 0.3 0.4\nlearn -1 0 1 2.5\nCats 1e-1 2 3 4\nzebra 9 9 9 9\n"


def test_glove_and_word2vec_layouts(tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text(GLOVE, encoding="utf-8")
    w2v = tmp_path / "w2v.vec"
    w2v.write_text("4 4\n" + GLOVE, encoding="utf-8")
    for path in (glove, w2v):
        assert vector_dim(path) == 4
        vecs = read_word_vectors(path, wanted={"python", "cats"})
        assert vecs.words == ["python", "Cats"] and vecs.lines == 4  # "Cats" matches "cats" lower-cased
        np.testing.assert_allclose(vecs.vectors[0], [0.1, 0.2, 0.3, 0.4])


def test_initialise_embedding_copies_known_rows_only(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text(GLOVE, encoding="utf-8")
    vocab = Vocab(["<pad>", "<unk>", "python", "cats", "unseen"])
    weight = torch.full((5, 4), 7.0)
    weight[0] = 0
    found = initialise_embedding(weight, vocab, read_word_vectors(path))
    assert found == 2
    assert torch.allclose(weight[2], torch.tensor([0.1, 0.2, 0.3, 0.4]))
    assert torch.allclose(weight[3], torch.tensor([0.1, 2, 3, 4]))
    assert torch.equal(weight[4], torch.full((4,), 7.0)) and torch.equal(weight[0], torch.zeros(4))


def test_trainer_takes_width_and_rows_from_the_file(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("how " + " ".join(["0.5"] * 6) + "\npython " + " ".join(["-0.5"] * 6) + "\n", encoding="utf-8")
    cfg = TrainConfig(epochs=1, batch_size=4, embeddings=str(path))
    trainer = Trainer(cfg, dict(embedding_dim=8, hidden_size=4, subword_buckets=0), progress=False)
    model = trainer.fit(TOY_PAIRS, TOY_PAIRS)
    assert model.encoder_config.embedding_dim == 6
    assert trainer.pretrained_found_ == 2
    assert model.meta["train"]["embeddings"] == str(path)


@pytest.mark.parametrize("content, where", [
    ("a 1 2 3\nb 1 2\n", ":2: expected a word and 3 numbers, got 2"),
    ("3 2\na 1 2\nb 1 x\n", ":3: the vector of 'b' holds something that is not a number"),
    ("a 1 2\n\nc 1 nan\n", "holds NaN"),
    ("", "empty word-vector file"),
])
def test_malformed_files_name_file_and_line(tmp_path, content, where):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SiameseTextError) as err:
        vector_dim(path)
        read_word_vectors(path)
    assert str(path) in str(err.value) and where in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_encoding_and_missing_file(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a 1 2\n\xff\xfe 1 2\n")
    with pytest.raises(SiameseTextError, match=r"bad.txt:2: not valid UTF-8"):
        read_word_vectors(path)
    with pytest.raises(SiameseTextError, match="no such file"):
        read_word_vectors(tmp_path / "nope.txt")
