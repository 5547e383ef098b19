"""The Encoder's forward pass in NumPy: same numbers as torch_encoder.py, without importing torch.

Weights come from model.safetensors through `safetensors.numpy` under the names of the torch
state dict (embedding.weight, subword.weight, lstm.weight_ih_l0[_reverse], ..., projection.*).
The LSTM follows torch.nn.LSTM (gates i, f, g, o; b_ih + b_hh) and runs like a packed sequence:
rows are sorted by length so that at step t only the first n_t rows, those still running, are
computed. tests/test_numpy_encoder.py checks the output against the torch Encoder (torch_encoder.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from itertools import chain

import numpy as np

from siamese_text.model.folder import POOLINGS, EncoderConfig
from siamese_text.text.vocab import subword_ids

_ROWS_LOCK = threading.Lock()  # module-level, so that an encoder still pickles (dedup's workers)


class NumpyEncoder:
    """One tower of the Siamese network, evaluated with NumPy (inference only, no dropout).

    Args:
        config: the EncoderConfig.
        weights: the Encoder's state dict as arrays (any float dtype; kept as float32).
    """

    def __init__(self, config: EncoderConfig, weights: Mapping[str, np.ndarray]) -> None:
        if config.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {config.pooling!r}")
        self.config = config
        H = config.hidden_size
        w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        self.weights = w  # as given (torch's names and layout), for saving and for other backends
        self.embedding = w["embedding.weight"]  # (V, E)
        self.subword = w.get("subword.weight") if config.subword_buckets else None  # (S, E)
        self._bags: np.ndarray | None = None  # cache: mean n-gram vector of each known word id
        self._has_bag: np.ndarray | None = None
        self._tokens: list[str] | None = None  # the vocabulary, once know_words() is called
        self._rows: np.ndarray | None = None  # then: word vector + mean n-gram vector of each id
        self._has_row: np.ndarray | None = None
        # torch's gate order is i, f, g, o; reorder to i, f, o, g so one slice holds the sigmoid
        # gates. sigmoid(x) = (1 + tanh(x / 2)) / 2: the i, f, o columns are pre-scaled by 1/2, so
        # one tanh over all 4H columns, plus 1, gives 2i, 2f, 2o and g (see _run_direction).
        # The recurrence then carries 2h; W_hh (and the next layer's W_ih) are halved to match,
        # and the pooled vector is halved once at the end.
        order = np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]
        gate_scale = np.r_[np.full(3 * H, 0.5), np.ones(H)].astype(np.float32)
        self.layers = []  # per layer: [(W_ih^T (in, 4H), W_hh^T (H, 4H), bias (4H,)) forward, backward]
        for layer in range(config.num_layers):
            dirs = []
            in_scale = 1.0 if layer == 0 else 0.5  # a deeper layer reads the 2h of the one below
            for suffix in ("", "_reverse"):
                name = f"l{layer}{suffix}"
                dirs.append((np.ascontiguousarray(w[f"lstm.weight_ih_{name}"][order].T * (gate_scale * in_scale)),
                             np.ascontiguousarray(w[f"lstm.weight_hh_{name}"][order].T * (gate_scale * 0.5)),
                             (w[f"lstm.bias_ih_{name}"] + w[f"lstm.bias_hh_{name}"])[order] * gate_scale))
            self.layers.append(dirs)
        self.projection = None
        if config.output_dim:
            self.projection = (np.ascontiguousarray(w["projection.weight"].T), w["projection.bias"])

    def __getstate__(self) -> dict:
        """Pickled without the caches of known words' rows (a worker refills its own)."""
        return {**self.__dict__, "_bags": None, "_has_bag": None, "_rows": None, "_has_row": None}

    def know_words(self, tokens: Sequence[str]) -> None:
        """Read known words' n-grams from their strings (`tokens`: the vocabulary in id order).

        Then each known word's row of the embedding table (word vector + mean n-gram vector) is
        computed once, on first sight, from the word itself, and features need n-grams only for
        words outside the vocabulary (`Featurizer(unknown_only=True)`): what `SiameseModel` does.
        """
        if len(tokens) != len(self.embedding):
            raise ValueError(f"{len(tokens)} tokens for an embedding table of {len(self.embedding)} rows")
        self._tokens = list(tokens)
        self._rows = self._has_row = None

    @property
    def knows_words(self) -> bool:
        """True when known words' n-grams come from the vocabulary (see `know_words`)."""
        return self._tokens is not None

    def _mean_grams(self, grams: Sequence[Sequence[int]]) -> np.ndarray:
        """Mean n-gram vector of each tuple of bucket ids (none empty). -> (P, E)"""
        counts = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        starts = np.zeros(len(grams), dtype=np.int64)
        np.cumsum(counts[:-1], out=starts[1:])
        flat = np.fromiter(chain.from_iterable(grams), dtype=np.int64, count=int(counts.sum()))
        sums = np.add.reduceat(self.subword[flat], starts, axis=0)  # (P, E)
        return sums / counts[:, None].astype(np.float32)

    def _bag_means(self, sub_ids, sub_offsets, sub_counts, positions: np.ndarray) -> np.ndarray:
        """Mean n-gram vector of each given position (all must have n-grams). -> (P, E)"""
        counts = sub_counts[positions]
        starts = np.zeros(len(positions), dtype=np.int64)
        np.cumsum(counts[:-1], out=starts[1:])
        # flat index of every n-gram of the chosen positions, in order
        take = np.repeat(sub_offsets[positions] - starts, counts) + np.arange(int(counts.sum()))
        sums = np.add.reduceat(self.subword[sub_ids[take]], starts, axis=0)  # (P, E)
        return sums / counts[:, None].astype(np.float32)

    def _word_rows(self, ids: np.ndarray) -> np.ndarray:
        """The table of rows (word vector + mean n-gram vector), filled for every known id in `ids`."""
        with _ROWS_LOCK:  # encode's threads share one table
            if self._rows is None:
                has_row = np.zeros(len(self.embedding), dtype=bool)
                has_row[:2] = True
                rows = np.zeros(self.embedding.shape, np.float32)  # (V, E), calloc'd; only rows marked in has_row are read
                rows[:2] = self.embedding[:2]  # <pad>, <unk>: their word vectors (n-grams come per position)
                self._rows, self._has_row = rows, has_row
        rows, has_row = self._rows, self._has_row
        flat = ids.reshape(-1)
        if has_row[flat].all():
            return rows
        with _ROWS_LOCK:  # one thread fills a word's row; another waiting for it finds it filled
            missing = flat[~has_row[flat]]
            if len(missing):
                new = np.array(sorted(set(missing.tolist())), dtype=np.int64)  # (np.unique imports numpy.ma)
                c = self.config
                grams = [subword_ids(self._tokens[i], c.subword_min_n, c.subword_max_n, c.subword_buckets)
                         for i in new]
                rows[new] = self.embedding[new] + self._mean_grams(grams)
                has_row[new] = True
        return rows

    def embed(self, ids: np.ndarray, sub_ids=None, sub_offsets=None, sub_counts=None) -> np.ndarray:
        """Token vectors: word vector plus the mean of its n-gram vectors. (B, T) -> (B, T, E)

        A known word's n-grams depend only on its id, so their mean is computed once per id and
        kept (most words of a corpus repeat): from the word's string once `know_words` was called
        (the features' n-grams of known words are then ignored), else from the features. Unknown
        words (id 1) take their n-grams from the features, every time.
        """
        if self.subword is None:
            return self.embedding[ids]
        if self._tokens is not None:
            x = self._word_rows(ids)[ids]  # (B, T, E)
            if sub_ids is None or not len(sub_ids):
                return x
            B, T, E = x.shape
            unknown = np.flatnonzero((ids.reshape(-1) == 1) & (sub_counts > 0))
            if len(unknown):
                x = x.reshape(B * T, E)
                x[unknown] += self._bag_means(sub_ids, sub_offsets, sub_counts, unknown)
                x = x.reshape(B, T, E)
            return x
        x = self.embedding[ids]  # (B, T, E)
        if sub_ids is None or not len(sub_ids):
            return x
        B, T, E = x.shape
        flat_ids = ids.reshape(-1)
        filled = np.flatnonzero(sub_counts)  # positions with at least one n-gram
        known = filled[flat_ids[filled] >= 2]
        unknown = filled[flat_ids[filled] < 2]
        if self._bags is None:
            self._bags = np.zeros_like(self.embedding)  # (V, E), row i valid once _has_bag[i]
            self._has_bag = np.zeros(len(self.embedding), dtype=bool)
        new_ids, first = np.unique(flat_ids[known], return_index=True)
        todo = ~self._has_bag[new_ids]
        if todo.any():
            self._bags[new_ids[todo]] = self._bag_means(sub_ids, sub_offsets, sub_counts, known[first[todo]])
            self._has_bag[new_ids[todo]] = True
        x = x.reshape(B * T, E)
        x[known] += self._bags[flat_ids[known]]
        if len(unknown):
            x[unknown] += self._bag_means(sub_ids, sub_offsets, sub_counts, unknown)
        return x.reshape(B, T, E)

    def _run_direction(self, x: np.ndarray, steps: np.ndarray, params, reverse: bool) -> np.ndarray:
        """One LSTM direction over rows sorted by length, longest first, time-major.

        x: (T, B, n_in); steps[t] = number of rows still running at step t.
        Returns: 2h at every step, (T, B, H), zeros past each row's end.
        """
        w_ih, w_hh, bias = params
        T, B, _ = x.shape
        H = w_hh.shape[0]
        xw = (x.reshape(T * B, -1) @ w_ih).reshape(T, B, 4 * H)  # (T, B, 4H), gates i/2, f/2, o/2, g
        xw += bias
        out = np.zeros((T, B, H), dtype=np.float32)
        c = np.zeros((B, H), dtype=np.float32)
        gates_buf = np.empty((B, 4 * H), dtype=np.float32)
        tmp_buf = np.empty((B, H), dtype=np.float32)
        prev = None
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            n = steps[t]
            if n == 0:
                continue
            gates, tmp, c_n = gates_buf[:n], tmp_buf[:n], c[:n]
            if prev is None:  # h = 0 before the first step
                np.copyto(gates, xw[t, :n])
            else:
                np.matmul(out[prev, :n], w_hh, out=gates)  # 2h (H) @ W_hh / 2
                gates += xw[t, :n]
            np.tanh(gates, out=gates)
            gates[:, : 3 * H] += 1.0  # 2i, 2f, 2o; then g
            c_n *= gates[:, H : 2 * H]  # 2 f c
            np.multiply(gates[:, :H], gates[:, 3 * H :], out=tmp)  # 2 i g
            c_n += tmp
            c_n *= 0.5  # c = f c + i g
            np.tanh(c_n, out=tmp)
            np.multiply(gates[:, 2 * H : 3 * H], tmp, out=out[t, :n])  # 2 o tanh(c) = 2h
            prev = t
        return out

    def __call__(self, ids: np.ndarray, lengths: np.ndarray, sub_ids=None, sub_offsets=None,
                 sub_counts=None) -> np.ndarray:
        """(B, T) ids, (B,) lengths [, n-grams in EmbeddingBag layout] -> (B, D) float32 vectors.

        A row of length 0 gives a zero vector, as in the torch Encoder.
        """
        ids = np.asarray(ids)
        lengths = np.asarray(lengths, dtype=np.int64)
        B, T = ids.shape
        x = self.embed(ids, sub_ids, sub_offsets, sub_counts)  # (B, T, E)
        order = np.argsort(-lengths, kind="stable")  # longest first, as a packed sequence
        lens = lengths[order]
        x = np.ascontiguousarray(x[order].transpose(1, 0, 2))  # (T, B, E): a step's rows are contiguous
        steps = (lens[None, :] > np.arange(T)[:, None]).sum(1)  # (T,) rows running at step t
        fwd = bwd = None
        for dirs in self.layers:
            fwd = self._run_direction(x, steps, dirs[0], reverse=False)
            bwd = self._run_direction(x, steps, dirs[1], reverse=True)
            x = np.concatenate([fwd, bwd], axis=2)  # (T, B, 2H), holding 2h
        pooling = self.config.pooling
        if pooling == "mean":
            pooled = x.sum(0) / np.maximum(lens, 1)[:, None].astype(np.float32)  # (B, 2H); pads are 0
        elif pooling == "max":
            mask = np.arange(T)[:, None, None] < lens[None, :, None]  # (T, B, 1)
            pooled = np.where(mask, x, -np.inf).max(0)  # (B, 2H)
        else:  # final forward state (at each row's last step) and final backward state (step 0)
            rows = np.arange(B)
            pooled = np.concatenate([fwd[np.maximum(lens - 1, 0), rows], bwd[0]], axis=1)  # (B, 2H)
        pooled = np.where(lens[:, None] > 0, pooled * 0.5, 0.0).astype(np.float32)  # 2h -> h
        if self.projection is not None:
            w, b = self.projection
            pooled = np.where(lens[:, None] > 0, pooled @ w + b, 0.0).astype(np.float32)  # (B, D)
        result = np.empty_like(pooled)
        result[order] = pooled
        return result
