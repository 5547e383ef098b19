"""Recipes from a labelled file to a saved model folder.

`train_file` is `siamese-text train`: read and split the file, train (or fine-tune a model),
calibrate on the validation part, evaluate on the test part, save with provenance.
`distil_file` is `siamese-text distill`, the recipe of the bundled model: distil a teacher
sentence encoder into the BiLSTM on unlabelled text, then fine-tune and calibrate the same way.
Under torchrun every process trains; only the first saves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siamese_text.corpora.labelled import PairSource
from siamese_text.corpora.lines import read_lines
from siamese_text.corpora.pairs import iter_tsv_lines
from siamese_text.corpora.splits import Parts, SplitConfig, read_parts
from siamese_text.errors import OutputError
from siamese_text.evaluation.run import evaluate_and_save
from siamese_text.model.siamese import SiameseModel
from siamese_text.training import distill
from siamese_text.training.distill import DistillConfig
from siamese_text.training.distributed import Distributed
from siamese_text.training.trainer import TrainConfig, Trainer

EpochReport = Callable[[dict], None]
# The fine-tuning after distillation: a distilled student starts close, so fewer epochs at a
# smaller step than training from scratch (TrainConfig's defaults).
FINE_TUNE = TrainConfig(epochs=8, lr=1e-3)


@dataclass(frozen=True)
class Outcome:
    """What a recipe made."""

    model: SiameseModel  # trained and calibrated; meta holds validation (and test) metrics
    parts: Parts  # the pairs it trained, validated and was tested on
    test: dict[str, Any] | None  # metrics on the test part (None without one)
    saved: bool  # False in a torchrun process other than the first, which saves


def checkpoints_beside(out: str | Path) -> Path:
    """Where `train_file` keeps checkpoints unless told: OUT.checkpoints, beside the model folder."""
    out = Path(out)
    return out.with_name(out.name + ".checkpoints")


def train_file(source: PairSource, out: str | Path, config: TrainConfig = TrainConfig(),
               encoder: dict[str, Any] | None = None, split: SplitConfig = SplitConfig(),
               valid: str | Path | None = None, init: str | Path | None = None,
               checkpoint_dir: str | Path | None = None, resume: bool = False, fp16: bool = False,
               overwrite: bool = False, command: str = "", on_epoch: EpochReport | None = None,
               progress: bool = True) -> Outcome:
    """Train a model on the labelled pairs of `source` and save it to the folder `out`.

    Args:
        config: how to train (TrainConfig's defaults are the command's).
        encoder: EncoderConfig fields other than vocab_size (default: EncoderConfig's).
        split: how `source` is cut; with `valid`, a file of validation pairs read like `source`.
        init: a model folder to fine-tune (e.g. a distilled student); its vocabulary and sizes
            replace `encoder`.
        checkpoint_dir: where a checkpoint goes after every epoch and on Ctrl-C
            (default: `checkpoints_beside(out)`); resume continues from the newest.
        fp16: store the weights as float16.
        overwrite: replace a model folder that is not empty.
        command: the command line, recorded in the model's meta.
        on_epoch: called with each epoch's numbers.
    Raises:
        SiameseTextError: unreadable data, an existing folder without overwrite.
        TrainingInterrupted: Ctrl-C (a checkpoint was saved).
    """
    _check_out(out, overwrite)
    parts = read_parts(source, split, valid)
    trainer = Trainer(config, encoder, on_epoch=on_epoch, progress=progress,
                      checkpoint_dir=checkpoint_dir or checkpoints_beside(out), resume=resume)
    start = SiameseModel.load(init) if init is not None else None
    model = trainer.fit(parts.train, parts.valid, init=start, trained_on=_trained_on(source, parts))
    if start is not None:  # keep the provenance of the starting model
        model.meta.update({k: v for k, v in start.meta.items() if k.startswith("distil") or k == "teacher"})
        model.meta["initialised_from"] = start.meta.get("command", str(init))
    return _finish(model, out, parts, fp16, command)


def distil_file(source: PairSource, out: str | Path, texts: str | Path | None = None,
                text_pairs: str | Path | None = None, teacher: str | Path | None = None,
                cache: str | Path | None = None, distill_config: DistillConfig = DistillConfig(),
                fine_tune: TrainConfig = FINE_TUNE, calibrate_only: bool = False,
                encoder: dict[str, Any] | None = None, split: SplitConfig = SplitConfig(), neighbours: int = 0,
                fp16: bool = False, overwrite: bool = False, command: str = "",
                on_distil_epoch: EpochReport | None = None, on_epoch: EpochReport | None = None,
                progress: bool = True) -> Outcome:
    """Distil a teacher into a new BiLSTM, fine-tune it on `source`, save it to the folder `out`.

    The student learns the teacher's embeddings and cosines on the unlabelled texts, on the
    unlabelled pairs, and on the texts of the training part (distill.distil_student); it is then
    trained on the training part, calibrated on the validation part and tested on the test part.

    Args:
        texts: a file of unlabelled texts, one a line.
        text_pairs: a file of unlabelled pairs (text_a<TAB>text_b) whose teacher cosine the
            student must match.
        teacher: a sentence-transformers folder (default: distill.default_teacher()).
        cache: a .npy file caching the teacher's embeddings across runs.
        fine_tune: how to train after distilling; calibrate_only skips that training.
        neighbours: also pair each text with its k nearest texts by teacher cosine.
        Others: as in `train_file`.
    """
    _check_out(out, overwrite)
    parts = read_parts(source, split)
    unlabelled = read_lines(texts) if texts is not None else []
    pairs = [(f[0], f[1]) for _, f in iter_tsv_lines(text_pairs) if len(f) >= 2] if text_pairs else []
    pairs += [(p.a, p.b) for p in parts.train]
    teacher = Path(teacher) if teacher is not None else distill.default_teacher()
    student = distill.distil_student(unlabelled, distill.load_teacher(teacher), distill_config, encoder,
                                     text_pairs=pairs, cache=cache, teacher_name=str(teacher.resolve()),
                                     valid_pairs=parts.valid, neighbours=neighbours, on_epoch=on_distil_epoch,
                                     progress=progress)
    trainer = Trainer(fine_tune, on_epoch=on_epoch, progress=progress)
    if calibrate_only:
        model = trainer.calibrate(student, parts.valid, trained_on=_trained_on(source, parts))
    else:
        model = trainer.fit(parts.train, parts.valid, trained_on=_trained_on(source, parts), init=student)
    model.meta.update({k: v for k, v in student.meta.items() if k.startswith("distil")})
    model.meta["teacher"] = teacher.name if teacher.name != "model" else teacher.parent.name
    return _finish(model, out, parts, fp16, command)


def _check_out(out: str | Path, overwrite: bool) -> None:
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise OutputError(f"{out}: folder exists and is not empty (pass --overwrite to replace it)")


def _trained_on(source: PairSource, parts: Parts) -> str:
    return f"{source.name} ({source.fmt}): {len(parts.train)} training pairs"


def _finish(model: SiameseModel, out: str | Path, parts: Parts, fp16: bool, command: str) -> Outcome:
    """Test and save in the first process only (the others hold the same weights)."""
    if not Distributed.from_environment().is_main:
        return Outcome(model, parts, None, saved=False)
    test = evaluate_and_save(model, out, parts.test, parts.sizes(), command, fp16)
    return Outcome(model, parts, test, saved=True)
