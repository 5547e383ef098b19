"""Tokens -> ids -> padded arrays: what the Encoder eats.

A Featurizer turns each text into a `Features` record once (token ids plus the n-gram buckets of
each token); `pad_batch` packs a list of them into NumPy arrays with vectorised copies (no
per-token Python loop), and `collate` wraps those as the tensors of `Encoder.forward`.
Nothing here imports torch until `collate` is called, so the NumPy inference path stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Protocol

import numpy as np

from siamese_text.text.tokenizer import Tokenizer
from siamese_text.text.vocab import Vocab, subword_ids

if TYPE_CHECKING:  # pragma: no cover
    import torch


class FeatureSettings(Protocol):
    """The encoder settings features depend on (model.folder.EncoderConfig has them all)."""

    max_tokens: int
    subword_buckets: int
    subword_min_n: int
    subword_max_n: int


@dataclass(frozen=True)
class Features:
    """One text, ready for the encoder: ids (length <= max_tokens) and n-gram buckets per token."""

    ids: tuple[int, ...]
    subwords: tuple[tuple[int, ...], ...]  # empty when subwords are off

    def __len__(self) -> int:
        return len(self.ids)


class Featurizer:
    """text -> Features, with the tokenizer, vocabulary and encoder settings of one model.

    `config` is the model's EncoderConfig (any FeatureSettings will do). With `unknown_only`, only
    words outside the vocabulary get their n-grams (known words get an empty tuple): for an
    encoder that reads known words' n-gram means from a table (`NumpyEncoder.know_words`), which
    saves hashing and copying n-grams for most tokens. Training needs them all (the default).
    """

    def __init__(self, tokenizer: Tokenizer, vocab: Vocab, config: FeatureSettings,
                 unknown_only: bool = False) -> None:
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.config = config
        self.unknown_only = unknown_only

    def from_tokens(self, tokens: list[str]) -> Features:
        tokens = tokens[: self.config.max_tokens]
        c = self.config
        ids = self.vocab.encode(tokens)
        if not c.subword_buckets:
            return Features(tuple(ids), ())
        n_min, n_max, buckets = c.subword_min_n, c.subword_max_n, c.subword_buckets
        if self.unknown_only:
            subs = tuple(subword_ids(t, n_min, n_max, buckets) if i == Vocab.unk_id else ()
                         for t, i in zip(tokens, ids))
        else:
            subs = tuple(subword_ids(t, n_min, n_max, buckets) for t in tokens)
        return Features(tuple(ids), subs)

    def __call__(self, texts: Sequence[str]) -> list[Features]:
        """Features of each text, in order."""
        return [self.from_tokens(toks) for toks in self.tokenizer.pipe(texts)]


def pad_batch(batch: Sequence[Features], use_subwords: bool) -> dict[str, np.ndarray]:
    """Pad a batch into int64 arrays (the NumPy twin of `collate`).

    Returns:
        ids (B, T), lengths (B,), and with subwords: sub_ids (S,), sub_offsets (B*T,) and
        sub_counts (B*T,) in `nn.EmbeddingBag` layout (position b*T + t owns
        sub_ids[offsets[b*T+t] : offsets[b*T+t] + counts[b*T+t]]).
    """
    B = len(batch)
    lengths = np.fromiter((len(f) for f in batch), dtype=np.int64, count=B)
    T = int(lengths.max(initial=0)) or 1
    mask = np.arange(T) < lengths[:, None]  # (B, T); row-major order = concatenation order
    ids = np.zeros((B, T), dtype=np.int64)
    ids[mask] = np.fromiter(chain.from_iterable(f.ids for f in batch), dtype=np.int64, count=int(lengths.sum()))
    out = {"ids": ids, "lengths": lengths}
    if use_subwords:
        per_token = list(chain.from_iterable(f.subwords for f in batch))  # one tuple per real token
        counts = np.zeros((B, T), dtype=np.int64)
        counts[mask] = np.fromiter(map(len, per_token), dtype=np.int64, count=len(per_token))
        counts = counts.reshape(-1)  # (B*T,)
        offsets = np.zeros(B * T, dtype=np.int64)
        np.cumsum(counts[:-1], out=offsets[1:])
        sub_ids = np.fromiter(chain.from_iterable(per_token), dtype=np.int64, count=int(counts.sum()))
        out.update(sub_ids=sub_ids, sub_offsets=offsets, sub_counts=counts)
    return out


def drop_words(batch: dict[str, "torch.Tensor"], p: float) -> dict[str, "torch.Tensor"]:
    """Training-time word dropout: each known word id becomes `<unk>` with probability p.

    The token keeps its character n-grams, so the encoder learns to read a word from its n-grams
    alone, which is all it has at test time for a word its vocabulary lacks. Draws from torch's
    seeded generator (deterministic for a fixed seed, and restored on --resume).
    """
    import torch

    if p <= 0:
        return batch
    ids = batch["ids"]
    dropped = (torch.rand(ids.shape) < p) & (ids > Vocab.unk_id)
    return {**batch, "ids": ids.masked_fill(dropped, Vocab.unk_id)}


def collate(batch: Sequence[Features], use_subwords: bool) -> dict[str, "torch.Tensor"]:
    """Pad a batch into the keyword arguments of `Encoder.forward`.

    Returns:
        ids (B, T) long, lengths (B,) long, and with subwords: sub_ids (S,) long,
        sub_offsets (B*T,) long, sub_counts (B*T,) long.
    """
    import torch

    return {k: torch.from_numpy(v) for k, v in pad_batch(batch, use_subwords).items()}
