"""The tower: token ids (+ hashed character n-grams) -> packed BiLSTM -> masked pooling -> vector.

Both texts of a pair pass through the same Encoder instance, so the two towers share weights.
The training side trains it; `SiameseModel.load(backend="torch")` runs it for inference. Its
config (EncoderConfig) lives in folder.py, which needs no torch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from siamese_text.model.folder import EncoderConfig

__all__ = ["Encoder", "EncoderConfig"]


class Encoder(nn.Module):
    """One tower of the Siamese network.

    forward(ids, lengths, sub_ids=None, sub_offsets=None) -> (B, D) vectors, where
    ids is (B, T) long with 0 = padding, lengths is (B,) long (a length of 0 gives a zero vector),
    and sub_ids / sub_offsets are the flat n-gram bucket ids of each of the B * T positions in
    `nn.EmbeddingBag` layout (offsets has B * T entries).
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_dim, padding_idx=0)
        self.subword = (
            nn.EmbeddingBag(c.subword_buckets, c.embedding_dim, mode="sum") if c.subword_buckets else None
        )
        self.dropout = nn.Dropout(c.dropout)
        self.lstm = nn.LSTM(
            c.embedding_dim,
            c.hidden_size,
            num_layers=c.num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        self.projection = nn.Linear(2 * c.hidden_size, c.output_dim) if c.output_dim else None
        nn.init.normal_(self.embedding.weight, std=0.1)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        if self.subword is not None:
            nn.init.normal_(self.subword.weight, std=0.02)

    def embed(self, ids: torch.Tensor, sub_ids: torch.Tensor | None, sub_offsets: torch.Tensor | None,
              sub_counts: torch.Tensor | None) -> torch.Tensor:
        """Token vectors: the word vector plus the mean of its n-gram vectors. (B, T, E)"""
        x = self.embedding(ids)  # (B, T, E)
        if self.subword is not None and sub_ids is not None:
            bags = self.subword(sub_ids, sub_offsets)  # (B*T, E), zero for empty bags
            bags = bags / sub_counts.clamp_min(1).unsqueeze(1).to(bags.dtype)
            x = x + bags.view_as(x)
        return x

    def forward(
        self,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        sub_ids: torch.Tensor | None = None,
        sub_offsets: torch.Tensor | None = None,
        sub_counts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        B, T = ids.shape
        x = self.dropout(self.embed(ids, sub_ids, sub_offsets, sub_counts))  # (B, T, E)
        nonempty = lengths > 0
        safe_lengths = lengths.clamp_min(1).cpu()  # packing refuses 0; empty rows are zeroed below
        packed = pack_padded_sequence(x, safe_lengths, batch_first=True, enforce_sorted=False)
        out, (h_n, _) = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, 2H)
        mask = (torch.arange(T, device=ids.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2)  # (B, T, 1)
        pooling = self.config.pooling
        if pooling == "mean":
            pooled = (out * mask).sum(1) / lengths.clamp_min(1).unsqueeze(1).to(out.dtype)  # (B, 2H)
        elif pooling == "max":
            pooled = out.masked_fill(~mask, float("-inf")).max(1).values  # (B, 2H)
        else:  # last: final forward state and final backward state of the top layer
            pooled = torch.cat([h_n[-2], h_n[-1]], dim=1)  # (B, 2H)
        pooled = torch.where(nonempty.unsqueeze(1), pooled, torch.zeros_like(pooled))
        if self.projection is not None:
            pooled = self.projection(pooled)  # (B, D)
            pooled = torch.where(nonempty.unsqueeze(1), pooled, torch.zeros_like(pooled))
        return pooled
