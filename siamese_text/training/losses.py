"""Losses on energies (distances): pure functions of tensors, no model involved.

Labels follow the corpora: 1 = genuine pair (same meaning), 0 = impostor pair.
"""

from __future__ import annotations

from enum import Enum

import torch


class Loss(str, Enum):
    """Training objective."""

    contrastive = "contrastive"
    online_contrastive = "online_contrastive"
    triplet = "triplet"


def contrastive_loss(energy: torch.Tensor, labels: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Contrastive loss (Hadsell, Chopra & LeCun, CVPR 2006).

    mean over the batch of  y * E^2 / 2 + (1 - y) * max(0, margin - E)^2 / 2.

    Args:
        energy: (B,) distances.
        labels: (B,) 1 for genuine pairs, 0 for impostors.
        margin: impostors closer than this are pushed apart.
    """
    y = labels.to(energy.dtype)
    genuine = y * energy.pow(2)
    impostor = (1.0 - y) * torch.relu(margin - energy).pow(2)
    return 0.5 * (genuine + impostor).mean()


def online_contrastive_loss(energy: torch.Tensor, labels: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Contrastive loss on the hard pairs of a batch only.

    Hard genuine pairs are farther apart than the closest impostor pair; hard impostors are closer
    than the farthest genuine pair. A batch with only one class uses all its pairs. Summed as
    sum(E_pos^2) + sum(max(0, margin - E_neg)^2), divided by the batch size, halved.
    """
    y = labels.bool()
    pos, neg = energy[y], energy[~y]
    if len(pos) and len(neg):
        hard_pos = pos[pos > neg.min()]
        hard_neg = neg[neg < pos.max()]
    else:
        hard_pos, hard_neg = pos, neg
    total = hard_pos.pow(2).sum() + torch.relu(margin - hard_neg).pow(2).sum()
    return 0.5 * total / max(len(energy), 1)


def triplet_loss(energy_pos: torch.Tensor, energy_neg: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Triplet loss (Schroff, Kalenichenko & Philbin, FaceNet, CVPR 2015).

    mean over the batch of max(0, E(anchor, positive) - E(anchor, negative) + margin).
    """
    return torch.relu(energy_pos - energy_neg + margin).mean()
