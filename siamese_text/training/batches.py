"""Batching helpers of the training loops: seeding, length-bucketed batches, mined triplets."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch

from siamese_text.corpora.pairs import Pair, Triplet


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices whose items have similar lengths (less padding).

    Indices are shuffled, cut into chunks of 50 batches, each chunk sorted by length and cut
    into batches, and the batches shuffled again.
    """
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(idx), chunk):
        part = sorted(idx[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[j : j + batch_size] for j in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def mine_triplets(pairs: Sequence[Pair], seed: int = 0) -> list[Triplet]:
    """Triplets from labelled pairs: each genuine pair (a, b) with a negative for a.

    The negative is an impostor partner of a or b when the data has one, else a random text.
    """
    rng = random.Random(seed)
    impostors: dict[str, list[str]] = {}
    for p in pairs:
        if p.label == 0:
            impostors.setdefault(p.a, []).append(p.b)
            impostors.setdefault(p.b, []).append(p.a)
    texts = sorted({t for p in pairs for t in (p.a, p.b)})
    triplets = []
    for p in pairs:
        if p.label != 1:
            continue
        candidates = impostors.get(p.a) or impostors.get(p.b)
        negative = rng.choice(candidates) if candidates else rng.choice(texts)
        if negative in (p.a, p.b):
            continue
        triplets.append(Triplet(p.a, p.b, negative))
    return triplets
