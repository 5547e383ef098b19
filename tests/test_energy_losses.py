"""Energies point the right way and have finite gradients; losses match values worked by hand."""

import math

import pytest
import torch

from siamese_text.model.energy import Energy, energy_fn, pairwise_energy, similarity_from_energy
from siamese_text.training.losses import contrastive_loss, online_contrastive_loss, triplet_loss

ENERGIES = [e.value for e in Energy]


@pytest.mark.parametrize("kind", ENERGIES)
def test_lower_energy_means_more_alike(kind):
    a = torch.tensor([[1.0, 0.0, 0.0]])
    near = torch.tensor([[0.9, 0.1, 0.0]])
    far = torch.tensor([[-1.0, 0.5, 0.2]])
    fn = energy_fn(kind)
    assert fn(a, a).item() == pytest.approx(0.0, abs=1e-5)
    assert fn(a, near).item() < fn(a, far).item()
    sim_near = similarity_from_energy(fn(a, near), kind).item()
    sim_far = similarity_from_energy(fn(a, far), kind).item()
    assert 0.0 <= sim_far < sim_near <= 1.0


@pytest.mark.parametrize("kind", ENERGIES)
def test_gradient_is_finite_at_zero_distance(kind):
    x = torch.tensor([[0.3, -0.2, 0.5]], requires_grad=True)
    y = x.detach().clone().requires_grad_(True)
    energy_fn(kind)(x, y).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()


def test_energy_values_by_hand():
    a = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    assert energy_fn("euclidean")(a, b).tolist() == pytest.approx([5.0, math.sqrt(2)])
    assert energy_fn("manhattan")(a, b).tolist() == pytest.approx([7.0, 2.0])
    assert energy_fn("cosine")(a[1:], b[1:]).tolist() == pytest.approx([1.0])  # orthogonal


@pytest.mark.parametrize("kind", ENERGIES)
def test_pairwise_energy_matches_rowwise(kind):
    torch.manual_seed(0)
    a, b = torch.randn(4, 6), torch.randn(3, 6)
    m = pairwise_energy(a, b, kind)
    assert m.shape == (4, 3)
    for i in range(4):
        for j in range(3):
            assert m[i, j].item() == pytest.approx(energy_fn(kind)(a[i : i + 1], b[j : j + 1]).item(), abs=1e-4)


def test_similarity_from_energy_on_numbers_and_arrays():
    import numpy as np

    assert similarity_from_energy(0.0, "euclidean") == 1.0
    assert similarity_from_energy(2.0, "cosine") == 0.0
    assert np.allclose(similarity_from_energy(np.array([0.0, 1.0]), "manhattan"), [1.0, math.exp(-1)])


def test_contrastive_loss_by_hand():
    e = torch.tensor([0.2, 0.3, 1.5])
    y = torch.tensor([1.0, 0.0, 0.0])
    # genuine: 0.2^2 = 0.04; impostor inside margin 1: (1 - 0.3)^2 = 0.49; outside: 0
    assert contrastive_loss(e, y, margin=1.0).item() == pytest.approx(0.5 * (0.04 + 0.49 + 0.0) / 3)


def test_online_contrastive_uses_only_hard_pairs():
    e = torch.tensor([0.1, 0.8, 0.5, 1.2])
    y = torch.tensor([1, 1, 0, 0])
    # hard positives: > min negative 0.5 -> 0.8; hard negatives: < max positive 0.8 -> 0.5
    expected = 0.5 * (0.8**2 + (1.0 - 0.5) ** 2) / 4
    assert online_contrastive_loss(e, y, margin=1.0).item() == pytest.approx(expected)
    # a batch with no hard pairs costs nothing
    assert online_contrastive_loss(torch.tensor([0.1, 0.9]), torch.tensor([1, 0]), 1.0).item() == 0.0


def test_triplet_loss_by_hand():
    pos = torch.tensor([0.2, 1.0])
    neg = torch.tensor([1.5, 0.5])
    # max(0, 0.2 - 1.5 + 1) = 0; max(0, 1.0 - 0.5 + 1) = 1.5
    assert triplet_loss(pos, neg, margin=1.0).item() == pytest.approx(0.75)


@pytest.mark.parametrize("kind", ENERGIES)
def test_losses_on_each_energy_by_hand(kind):
    anchor = torch.tensor([[1.0, 0.0]])
    positive = torch.tensor([[0.0, 1.0]])
    negative = torch.tensor([[-1.0, 0.0]])
    d_pos = {"euclidean": math.sqrt(2), "manhattan": 2.0, "cosine": 1.0}[kind]
    d_neg = {"euclidean": 2.0, "manhattan": 2.0, "cosine": 2.0}[kind]
    fn = energy_fn(kind)
    e_pos, e_neg = fn(anchor, positive), fn(anchor, negative)
    assert triplet_loss(e_pos, e_neg, margin=1.0).item() == pytest.approx(max(0.0, d_pos - d_neg + 1.0), abs=1e-5)
    got = contrastive_loss(torch.cat([e_pos, e_neg]), torch.tensor([1.0, 0.0]), margin=3.0).item()
    assert got == pytest.approx(0.5 * (d_pos**2 + (3.0 - d_neg) ** 2) / 2, abs=1e-5)


@pytest.mark.parametrize("loss", ["contrastive", "online", "triplet"])
def test_loss_gradients_pull_genuine_together(loss):
    e = torch.tensor([0.7, 0.6], requires_grad=True)  # genuine farther than impostor: all hard
    if loss == "triplet":
        triplet_loss(e[:1], e[1:], margin=1.0).backward()
        assert e.grad[0] > 0 and e.grad[1] < 0  # descending lowers E(a,p), raises E(a,n)
    else:
        fn = contrastive_loss if loss == "contrastive" else online_contrastive_loss
        fn(e, torch.tensor([1.0, 0.0]), margin=1.0).backward()
        assert e.grad[0] > 0 and e.grad[1] < 0
