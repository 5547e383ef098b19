"""Distillation from a teacher encoder: a tiny fake teacher, never a download."""

import zlib

import numpy as np
import pytest
import torch

from siamese_text.training.distill import DistillConfig, Distiller, distill_loss, teacher_embeddings
from siamese_text.errors import SiameseTextError

from conftest import TOY_PAIRS


class BagTeacher:
    """A deterministic stand-in for a sentence encoder: the sum of fixed random word vectors."""

    def __init__(self, dim=16):
        self.dim, self.calls = dim, []

    def encode(self, texts, batch_size=32, **kwargs):
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace("?", " ").replace(".", " ").split():
                out[i] += np.random.default_rng(zlib.crc32(word.encode())).standard_normal(self.dim)
        return out


TEXTS = sorted({t for p in TOY_PAIRS for t in (p.a, p.b)})


def test_teacher_cache_is_reused_and_extended(tmp_path):
    cache = tmp_path / "teacher.npy"
    teacher = BagTeacher()
    first = teacher_embeddings(teacher, TEXTS[:5], cache, teacher_name="bag")
    assert first.shape == (5, 16) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    again = teacher_embeddings(teacher, [TEXTS[3], *TEXTS[:6]], cache, teacher_name="bag")
    assert teacher.calls == [TEXTS[:5], [TEXTS[5]]]  # only the new text was encoded
    np.testing.assert_allclose(again[0], first[3])
    np.testing.assert_allclose(again[1:6], first)
    assert np.load(cache).shape == (6, 16)
    with pytest.raises(SiameseTextError, match="cache holds embeddings of 'bag', not 'other'"):
        teacher_embeddings(teacher, TEXTS, cache, teacher_name="other")


def test_distill_loss_is_zero_when_the_student_matches():
    t = torch.nn.functional.normalize(torch.randn(6, 5), dim=1)
    assert distill_loss(t, t, t, DistillConfig()).item() == pytest.approx(0.0, abs=1e-6)
    assert distill_loss(torch.randn(6, 5), torch.randn(6, 5), t, DistillConfig()).item() > 0.1


def test_student_learns_the_teacher():
    teacher = BagTeacher()
    targets = teacher_embeddings(teacher, TEXTS)
    index = {t: i for i, t in enumerate(TEXTS)}
    pairs = [(index[p.a], index[p.b]) for p in TOY_PAIRS]
    cfg = DistillConfig(epochs=25, batch_size=4, lr=0.01, patience=100)
    distiller = Distiller(cfg, dict(embedding_dim=8, hidden_size=8, subword_buckets=0, dropout=0.0), progress=False)
    model = distiller.fit(TEXTS, targets, pairs, valid_pairs=TOY_PAIRS)
    losses = [h["loss"] for h in distiller.history_]
    assert losses[-1] < 0.5 * losses[0]
    assert "valid_roc_auc" in distiller.history_[0] and model.meta["distill"]["epochs"] == 25
    # the student's cosines now follow the teacher's
    s = model.encode(TEXTS)
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    iu = np.triu_indices(len(TEXTS), 1)
    assert np.corrcoef((s @ s.T)[iu], (targets @ targets.T)[iu])[0, 1] > 0.5


def test_teacher_neighbours_pairs_each_text_with_its_nearest():
    from siamese_text.training.distill import teacher_neighbours

    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [-1, 0]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert teacher_neighbours(v, 1, chunk=2) == [(0, 1), (2, 3), (2, 4)]  # [-1, 0] is nearest to [0, 1]


def test_student_starts_from_word_vectors_and_extends_its_vocabulary(tmp_path):
    vectors = tmp_path / "words.txt"
    rng = np.random.default_rng(0)
    table = {w: rng.standard_normal(8).round(4) for w in ("python", "learn", "zeppelin", "quokka")}
    vectors.write_text("4 8\n" + "".join(w + " " + " ".join(map(str, v)) + "\n" for w, v in table.items()))
    teacher = BagTeacher()
    targets = teacher_embeddings(teacher, TEXTS)
    cfg = DistillConfig(epochs=2, batch_size=4, lr=0.01, embeddings=str(vectors), extend_vocab=True,
                        freeze_embeddings=True, word_dropout=0.1)
    distiller = Distiller(cfg, dict(embedding_dim=3, hidden_size=8, subword_buckets=64, dropout=0.0), progress=False)
    model = distiller.fit(TEXTS, targets)
    assert model.encoder_config.embedding_dim == 8  # the width of the file wins
    assert "zeppelin" in model.vocab and "quokka" in model.vocab  # words no text holds, from the file
    assert model.vocab.itos[-2:] == ["zeppelin", "quokka"]  # after the texts' own words
    weight = model.weights["embedding.weight"]
    for word, vector in table.items():  # frozen: still exactly the file's vectors after distilling
        np.testing.assert_allclose(weight[model.vocab.stoi[word]], vector, atol=1e-6)
    assert distiller.pretrained_found_ == 4
    small = Distiller(DistillConfig(epochs=1, batch_size=4, embeddings=str(vectors), extend_vocab=True,
                                    max_vocab=len(model.vocab) - 1),
                      dict(hidden_size=8, subword_buckets=0), progress=False).fit(TEXTS, targets)
    assert len(small.vocab) == len(model.vocab) - 1 and "quokka" not in small.vocab  # max_vocab caps it
