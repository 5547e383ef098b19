"""scikit-learn as the client: SiameseClassifier in clone, cross_val_score, GridSearchCV, Pipeline."""

import pickle
import random

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from siamese_text.integrations.sklearn_estimator import SiameseClassifier
from siamese_text.corpora.pairs import read_pairs

from conftest import shared_file

TINY = dict(embedding_dim=16, hidden_size=16, subword_buckets=0, pooling="mean", lr=1e-2, batch_size=32)
Q = "How do I learn Python?"
PARAPHRASE = "What is the best way to learn Python?"
UNRELATED = "How do I bake bread at home?"

# A tiny world: three intents, each worded three ways, about twenty topics. Same intent and
# topic = same meaning; another topic or another intent = different meaning.
TOPICS = ["python", "chess", "guitar", "french", "cooking", "painting", "swimming", "golf", "piano", "spanish",
          "drawing", "yoga", "java", "poker", "tennis", "knitting", "photography", "singing", "math", "physics"]
INTENTS = [
    ("how do i learn {}?", "what is the best way to learn {}?", "how can i get good at {}?"),
    ("where can i find a {} teacher?", "how do i find someone to teach me {}?", "who can teach me {}?"),
    ("is {} hard?", "how difficult is {}?", "is it hard to learn {}?"),
]


def toy_world(seed: int = 0) -> tuple[list[tuple[str, str]], np.ndarray]:
    """180 labelled pairs in random order: 60 paraphrases, 60 topic swaps, 60 intent swaps."""
    rng = random.Random(seed)
    rows = []
    for topic in TOPICS:
        for forms in INTENTS:
            a, b = rng.sample(forms, 2)
            other_topic = rng.choice([t for t in TOPICS if t != topic])
            other_forms = rng.choice([f for f in INTENTS if f is not forms])
            rows += [((a.format(topic), b.format(topic)), 1),
                     ((a.format(topic), rng.choice(forms).format(other_topic)), 0),
                     ((a.format(topic), rng.choice(other_forms).format(topic)), 0)]
    rng.shuffle(rows)
    return [r[0] for r in rows], np.array([r[1] for r in rows])


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models train faster on one thread, and the machine is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def world():
    return toy_world()


@pytest.fixture(scope="module")
def fitted(world):
    X, y = world
    return SiameseClassifier(epochs=20, patience=5, **TINY).fit(X[:150], y[:150])


def test_constructor_only_stores_hyperparameters():
    clf = SiameseClassifier(epochs=3, pooling="mean")
    assert clf.get_params()["epochs"] == 3 and clf.get_params()["pooling"] == "mean"
    assert not [k for k in vars(clf) if k.endswith("_")]  # nothing learned yet
    assert clf.set_params(epochs=7) is clf and clf.epochs == 7
    copy = clone(clf)
    assert copy is not clf and copy.get_params() == clf.get_params()
    with pytest.raises(NotFittedError):
        clf.predict([(Q, PARAPHRASE)])


def test_fit_returns_self_and_sets_learned_state(world, fitted):
    assert fitted.classes_.tolist() == [0, 1]
    assert 0.0 < fitted.threshold_ < 1.0 and fitted.n_features_in_ == 2
    assert fitted.model_.threshold == fitted.threshold_ and fitted.history_
    unfitted = clone(fitted)  # clone drops the learned state, keeps the hyperparameters
    assert not hasattr(unfitted, "model_") and unfitted.get_params() == fitted.get_params()


def test_predictions_agree_with_each_other_and_with_accuracy(world, fitted):
    X, y = world
    X_test, y_test = X[150:], y[150:]  # pairs the classifier never saw
    proba = fitted.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    decision = fitted.decision_function(X_test)
    predicted = fitted.predict(X_test)
    assert ((decision >= 0) == (predicted == 1)).all()
    assert ((proba[:, 1] >= fitted.threshold_) == (predicted == 1)).all()
    assert fitted.score(X_test, y_test) == accuracy_score(y_test, predicted)
    assert fitted.score(X_test, y_test) >= 0.75  # learned on 150 pairs, tested on 30 held out


def test_a_paraphrase_scores_higher_than_an_unrelated_pair(fitted):
    p = fitted.predict_proba([(Q, PARAPHRASE), (Q, UNRELATED), (Q, "How do I learn chess?")])[:, 1]
    assert p[0] > p[1] and p[0] > p[2]
    assert fitted.predict([(Q, PARAPHRASE)])[0] == 1


def test_cross_val_score_drives_fit_and_scoring(world):
    X, y = world
    scores = cross_val_score(SiameseClassifier(epochs=20, patience=5, **TINY), X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert scores.mean() > 0.75  # chance is 0.5


def test_same_seed_same_model_and_any_two_labels(world):
    X, y = world
    names = np.where(y == 1, "same", "different")
    a = SiameseClassifier(epochs=2, random_state=7, **TINY).fit(X[:90], y[:90])
    b = SiameseClassifier(epochs=2, random_state=7, **TINY).fit(X[:90], names[:90])
    np.testing.assert_allclose(a.predict_proba(X[90:]), b.predict_proba(X[90:]), atol=1e-6)
    assert b.classes_.tolist() == ["different", "same"]  # the larger label means "same meaning"
    assert set(b.predict(X[90:])) <= {"different", "same"}


def test_pickle_round_trip_keeps_predictions(world, fitted):
    X, _ = world
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.predict_proba(X[150:]), fitted.predict_proba(X[150:]), atol=1e-6)
    assert restored.get_params() == fitted.get_params()
    assert hasattr(fitted.model_, "encode")  # pickling did not replace the live model


def test_bad_input_is_refused(world):
    X, y = world
    clf = SiameseClassifier(epochs=1, **TINY)
    with pytest.raises(ValueError, match="two texts per row"):
        clf.fit([(a, b, "extra") for a, b in X], y)
    with pytest.raises(TypeError, match="must be a str"):
        clf.fit([(a, 3) for a, _ in X], y)
    with pytest.raises(ValueError, match="two classes"):
        clf.fit(X, np.ones(len(X), dtype=int))
    with pytest.raises(ValueError, match="one label per pair"):
        clf.fit(X, y[:-1])


@pytest.mark.slow
def test_grid_search_over_a_pipeline_from_a_dataframe(world):
    X, y = world
    frame = pd.DataFrame(X, columns=["question1", "question2"])
    frame["question2"] = "  " + frame["question2"] + "  "  # messy input the first step cleans up
    pipe = Pipeline([
        ("columns", FunctionTransformer(
            lambda df: df[["question1", "question2"]].apply(lambda s: s.str.strip()).to_numpy())),
        ("siamese", SiameseClassifier(epochs=20, patience=5, **TINY)),
    ])
    search = GridSearchCV(pipe, {"siamese__lr": [3e-3, 1e-2]}, cv=KFold(2, shuffle=True, random_state=0),
                          scoring="roc_auc")
    search.fit(frame, y)
    assert search.best_params_["siamese__lr"] in (3e-3, 1e-2)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.best_score_ > 0.6  # each fold trains on 90 pairs only; chance is 0.5
    best = search.best_estimator_
    p = best.predict_proba(pd.DataFrame([(Q, PARAPHRASE), (Q, UNRELATED)], columns=["question1", "question2"]))
    assert p[0, 1] > p[1, 1]


@pytest.mark.slow
def test_cross_val_score_on_real_quora_pairs():
    pairs = read_pairs(shared_file("qqp", "bimpm", "dev.tsv"), fmt="qqp-bimpm")[:600]
    X = [(p.a, p.b) for p in pairs]
    y = np.array([p.label for p in pairs])
    clf = SiameseClassifier(epochs=3, embedding_dim=32, hidden_size=32, subword_buckets=0)
    scores = cross_val_score(clf, X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and scores.mean() > 0.52  # 600 pairs only; chance is 0.5


def test_hold_out_is_leak_free_when_possible_and_sized_otherwise(world):
    from conftest import TOY_PAIRS

    clf = SiameseClassifier(validation_fraction=0.25)
    labels = np.array([p.label for p in TOY_PAIRS], dtype=int)
    train, valid = clf._split(list(TOY_PAIRS), labels, seed=0)
    assert len(train) + len(valid) == len(TOY_PAIRS) and {p.label for p in valid} == {0, 1}
    assert not {t for p in train for t in (p.a, p.b)} & {t for p in valid for t in (p.a, p.b)}
    # the toy world is one web of shared texts: a leak-free split would leave no hold-out at all
    X, y = world
    from siamese_text.corpora.pairs import Pair, split_pairs

    pairs = [Pair(a, b, int(label)) for (a, b), label in zip(X, y)]
    assert len(split_pairs(pairs, [0.75, 0.25], seed=0)[1]) < 10  # what a leak-free split gives
    train, valid = clf._split(pairs, y.astype(int), seed=0)
    assert len(valid) == pytest.approx(0.25 * len(pairs), abs=1)
    assert np.mean([p.label for p in valid]) == pytest.approx(y.mean(), abs=0.02)  # stratified
