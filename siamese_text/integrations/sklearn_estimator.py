"""SiameseClassifier: the Siamese BiLSTM as a scikit-learn classifier of text pairs.

X is an array-like of shape (n_pairs, 2) holding two texts per row; y holds two classes, and
the larger one (in sorted order: 1, True, "same"...) means "the two texts mean the same".

    clf = SiameseClassifier(epochs=5).fit(X_train, y_train)
    clf.predict_proba(X_test)[:, 1]          # calibrated probability of "same meaning"
    cross_val_score(SiameseClassifier(), X, y, cv=5)
"""

from __future__ import annotations

import numpy as np

from siamese_text.extras import require
from siamese_text.model.folder import EncoderConfig

require("sklearn", "sklearn")  # without scikit-learn: one line naming `pip install 'siamese-text[sklearn]'`
from scipy.sparse import issparse  # noqa: E402  (scikit-learn's own dependency)
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.utils.multiclass import type_of_target  # noqa: E402
from sklearn.utils.validation import check_is_fitted, check_random_state, column_or_1d  # noqa: E402

_EPS = 1e-12  # keeps the log-odds finite at probabilities 0 and 1


class SiameseClassifier(ClassifierMixin, BaseEstimator):
    """Paraphrase classifier for text pairs, with scikit-learn's conventions.

    `fit` holds out `validation_fraction` of the pairs for early stopping, probability
    calibration and the decision threshold, and trains on the rest. The hold-out keeps every text
    on one side of the split when the pairs' shared texts allow a part of about that size with
    both labels; otherwise (one giant web of shared texts, tiny data) it is stratified at random.

    Args:
        embedding_dim, hidden_size, num_layers, pooling, dropout, subword_buckets, max_tokens:
            the encoder (see EncoderConfig); subword_buckets=0 turns character n-grams off.
        loss, energy, margin, epochs, batch_size, lr, patience, calibration: training
            (see TrainConfig).
        validation_fraction: share of the pairs held out inside `fit`.
        random_state: seed of the split and the training. An int (or a RandomState) makes `fit`
            reproducible and leaves every global generator alone: training draws from its own
            generators (see `Trainer.fit`). None follows scikit-learn's convention: one seed is
            drawn from NumPy's global generator.

    Attributes:
        model_: the trained SiameseModel (use it for encode / similarity / most_similar).
        classes_: the two labels, sorted; classes_[1] means "same meaning".
        threshold_: probability at or above which `predict` says classes_[1].
        history_: one dict of numbers per training epoch.
        n_features_in_: always 2 (two texts per row).
    """

    def __init__(self, embedding_dim: int = 64, hidden_size: int = 64, num_layers: int = 1,
                 pooling: str = "max", dropout: float = 0.1, subword_buckets: int = EncoderConfig.subword_buckets,
                 max_tokens: int = 64, loss: str = "contrastive", energy: str = "cosine",
                 margin: float = 0.5, epochs: int = 5, batch_size: int = 64, lr: float = 2e-3,
                 patience: int = 2, calibration: str = "platt", validation_fraction: float = 0.2,
                 random_state: int | None = 0) -> None:
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.pooling = pooling
        self.dropout = dropout
        self.subword_buckets = subword_buckets
        self.max_tokens = max_tokens
        self.loss = loss
        self.energy = energy
        self.margin = margin
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.calibration = calibration
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(self, X, y) -> SiameseClassifier:
        """Train on text pairs X (n, 2) with labels y (n,); returns self."""
        from siamese_text.corpora.pairs import Pair
        from siamese_text.training.batches import global_random_state_kept
        from siamese_text.training.trainer import TrainConfig, Trainer

        classes = check_binary_labels(y)
        y = column_or_1d(y)  # a column vector was accepted above, with a warning
        texts = check_pairs(X, n_labels=len(y))
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie in (0, 1), got {self.validation_fraction}")
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        labels = (y == classes[1]).astype(int)
        pairs = [Pair(str(a), str(b), int(label)) for (a, b), label in zip(texts, labels)]
        with global_random_state_kept():  # what scikit-learn's first import of model_selection draws
            train, valid = self._split(pairs, labels, seed)
        config = TrainConfig(loss=self.loss, energy=self.energy, margin=self.margin, epochs=self.epochs,
                             batch_size=self.batch_size, lr=self.lr, patience=self.patience, seed=seed,
                             calibration=self.calibration)
        encoder_options = dict(embedding_dim=self.embedding_dim, hidden_size=self.hidden_size,
                               num_layers=self.num_layers, pooling=self.pooling, dropout=self.dropout,
                               subword_buckets=self.subword_buckets, max_tokens=self.max_tokens)
        trainer = Trainer(config, encoder_options, progress=False)
        self.model_ = trainer.fit(train, valid, trained_on=f"{len(train)} pairs given to SiameseClassifier.fit")
        self.classes_ = classes
        self.threshold_ = float(self.model_.threshold)
        self.history_ = list(trainer.history_)
        self.n_features_in_ = 2
        return self

    def _split(self, pairs: list, labels: np.ndarray, seed: int) -> tuple[list, list]:
        """Hold out validation pairs: leak-free (no text in both parts) when the pairs' shared
        texts allow a part of about the asked size with both labels, else stratified at random."""
        from sklearn.model_selection import train_test_split

        from siamese_text.corpora.pairs import split_pairs

        train, valid = split_pairs(pairs, [1.0 - self.validation_fraction, self.validation_fraction], seed=seed)
        big_enough = len(valid) >= 0.5 * self.validation_fraction * len(pairs)  # not one giant component
        if big_enough and len({p.label for p in valid}) == 2 and len({p.label for p in train}) == 2:
            return train, valid
        if min(np.bincount(labels, minlength=2)) < 2:
            raise ValueError("each class needs at least 2 pairs (one to train on, one held out)")
        train_idx, valid_idx = train_test_split(np.arange(len(pairs)), test_size=self.validation_fraction,
                                                stratify=labels, random_state=seed)
        return [pairs[i] for i in train_idx], [pairs[i] for i in valid_idx]

    def predict_proba(self, X) -> np.ndarray:
        """(n, 2): column 1 is the calibrated probability that the two texts mean the same."""
        check_is_fitted(self, "model_")
        texts = check_pairs(X)
        p = self.model_.probabilities(texts[:, 0].tolist(), texts[:, 1].tolist())  # (n,)
        return np.column_stack([1.0 - p, p])

    def decision_function(self, X) -> np.ndarray:
        """(n,) log-odds of "same meaning" minus those of the threshold: > 0 means classes_[1]."""
        p = np.clip(self.predict_proba(X)[:, 1], _EPS, 1 - _EPS)
        t = min(max(self.threshold_, _EPS), 1 - _EPS)
        return np.log(p / (1 - p)) - np.log(t / (1 - t))

    def predict(self, X) -> np.ndarray:
        """(n,) labels: classes_[1] where the probability reaches threshold_, else classes_[0]."""
        p = self.predict_proba(X)[:, 1]
        return self.classes_[(p >= self.threshold_).astype(int)]

    def __getstate__(self) -> dict:
        """Pickle (joblib.dump) the fitted model as its folder's files, not as torch objects."""
        from siamese_text.model.packing import pack_model

        state = dict(super().__getstate__())  # a copy: never touch self.__dict__
        if "model_" in state:
            state["model_"] = pack_model(state["model_"])
        return state

    def __setstate__(self, state: dict) -> None:
        from siamese_text.model.packing import unpack_model

        if isinstance(state.get("model_"), dict):
            state = {**state, "model_": unpack_model(state["model_"])}
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.string = True
        tags.classifier_tags.multi_class = False
        return tags


def check_binary_labels(y) -> np.ndarray:
    """The two sorted classes of y, or a ValueError in the words scikit-learn's checks expect."""
    if y is None:
        raise ValueError("SiameseClassifier requires y to be passed, but the target y is None")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:  # a column vector: used as 1-D, with scikit-learn's warning
        y = column_or_1d(y, warn=True)
    if y.ndim != 1:
        raise ValueError(f"y should be a 1d array of labels, got shape {y.shape}")
    y_type = type_of_target(y, input_name="y", raise_unknown=True)
    if y_type != "binary":
        raise ValueError(f"Only binary classification is supported. The type of the target is {y_type}.")
    classes = np.unique(y)
    if len(classes) != 2:
        raise ValueError(f"SiameseClassifier needs two classes in y, got {len(classes)} class")
    return classes


def check_pairs(X, n_labels: int | None = None) -> np.ndarray:
    """X as an (n, 2) object array of str, or a ValueError/TypeError saying what is wrong; with
    `n_labels`, a count of rows that differs is said before anything about the rows' contents."""
    if issparse(X):
        raise TypeError("X is a sparse matrix: sparse input is not supported; give two texts per row")
    if hasattr(X, "to_numpy"):  # a pandas DataFrame
        X = X.to_numpy()
    elif not isinstance(X, (list, tuple, np.ndarray)) and hasattr(X, "__array__"):  # any other array-like
        X = np.asarray(X, dtype=object)
    shape = np.shape(X) if isinstance(X, np.ndarray) else None
    if shape is not None and (len(shape) != 2 or shape[1] != 2):
        if len(shape) == 2 and shape[1] < 2:  # scikit-learn's own words, for its checks and its users
            raise ValueError(f"{shape[1]} feature(s) (shape={shape}) while a minimum of 2 is required: "
                             "X must hold two texts per row")
        advice = ". Reshape your data into rows of two texts" if len(shape) == 1 else ""
        raise ValueError(f"X must hold two texts per row (shape (n, 2)), got shape {shape}{advice}")
    if n_labels is not None and len(X) != n_labels:
        raise ValueError(f"y should be a 1d array with one label per pair: X has {len(X)} rows, y {n_labels} labels")
    arr = np.empty((len(X), 2), dtype=object)
    for i, row in enumerate(X):
        if isinstance(row, str) or not hasattr(row, "__len__") or len(row) != 2:
            raise ValueError(f"X must hold two texts per row (shape (n, 2)); row {i} is {str(row)[:60]!r}")
        for j, text in enumerate(row):
            if not isinstance(text, str):
                raise TypeError(f"X[{i}, {j}] must be a str, got {type(text).__name__}")
        arr[i] = row
    if len(arr) == 0:
        raise ValueError("X holds no pairs")
    return arr
