"""Tokens -> ids -> padded tensors: what the Encoder eats.

A Featurizer turns each text into a `Features` record once (token ids plus the n-gram buckets of
each token), and `collate` packs a list of them into the (B, T) tensors of `Encoder.forward`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .encoder import EncoderConfig
from .tokenizer import Tokenizer
from .vocab import Vocab, subword_ids


@dataclass(frozen=True)
class Features:
    """One text, ready for the encoder: ids (length <= max_tokens) and n-gram buckets per token."""

    ids: tuple[int, ...]
    subwords: tuple[tuple[int, ...], ...]  # empty when subwords are off

    def __len__(self) -> int:
        return len(self.ids)


class Featurizer:
    """text -> Features, with the tokenizer, vocabulary and encoder settings of one model."""

    def __init__(self, tokenizer: Tokenizer, vocab: Vocab, config: EncoderConfig) -> None:
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.config = config

    def from_tokens(self, tokens: list[str]) -> Features:
        tokens = tokens[: self.config.max_tokens]
        c = self.config
        subs = tuple(subword_ids(t, c.subword_min_n, c.subword_max_n, c.subword_buckets) for t in tokens) \
            if c.subword_buckets else ()
        return Features(tuple(self.vocab.encode(tokens)), subs)

    def __call__(self, texts: Sequence[str]) -> list[Features]:
        """Features of each text, in order."""
        return [self.from_tokens(toks) for toks in self.tokenizer.pipe(texts)]


def collate(batch: Sequence[Features], use_subwords: bool) -> dict[str, torch.Tensor]:
    """Pad a batch into the keyword arguments of `Encoder.forward`.

    Returns:
        ids (B, T) long, lengths (B,) long, and with subwords: sub_ids (S,) long,
        sub_offsets (B*T,) long, sub_counts (B*T,) long.
    """
    B = len(batch)
    T = max((len(f) for f in batch), default=0) or 1
    ids = torch.zeros(B, T, dtype=torch.long)
    lengths = torch.tensor([len(f) for f in batch], dtype=torch.long)
    for i, f in enumerate(batch):
        if f.ids:
            ids[i, : len(f)] = torch.tensor(f.ids, dtype=torch.long)
    out = {"ids": ids, "lengths": lengths}
    if use_subwords:
        flat: list[int] = []
        counts = [0] * (B * T)
        for i, f in enumerate(batch):
            for t, grams in enumerate(f.subwords):
                counts[i * T + t] = len(grams)
                flat.extend(grams)
        counts_t = torch.tensor(counts, dtype=torch.long)
        offsets = torch.zeros(B * T, dtype=torch.long)
        offsets[1:] = torch.cumsum(counts_t, 0)[:-1]
        out.update(sub_ids=torch.tensor(flat, dtype=torch.long), sub_offsets=offsets, sub_counts=counts_t)
    return out
