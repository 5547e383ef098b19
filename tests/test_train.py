"""A tiny model learns the toy corpus: the loss falls, and training is deterministic."""

import numpy as np
import pytest
import torch

from siamese_text.training.trainer import Trainer, TrainConfig, length_batches

from conftest import TOY_PAIRS

SMALL = dict(embedding_dim=8, hidden_size=8, subword_buckets=64, dropout=0.0)


def _fit(loss="contrastive", energy="cosine", seed=0, epochs=8):
    cfg = TrainConfig(loss=loss, energy=energy, epochs=epochs, batch_size=4, lr=0.02, patience=100,
                      seed=seed, margin=0.5 if energy == "cosine" else 1.0)
    trainer = Trainer(cfg, SMALL, progress=False)
    model = trainer.fit(TOY_PAIRS, TOY_PAIRS, trained_on="toy")  # tiny world: validation = training
    return trainer, model


@pytest.mark.parametrize("loss", ["contrastive", "online_contrastive", "triplet"])
@pytest.mark.parametrize("energy", ["cosine", "euclidean", "manhattan"])
def test_loss_goes_down(loss, energy):
    trainer, model = _fit(loss, energy)
    losses = [h["loss"] for h in trainer.history_]
    assert losses[-1] < losses[0]
    assert model.meta["trained_on"] == "toy" and 0.0 <= model.threshold <= 1.0


def test_training_is_deterministic():
    _, a = _fit(seed=1, epochs=3)
    _, b = _fit(seed=1, epochs=3)
    assert a.weights.keys() == b.weights.keys()
    for k, v in a.weights.items():
        np.testing.assert_array_equal(v, b.weights[k], err_msg=k)


def test_trained_model_separates_toy_pairs():
    _, model = _fit(epochs=30)
    probs = model.probabilities([p.a for p in TOY_PAIRS], [p.b for p in TOY_PAIRS])
    labels = np.array([p.label for p in TOY_PAIRS])
    assert probs[labels == 1].mean() > probs[labels == 0].mean()


def test_length_batches_cover_everything_once():
    import random

    lengths = [5, 1, 3, 9, 2, 2, 7]
    batches = length_batches(lengths, 3, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert all(1 <= len(b) <= 3 for b in batches)


def test_config_rejects_nonsense():
    with pytest.raises(ValueError):
        TrainConfig(energy="chebyshev")
    with pytest.raises(ValueError):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError):
        TrainConfig(average=1.0)


def test_word_dropout_turns_known_words_into_unk_and_keeps_subwords():
    from siamese_text.text.features import collate, drop_words

    _, model = _fit(epochs=1)
    batch = collate(model.featurizer(["how do i learn python", "is it going to rain today", ""]), True)
    assert drop_words(batch, 0.0) is batch
    torch.manual_seed(0)
    all_gone = drop_words(batch, 1.0)
    known = batch["ids"] > 1
    assert known.any()
    assert (all_gone["ids"][known] == 1).all()  # every known word is <unk> ...
    assert torch.equal(all_gone["ids"][~known], batch["ids"][~known])  # ... padding and <unk> stay
    for key in ("lengths", "sub_ids", "sub_offsets", "sub_counts"):  # ... and the n-grams are untouched
        assert torch.equal(all_gone[key], batch[key]), key
    torch.manual_seed(0)
    first = drop_words(batch, 0.5)["ids"]
    torch.manual_seed(0)
    assert torch.equal(first, drop_words(batch, 0.5)["ids"])  # seeded, hence reproducible
    assert 0 < int((first[known] == 1).sum()) < int(known.sum())


def test_freeze_embeddings_keeps_the_word_table_and_trains_the_rest():
    cfg = TrainConfig(epochs=3, batch_size=4, lr=0.02, patience=100, seed=0, freeze_embeddings=True,
                      word_dropout=0.2)
    _, base = _fit(epochs=1)
    start = {k: torch.from_numpy(v.copy()) for k, v in base.weights.items()}
    model = Trainer(cfg, SMALL, progress=False).fit(TOY_PAIRS, TOY_PAIRS, trained_on="toy", init=base)
    after = {k: torch.from_numpy(v) for k, v in model.weights.items()}
    assert torch.equal(after["embedding.weight"], start["embedding.weight"])
    changed = [k for k in after if k != "embedding.weight" and not torch.equal(after[k], start[k])]
    assert "subword.weight" in changed and any(k.startswith("lstm.") for k in changed)
