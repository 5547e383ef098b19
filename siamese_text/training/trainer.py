"""A plain training loop: seeded, Adam, gradient clipping, early stopping, then calibration.

Checkpoints after every epoch (and on Ctrl-C) let an interrupted run resume to exactly the
weights an uninterrupted run reaches. Under `torchrun` (WORLD_SIZE > 1) the same loop trains with
DistributedDataParallel over the gloo backend: each process takes every WORLD_SIZE-th batch; after
each batch the processes agree whether any got Ctrl-C (SIGINT) or SIGTERM, and if so rank 0 saves
the one checkpoint (with every rank's random state) and all stop.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from siamese_text.training.checkpoint import Checkpoint, latest_checkpoint, load_checkpoint, rng_from_json, rng_to_json, save_checkpoint
from siamese_text.training.distributed import Distributed
from siamese_text.model.folder import EncoderConfig
from siamese_text.model.torch_encoder import Encoder
from siamese_text.model.energy import Energy, energy_fn
from siamese_text.errors import CheckpointError, TrainingError
from siamese_text.extras import require
from siamese_text.text.features import Features, collate, drop_words
from siamese_text.training.losses import Loss, contrastive_loss, online_contrastive_loss, triplet_loss
from siamese_text.model.siamese import SiameseModel
from siamese_text.training.averaging import WeightAverage
from siamese_text.training.batches import length_batches, private_random_state, progress_bar  # noqa: F401
from siamese_text.training.interrupt import CtrlC
from siamese_text.corpora.mining import mine_triplets
from siamese_text.corpora.pairs import Pair, Triplet
from siamese_text.text.tokenizer import Tokenizer, TokenizerConfig
from siamese_text.text.vocab import Vocab
from siamese_text.training.validation import calibrate, validation_scores

_RESUMABLE_CHANGES = {"epochs", "patience", "threads"}  # settings a resumed run may change


@dataclass(frozen=True)
class TrainConfig:
    """How to train; stored in the model's config.json under meta.train."""

    loss: str = Loss.contrastive.value
    energy: str = Energy.cosine.value
    margin: float = 0.5  # cosine distance lies in [0, 2]; Euclidean towers want about 1-2
    epochs: int = 10
    batch_size: int = 64  # per process under torchrun
    lr: float = 2e-3
    weight_decay: float = 0.0
    clip_norm: float = 1.0
    patience: int = 3  # epochs without a better validation ROC-AUC before stopping
    seed: int = 0
    min_freq: int = 1
    max_vocab: int = 30_000
    calibration: str = "platt"
    threads: int = 0  # 0 = leave torch's default
    embeddings: str = ""  # GloVe / word2vec / fastText text file to initialise word vectors
    freeze_embeddings: bool = False  # keep the word-embedding table as initialised (subwords still learn)
    word_dropout: float = 0.0  # share of known words shown as <unk> (n-grams only) in training batches
    average: float = 0.0  # keep an exponential moving average of the weights with this decay per batch
    # (e.g. 0.99); validation, early stopping and the saved model then use the average (0 = off)

    def __post_init__(self) -> None:
        Loss(self.loss)
        Energy(self.energy)
        if self.epochs < 1 or self.batch_size < 2 or self.lr <= 0:
            raise ValueError("epochs >= 1, batch_size >= 2 and lr > 0")
        if not 0.0 <= self.average < 1.0:
            raise ValueError("average is a decay in [0, 1)")


class TrainingInterrupted(TrainingError):
    """Ctrl-C during training; the message says where the checkpoint went."""


def _fingerprint(items: Sequence) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(repr(item).encode("utf-8"))
    return h.hexdigest()[:16]


class Trainer:
    """Trains one encoder on pairs; `fit` returns a calibrated SiameseModel.

    Args:
        config: training settings.
        encoder_options: EncoderConfig fields other than vocab_size.
        tokenizer_config: how texts become tokens.
        on_epoch: called after each epoch with a dict of that epoch's numbers.
        checkpoint_dir: where a checkpoint is written after every epoch and on Ctrl-C (under
            torchrun, the same on every rank: rank 0 writes, all take part in each save).
        resume: continue from the newest checkpoint in checkpoint_dir.
    """

    def __init__(self, config: TrainConfig, encoder_options: dict | None = None,
                 tokenizer_config: TokenizerConfig | None = None,
                 on_epoch: Callable[[dict], None] | None = None, progress: bool = True,
                 checkpoint_dir=None, resume: bool = False) -> None:
        self.config = config
        self.encoder_options = dict(encoder_options or {})
        self.tokenizer = Tokenizer(tokenizer_config)
        self.on_epoch = on_epoch
        self.progress = progress
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.history_: list[dict] = []

    def _build(self, train_texts: list[str], init: SiameseModel | None, ckpt: Checkpoint | None):
        """Vocabulary and encoder: from a checkpoint, an initial model, or fresh."""
        c = self.config
        if ckpt is not None:
            vocab, enc_config = ckpt.vocab, EncoderConfig(**ckpt.state["encoder"])
        elif init is not None:
            vocab, enc_config = init.vocab, init.encoder_config
        else:
            vocab = Vocab.build((self.tokenizer(t) for t in dict.fromkeys(train_texts)),
                                min_freq=c.min_freq, max_size=c.max_vocab)
            options = dict(self.encoder_options)
            if c.embeddings:
                from siamese_text.training.word_vectors import vectors_for

                vocab, vectors = vectors_for(c.embeddings, vocab)
                options["embedding_dim"] = vectors.dim
            enc_config = EncoderConfig(vocab_size=len(vocab), **options)
        encoder = Encoder(enc_config)
        if ckpt is None and init is not None:
            encoder.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init.weights.items()})
        elif ckpt is None and c.embeddings:
            from siamese_text.training.word_vectors import initialise_embedding

            self.pretrained_found_ = initialise_embedding(encoder.embedding.weight, vocab, vectors)
        return vocab, encoder

    def _load_checkpoint(self, fingerprint: str) -> Checkpoint | None:
        if not self.resume:
            return None
        folder = latest_checkpoint(self.checkpoint_dir) if self.checkpoint_dir else None
        if folder is None:
            raise CheckpointError(f"{self.checkpoint_dir}: no checkpoint to resume from")
        ckpt = load_checkpoint(folder)
        saved, now = ckpt.state.get("config", {}), asdict(self.config)
        defaults = {f.name: f.default for f in fields(TrainConfig)}  # keys older checkpoints lack
        changed = sorted(k for k in now if k not in _RESUMABLE_CHANGES and saved.get(k, defaults[k]) != now[k])
        if changed:
            k = changed[0]
            raise CheckpointError(f"{folder}: checkpoint was trained with {k}={saved.get(k)!r}, not {now[k]!r}")
        if ckpt.state.get("data") != fingerprint:
            raise CheckpointError(f"{folder}: checkpoint was trained on other pairs; resume with the same data")
        return ckpt

    def fit(self, train_pairs: Sequence[Pair], valid_pairs: Sequence[Pair], trained_on: str = "",
            init: SiameseModel | None = None) -> SiameseModel:
        """Train on `train_pairs`, stop early and calibrate on `valid_pairs` (held out).

        Args:
            init: start from this model's vocabulary and weights (e.g. a distilled student).
        Returns:
            The model at the epoch with the best validation ROC-AUC, calibrated, with its
            threshold and validation metrics in `meta`.
        Raises:
            TrainingInterrupted: on Ctrl-C, after saving a checkpoint (when checkpoint_dir is set).

        The run draws from its own seeded generators; the caller's random state and thread count
        are as they were when it returns.
        """
        with private_random_state(self.config.seed, self.config.threads):
            return self._fit(train_pairs, valid_pairs, trained_on, init)

    def _fit(self, train_pairs: Sequence[Pair], valid_pairs: Sequence[Pair], trained_on: str,
             init: SiameseModel | None) -> SiameseModel:
        require("sklearn.metrics", "train")
        c = self.config
        dist = Distributed.from_environment()
        train_pairs = [p for p in train_pairs if p.label in (0, 1)]
        valid_pairs = [p for p in valid_pairs if p.label in (0, 1)]
        if not train_pairs or len({p.label for p in valid_pairs}) < 2:
            raise ValueError("training needs labelled pairs, and validation needs both labels")

        train_texts = [t for p in train_pairs for t in (p.a, p.b)]
        fingerprint = _fingerprint(train_pairs)
        ckpt = self._load_checkpoint(fingerprint)
        vocab, encoder = self._build(train_texts, init, ckpt)
        # the live module on the torch backend: validation sees the current weights (threads=0: keep c.threads)
        model = SiameseModel(encoder, vocab, c.energy, tokenizer_config=self.tokenizer.config, threads=0)
        cache: dict[str, Features] = {}
        todo = list(dict.fromkeys(train_texts + [t for p in valid_pairs for t in (p.a, p.b)]))
        cache.update(zip(todo, model.featurizer(todo)))

        use_sub = bool(encoder.config.subword_buckets)
        distance = energy_fn(c.energy)
        if c.freeze_embeddings:  # before DDP wraps it: DDP expects a gradient for every trainable parameter
            encoder.embedding.weight.requires_grad_(False)
        network = dist.wrap(encoder)
        optimizer = torch.optim.Adam([p for p in encoder.parameters() if p.requires_grad], lr=c.lr,
                                     weight_decay=c.weight_decay)
        rng = random.Random(c.seed)
        triplets = c.loss == Loss.triplet.value
        items: list = mine_triplets(train_pairs, seed=c.seed) if triplets else list(train_pairs)
        lengths = [sum(len(cache[t]) for t in _texts(x)) for x in items]

        start_epoch, start_step, best_auc, best_epoch, stale = 1, 0, -1.0, 0, 0
        best_state = {k: v.clone() for k, v in encoder.state_dict().items()}
        totals = (0.0, 0)
        average = WeightAverage(encoder, c.average) if c.average else None
        if ckpt is not None:
            s = ckpt.state
            encoder.load_state_dict(ckpt.weights)
            best_state = ckpt.best
            optimizer.load_state_dict(ckpt.optimizer)
            torch.set_rng_state(ckpt.torch_rng_of(dist.rank))
            rng.setstate(rng_from_json(s["rng"]))
            start_epoch, start_step = s["epoch"], s["step"]
            best_auc, best_epoch, stale = s["best_auc"], s["best_epoch"], s["stale"]
            totals = tuple(s["totals"])
            average = WeightAverage(encoder, c.average, ckpt.average) if c.average else None
            self.history_ = list(s["history"])
            if s.get("finished"):  # stopped early: nothing left to train
                start_epoch = c.epochs + 1

        def checkpoint(name: str, epoch: int, step: int, rng_state, done: bool = False):
            if not self.checkpoint_dir:
                return None
            # every rank's torch random state (a collective: all ranks call this at the same point)
            rank_rngs = dist.gather(torch.get_rng_state()) if dist.world_size > 1 else []
            if not dist.is_main:
                return None
            state = {"epoch": epoch, "step": step, "rng": rng_to_json(rng_state), "best_auc": best_auc,
                     "best_epoch": best_epoch, "stale": stale, "totals": list(totals), "finished": done,
                     "history": self.history_, "config": asdict(c), "encoder": encoder.config.to_dict(),
                     "data": fingerprint}
            return save_checkpoint(self.checkpoint_dir, name,
                                   Checkpoint(encoder.state_dict(), best_state, optimizer.state_dict(),
                                              torch.get_rng_state(), vocab, state,
                                              average.tensors if average else {}, rank_rngs))

        # Under torchrun, Ctrl-C reaches every rank (and the agent forwards SIGINT or SIGTERM to
        # them): each step the ranks agree, by a collective, whether any was signalled; then rank 0
        # writes the one checkpoint and all stop together.
        stop_signals = (signal.SIGINT,) if dist.world_size == 1 else (signal.SIGINT, signal.SIGTERM)
        with CtrlC(signals=stop_signals, escalate=dist.world_size == 1) as ctrl_c:
            for epoch in range(start_epoch, c.epochs + 1):
                encoder.train()
                epoch_rng = rng.getstate()
                batches = dist.shard(length_batches(lengths, c.batch_size, rng))
                step0 = start_step if epoch == start_epoch else 0
                total, seen = totals if epoch == start_epoch else (0.0, 0)
                started = time.perf_counter()
                bar = progress_bar(len(batches), f"epoch {epoch}/{c.epochs}", self.progress and dist.is_main, step0)
                for step in range(step0, len(batches)):
                    chosen = [items[i] for i in batches[step]]
                    texts = [t for side in zip(*(_texts(x) for x in chosen)) for t in side]  # all a's, then all b's
                    batch = drop_words(collate([cache[t] for t in texts], use_sub), c.word_dropout)
                    loss = _batch_loss(network(**batch), chosen, distance, c)  # network: (kB, D), all sides at once
                    n = len(chosen)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(encoder.parameters(), c.clip_norm)
                    optimizer.step()
                    if average:
                        average.update(encoder)
                    total, seen = total + loss.item() * n, seen + n
                    totals = (total, seen)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{total / seen:.4f}")
                    if dist.any(ctrl_c.pressed):  # the same answer on every rank, at the same step
                        if bar is not None:
                            bar.close()
                        name = f"epoch-{epoch - 1:04d}-step-{step + 1:06d}"
                        checkpoint(name, epoch, step + 1, epoch_rng)  # rank 0 writes it
                        dist.barrier()  # no rank stops (and has torchrun end the others) before it is written
                        saved = Path(self.checkpoint_dir) / name if self.checkpoint_dir else None
                        where = f"checkpoint saved in {saved}" if saved else "no --checkpoint-dir, nothing saved"
                        raise TrainingInterrupted(f"interrupted in epoch {epoch} at batch {step + 1}/{len(batches)}; "
                                                  f"{where}")
                if bar is not None:
                    bar.close()
                elapsed = time.perf_counter() - started
                encoder.eval()
                # judge (and keep) the averaged weights, if any; training goes on from the raw ones
                with average.swapped_in(encoder) if average else contextlib.nullcontext():
                    auc, accuracy = validation_scores(model, valid_pairs)
                    if auc > best_auc:
                        best_auc, best_epoch, stale = auc, epoch, 0
                        best_state = {k: v.detach().clone() for k, v in encoder.state_dict().items()}
                    else:
                        stale += 1
                record = {"epoch": epoch, "loss": total / max(seen, 1), "valid_roc_auc": auc,
                          "valid_accuracy": accuracy, "batches": len(batches), "seconds": elapsed,
                          "items_per_second": seen * dist.world_size / max(elapsed, 1e-9)}
                self.history_.append(record)
                totals = (0.0, 0)
                checkpoint(f"epoch-{epoch:04d}", epoch + 1, 0, rng.getstate(), done=stale >= c.patience)
                if self.on_epoch and dist.is_main:
                    self.on_epoch(record)
                if stale >= c.patience:
                    break
        encoder.load_state_dict(best_state)
        encoder.eval()
        model = self.calibrate(model, valid_pairs, trained_on=trained_on, best_epoch=best_epoch)
        return model.with_backend("numpy", threads=1)  # what `SiameseModel.load` gives

    def calibrate(self, model: SiameseModel, valid_pairs: Sequence[Pair], trained_on: str = "",
                  best_epoch: int = 0) -> SiameseModel:
        """Fit the calibration and the threshold on held-out pairs and record provenance."""
        return calibrate(model, valid_pairs, self.config.calibration, trained_on=trained_on,
                         train=asdict(self.config), best_epoch=best_epoch, history=self.history_)


def _batch_loss(vecs: torch.Tensor, chosen: list, distance, c: TrainConfig) -> torch.Tensor:
    """The loss of one batch: `vecs` holds every item's first texts, then second (then third) texts."""
    n = len(chosen)
    if c.loss == Loss.triplet.value:
        return triplet_loss(distance(vecs[:n], vecs[n : 2 * n]), distance(vecs[:n], vecs[2 * n :]), c.margin)
    labels = torch.tensor([p.label for p in chosen], dtype=torch.float32)
    fn = contrastive_loss if c.loss == Loss.contrastive.value else online_contrastive_loss
    return fn(distance(vecs[:n], vecs[n:]), labels, c.margin)  # energies (B,)


def _texts(item) -> tuple[str, ...]:
    return (item.anchor, item.positive, item.negative) if isinstance(item, Triplet) else (item.a, item.b)
