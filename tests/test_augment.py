"""Edited copies of texts for distillation: one edit each, reproducible, paired with the source."""

import random

import numpy as np

from siamese_text.augment import augment, edit, word_neighbours
from siamese_text.distill import DistillConfig, distil_student
from siamese_text.embeddings import WordVectors

from conftest import TOY_PAIRS
from test_distill import BagTeacher

TEXTS = sorted({t for p in TOY_PAIRS for t in (p.a, p.b)})


def _one_edit_apart(a: str, b: str) -> bool:
    x, y = a.split(), b.split()
    if len(x) == len(y) + 1:  # a word deleted
        return any(x[:i] + x[i + 1:] == y for i in range(len(x)))
    if len(x) != len(y):
        return False
    diff = [i for i in range(len(x)) if x[i] != y[i]]
    if len(diff) == 1:  # a word replaced
        return True
    return len(diff) == 2 and diff[1] == diff[0] + 1 and x[diff[0]] == y[diff[1]] and x[diff[1]] == y[diff[0]]


def test_each_copy_is_its_source_with_one_edit():
    pairs = augment(TEXTS, 3, seed=1)
    assert len(pairs) > len(TEXTS)  # most texts give three distinct copies
    assert all(a in TEXTS for a, _ in pairs)
    edited = [b for _, b in pairs]
    assert len(set(edited)) == len(edited) and not set(edited) & set(TEXTS)  # each new text once
    assert all(_one_edit_apart(a, b) for a, b in pairs), [p for p in pairs if not _one_edit_apart(*p)]


def test_augmentation_is_reproducible_and_seeded():
    assert augment(TEXTS, 2, seed=3) == augment(TEXTS, 2, seed=3)
    assert augment(TEXTS, 2, seed=3) != augment(TEXTS, 2, seed=4)


def test_punctuation_and_capitals_survive_a_replacement():
    rng = random.Random(0)
    out = {edit("Python? is fun", rng, ["snake"], {"python": ["cobra"]}) for _ in range(60)}
    assert {"Cobra? is fun", "Snake? is fun"} <= out  # nearest word or random word, same casing and "?"
    assert "is Python? fun" in out and "Python? fun" in out  # swap, delete
    assert edit("Hi", rng, ["snake"]) is None  # one word: nothing to edit


def test_word_neighbours_are_nearest_by_cosine():
    words = ["cat", "kitten", "dog", "car"]
    v = np.array([[1, 0, 0], [0.9, 0.1, 0], [0.5, 0.5, 0], [0.1, 0.3, 1]], dtype=np.float32)
    found = word_neighbours(words, v, {"cat", "car", "absent"}, k=2, chunk=1)
    assert found == {"cat": ["kitten", "dog"], "car": ["dog", "kitten"]}


def test_nearest_word_replacements_come_from_the_vectors():
    vectors = WordVectors(words=["python", "cobra"], vectors=np.eye(2, dtype=np.float32) + 0.1, dim=2, lines=2)
    texts = ["learn python today", "python is a language"] * 1
    pairs = augment(texts, 30, seed=0, word_vectors=vectors)
    assert any("cobra" in b for _, b in pairs)


def test_distillation_adds_edited_copies_paired_with_their_source(tmp_path):
    teacher = BagTeacher()
    cfg = DistillConfig(epochs=1, batch_size=4)
    model = distil_student(TEXTS, teacher, cfg, dict(hidden_size=8, subword_buckets=0), augment=1,
                           cache=tmp_path / "t.npy", progress=False)
    encoded = [t for call in teacher.calls for t in call]
    copies = [b for _, b in augment(TEXTS, 1, seed=cfg.seed)]
    assert copies and set(encoded) == set(TEXTS) | set(copies)  # the teacher saw sources and copies
    assert model.meta["distilled_on"].startswith(f"{len(TEXTS) + len(copies)} unlabelled texts, {len(copies)} ")
