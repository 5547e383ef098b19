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


class PairFormat(str, Enum):
    tsv = "tsv"
    qqp_bimpm = "qqp-bimpm"


def _corpus_formats() -> type[Enum]:
    from .corpora import FORMATS  # light: no datasets/torch import

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
    from .errors import SiameseTextError

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
    from .model import SiameseModel

    return SiameseModel.load(path)


def check_text(text: str, what: str) -> None:
    from .errors import SiameseTextError

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
            from .fast_model import load_for_inference  # NumPy only: no torch/spaCy import (fast start)

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
        from .fast_model import load_for_inference

        _score_stream(pairs, fmt.value, load_for_inference(model), as_json, batch_size)


def _score_stream(path: Path, fmt: str, m, as_json: bool, batch_size: int) -> None:
    from .errors import SiameseTextError
    from .pairs import iter_pairs

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
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.", min=1)] = 256,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out file.")] = False,
) -> None:
    """Write the embedding of every line of a text file to a .npy file (row i = line i)."""
    with user_errors():
        import numpy as np

        from .errors import SiameseTextError

        if str(source) != "-" and source.resolve() == out.resolve():
            raise SiameseTextError(f"{out}: refusing to write over the input")
        if out.exists() and not overwrite:
            raise SiameseTextError(f"{out}: already exists (pass --overwrite to replace it)")
        texts = _read_lines(source)
        m = load_model(model)
        vectors = m.encode(texts, batch_size=batch_size)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                np.save(fh, vectors)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        typer.echo(f"wrote {vectors.shape[0]} x {vectors.shape[1]} embeddings to {out}", err=True)


def _read_lines(source: Path) -> list[str]:
    from .errors import SiameseTextError

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
        from .model import DEFAULT_MODEL_DIR, read_config

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


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="Labelled pairs file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model folder to write.")],
    fmt: Annotated[PairFormat, typer.Option("--format", help="Layout of DATA.")] = PairFormat.tsv,
    valid: Annotated[Optional[Path], typer.Option(help="Validation pairs (same format); default: split off DATA.",
                                                  show_default=False)] = None,
    valid_fraction: Annotated[float, typer.Option(help="Share of DATA held out for early stopping and calibration.")] = 0.15,
    test_fraction: Annotated[float, typer.Option(help="Share of DATA held out untouched and reported at the end.")] = 0.0,
    split_seed: Annotated[int, typer.Option(help="Seed of the leakage-free split (texts never cross parts).")] = 0,
    loss: Annotated[LossChoice, typer.Option(help="Training objective.")] = LossChoice.contrastive,
    energy: Annotated[EnergyChoice, typer.Option(help="Distance between the two embeddings.")] = EnergyChoice.cosine,
    margin: Annotated[float, typer.Option(help="Loss margin.")] = 0.5,
    pooling: Annotated[PoolingChoice, typer.Option(help="How token states become one vector.")] = PoolingChoice.max,
    embedding_dim: Annotated[int, typer.Option(min=1)] = 128,
    hidden_size: Annotated[int, typer.Option(min=1)] = 192,
    layers: Annotated[int, typer.Option(min=1)] = 1,
    dropout: Annotated[float, typer.Option(min=0.0, max=0.9)] = 0.1,
    subword_buckets: Annotated[int, typer.Option(help="Hashed character n-gram buckets (0 = off).", min=0)] = 16384,
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    batch_size: Annotated[int, typer.Option(min=2)] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 2e-3,
    patience: Annotated[int, typer.Option(help="Epochs without validation gain before stopping.", min=1)] = 3,
    max_vocab: Annotated[int, typer.Option(min=2)] = 30_000,
    seed: Annotated[int, typer.Option()] = 0,
    fp16: Annotated[bool, typer.Option(help="Store weights as float16 (half the size).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model folder.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train a model on labelled pairs, calibrate it on held-out pairs, save the folder."""
    with user_errors():
        from .errors import SiameseTextError

        if out.exists() and any(out.iterdir()) and not overwrite:
            raise SiameseTextError(f"{out}: folder exists and is not empty (pass --overwrite to replace it)")
        import torch

        from .evaluate import evaluate_pairs
        from .pairs import read_pairs, split_pairs
        from .train import Trainer, TrainConfig

        pairs = read_pairs(data, fmt.value)
        if valid is not None:
            valid_pairs = read_pairs(valid, fmt.value)
            train_pairs, test_pairs = split_pairs(pairs, [1 - test_fraction, test_fraction], split_seed) \
                if test_fraction else (pairs, [])
        else:
            train_pairs, valid_pairs, test_pairs = split_pairs(
                pairs, [1 - valid_fraction - test_fraction, valid_fraction, test_fraction], split_seed)
        config = TrainConfig(loss=loss.value, energy=energy.value, margin=margin, epochs=epochs,
                             batch_size=batch_size, lr=lr, patience=patience, seed=seed, max_vocab=max_vocab)
        encoder_options = dict(embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=layers,
                               dropout=dropout, pooling=pooling.value, subword_buckets=subword_buckets)

        def report(r: dict) -> None:
            typer.echo(f"epoch {r['epoch']}: loss {r['loss']:.4f}, validation ROC-AUC {r['valid_roc_auc']:.4f}, "
                       f"{r['items_per_second']:.0f} pairs/s", err=True)

        trainer = Trainer(config, encoder_options, on_epoch=report, progress=progress)
        model = trainer.fit(train_pairs, valid_pairs,
                            trained_on=f"{data.name} ({fmt.value}): {len(train_pairs)} training pairs")
        model.meta["command"] = "siamese-text " + " ".join(sys.argv[1:]) if sys.argv[1:] else "siamese-text train"
        model.meta["split"] = {"seed": split_seed, "train": len(train_pairs), "valid": len(valid_pairs),
                               "test": len(test_pairs)}
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
        from .corpora import DEFAULT_BINARIZE, GRADED_FORMATS, read_corpus
        from .errors import SiameseTextError
        from .evaluate import json_ready, metrics, score_pairs

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
            from .report import write_report

            written = write_report(scored, report, title=f"{data.name} ({name}, {len(corpus.pairs):,} pairs)")
            typer.echo(f"wrote {len(written)} plots to {report}", err=True)
        if as_json:
            typer.echo(json.dumps(results))
        else:
            typer.echo("\n".join(f"{k:<24} {v:.4f}" if isinstance(v, float) else f"{k:<24} {v}"
                                 for k, v in results.items()))


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
) -> None:
    """Remove exact and near-duplicate records, keeping the first of each group.

    Writes one file per input under --out with the kept lines, byte-identical and in order.
    Blank lines are always kept. A record is removed only as a duplicate of an earlier record
    that is kept.
    """
    with user_errors():
        if out is None and not dry_run:
            raise fail("give --out DIR for the deduplicated files (or --dry-run)", 2)
        from .dedup import DedupConfig
        from .records import dedup_files

        m = load_model(model)
        s = dedup_files([str(f) for f in files], None if dry_run else out, report, m, threshold, unit.value,
                        errors.value, overwrite, progress and sys.stderr.isatty(), DedupConfig(threads=threads))
        typer.echo(f"{s.records:,} records read ({s.blank:,} blank): kept {s.kept:,}, removed "
                   f"{s.exact_removed:,} exact and {s.near_removed:,} near duplicates (threshold "
                   f"{s.threshold:.4f}) in {s.seconds:.1f} s", err=True)
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

        from .errors import SiameseTextError
        from .records import iter_records, open_sources
        from .search import TextIndex

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
        from .dedup import DedupConfig

        idx = TextIndex.build(texts, load_model(model), lines=lines, config=DedupConfig(threads=1),
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
        from .search import TextIndex

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


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="siamese-text")
