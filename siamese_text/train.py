"""A plain training loop: seeded, Adam, gradient clipping, early stopping, then calibration."""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .calibration import best_threshold, fit_calibration
from .encoder import Encoder, EncoderConfig
from .energy import Energy, energy_fn
from .features import Featurizer, Features, collate
from .losses import Loss, contrastive_loss, online_contrastive_loss, triplet_loss
from .model import SiameseModel
from .pairs import Pair, Triplet
from .tokenizer import Tokenizer, TokenizerConfig
from .vocab import Vocab


@dataclass(frozen=True)
class TrainConfig:
    """How to train; stored in the model's config.json under meta.train."""

    loss: str = Loss.contrastive.value
    energy: str = Energy.cosine.value
    margin: float = 0.5  # cosine distance lies in [0, 2]; Euclidean towers want about 1-2
    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip_norm: float = 1.0
    patience: int = 3  # epochs without a better validation ROC-AUC before stopping
    seed: int = 0
    min_freq: int = 1
    max_vocab: int = 30_000
    calibration: str = "platt"
    threads: int = 0  # 0 = leave torch's default

    def __post_init__(self) -> None:
        Loss(self.loss)
        Energy(self.energy)
        if self.epochs < 1 or self.batch_size < 2 or self.lr <= 0:
            raise ValueError("epochs >= 1, batch_size >= 2 and lr > 0")


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


class Trainer:
    """Trains one encoder on pairs; `fit` returns a calibrated SiameseModel.

    Args:
        config: training settings.
        encoder_options: EncoderConfig fields other than vocab_size.
        tokenizer_config: how texts become tokens.
        on_epoch: called after each epoch with a dict of that epoch's numbers.
    """

    def __init__(self, config: TrainConfig, encoder_options: dict | None = None,
                 tokenizer_config: TokenizerConfig | None = None,
                 on_epoch: Callable[[dict], None] | None = None, progress: bool = True) -> None:
        self.config = config
        self.encoder_options = dict(encoder_options or {})
        self.tokenizer = Tokenizer(tokenizer_config)
        self.on_epoch = on_epoch
        self.progress = progress
        self.history_: list[dict] = []

    def _features(self, texts: list[str], featurizer: Featurizer, cache: dict[str, Features]) -> None:
        todo = [t for t in dict.fromkeys(texts) if t not in cache]
        for text, feats in zip(todo, featurizer(todo)):
            cache[text] = feats

    def fit(self, train_pairs: Sequence[Pair], valid_pairs: Sequence[Pair], trained_on: str = "") -> SiameseModel:
        """Train on `train_pairs`, stop early and calibrate on `valid_pairs` (held out).

        Returns:
            The model at the epoch with the best validation ROC-AUC, calibrated, with its
            threshold and validation metrics in `meta`.
        """
        from sklearn.metrics import roc_auc_score

        c = self.config
        seed_everything(c.seed)
        if c.threads:
            torch.set_num_threads(c.threads)
        train_pairs = [p for p in train_pairs if p.label in (0, 1)]
        valid_pairs = [p for p in valid_pairs if p.label in (0, 1)]
        if not train_pairs or len({p.label for p in valid_pairs}) < 2:
            raise ValueError("training needs labelled pairs, and validation needs both labels")

        train_texts = [t for p in train_pairs for t in (p.a, p.b)]
        vocab = Vocab.build((self.tokenizer(t) for t in dict.fromkeys(train_texts)),
                            min_freq=c.min_freq, max_size=c.max_vocab)
        enc_config = EncoderConfig(vocab_size=len(vocab), **self.encoder_options)
        encoder = Encoder(enc_config)
        model = SiameseModel(encoder, vocab, c.energy, tokenizer_config=self.tokenizer.config)
        featurizer = model.featurizer
        cache: dict[str, Features] = {}
        self._features(train_texts + [t for p in valid_pairs for t in (p.a, p.b)], featurizer, cache)

        use_sub = bool(enc_config.subword_buckets)
        distance = energy_fn(c.energy)
        optimizer = torch.optim.Adam(encoder.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        rng = random.Random(c.seed)
        if c.loss == Loss.triplet.value:
            items: list = mine_triplets(train_pairs, seed=c.seed)
            lengths = [len(cache[t.anchor]) + len(cache[t.positive]) + len(cache[t.negative]) for t in items]
        else:
            items = list(train_pairs)
            lengths = [len(cache[p.a]) + len(cache[p.b]) for p in items]

        best_auc, best_state, best_epoch, stale = -1.0, None, 0, 0
        for epoch in range(1, c.epochs + 1):
            encoder.train()
            started, total, seen = time.perf_counter(), 0.0, 0
            batches = length_batches(lengths, c.batch_size, rng)
            for batch in _progress(batches, f"epoch {epoch}/{c.epochs}", self.progress):
                chosen = [items[i] for i in batch]
                if c.loss == Loss.triplet.value:
                    texts = [t.anchor for t in chosen] + [t.positive for t in chosen] + [t.negative for t in chosen]
                else:
                    texts = [p.a for p in chosen] + [p.b for p in chosen]
                vecs = encoder(**collate([cache[t] for t in texts], use_sub))  # (kB, D), one pass for all sides
                n = len(chosen)
                if c.loss == Loss.triplet.value:
                    a, pos, neg = vecs[:n], vecs[n : 2 * n], vecs[2 * n :]
                    loss = triplet_loss(distance(a, pos), distance(a, neg), c.margin)
                else:
                    labels = torch.tensor([p.label for p in chosen], dtype=torch.float32)
                    e = distance(vecs[:n], vecs[n:])  # (B,)
                    fn = contrastive_loss if c.loss == Loss.contrastive.value else online_contrastive_loss
                    loss = fn(e, labels, c.margin)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(encoder.parameters(), c.clip_norm)
                optimizer.step()
                total += loss.item() * n
                seen += n
            elapsed = time.perf_counter() - started
            val_e = model.energies([p.a for p in valid_pairs], [p.b for p in valid_pairs])
            val_y = np.array([p.label for p in valid_pairs], dtype=int)
            auc = float(roc_auc_score(val_y, -val_e))
            record = {"epoch": epoch, "loss": total / max(seen, 1), "valid_roc_auc": auc,
                      "seconds": elapsed, "items_per_second": seen / max(elapsed, 1e-9)}
            self.history_.append(record)
            if self.on_epoch:
                self.on_epoch(record)
            if auc > best_auc:
                best_auc, best_state, best_epoch, stale = auc, copy.deepcopy(encoder.state_dict()), epoch, 0
            else:
                stale += 1
                if stale >= c.patience:
                    break
        encoder.load_state_dict(best_state)
        encoder.eval()
        return self.calibrate(model, valid_pairs, trained_on=trained_on, best_epoch=best_epoch)

    def calibrate(self, model: SiameseModel, valid_pairs: Sequence[Pair], trained_on: str = "",
                  best_epoch: int = 0) -> SiameseModel:
        """Fit the calibration and the threshold on held-out pairs and record provenance."""
        from sklearn.metrics import roc_auc_score

        energies = model.energies([p.a for p in valid_pairs], [p.b for p in valid_pairs])
        labels = np.array([p.label for p in valid_pairs], dtype=int)
        model.calibration = fit_calibration(energies, labels, self.config.calibration,
                                            fitted_on=f"{len(valid_pairs)} held-out validation pairs")
        probs = model.calibration(energies)
        model.threshold, accuracy = best_threshold(probs, labels)
        model.meta.update(
            trained_on=trained_on,
            train=asdict(self.config),
            best_epoch=best_epoch,
            history=self.history_,
            validation={"pairs": len(valid_pairs), "accuracy": accuracy,
                        "roc_auc": float(roc_auc_score(labels, -energies))},
        )
        return model


def _progress(items, description: str, enabled: bool):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, leave=False, unit="batch")
