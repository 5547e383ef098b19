"""Commands for using a model: score, embed, info. Light: NumPy (and ONNX Runtime when installed), no torch or spaCy."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from siamese_text.cli.common import (AddressOption, Backend, BackendOption, EngineName, Int8Option, JsonOption, ModelOption,
                                     ThreadsOption, fail, load_model, note, user_errors)
from siamese_text.corpora.pairs import PairFormat
from siamese_text.corpora.shards import Format  # (not records: its readers and writers load lazily)
from siamese_text.evaluation.pair_stream import BATCH_SIZE, PairStream, score_pair


def score(
    text_a: Annotated[Optional[str], typer.Argument(help="First text.", show_default=False)] = None,
    text_b: Annotated[Optional[str], typer.Argument(help="Second text.", show_default=False)] = None,
    pairs: Annotated[Optional[Path], typer.Option("--pairs", help="Score every pair of a TSV file "
                     "(text_a<TAB>text_b[<TAB>label]); '-' reads stdin.", show_default=False)] = None,
    fmt: Annotated[PairFormat, typer.Option("--format", help="Layout of --pairs.")] = PairFormat.tsv,
    model: ModelOption = None,
    as_json: JsonOption = False,
    batch_size: Annotated[int, typer.Option(help="Pairs scored together with --pairs.", min=1)] = BATCH_SIZE,
    backend: BackendOption = None,
    int8: Int8Option = False,
    threads: ThreadsOption = None,
) -> None:
    """Probability that two texts mean the same thing, the verdict and the raw energy.

    With --pairs, streams a file and writes one line per pair (TSV: probability, verdict,
    energy[, label]; or JSON lines with --json).
    """
    with user_errors():
        if pairs is None:
            if text_a is None or text_b is None:
                raise fail("give two texts, or --pairs FILE", 2)
            s = score_pair(load_model(model, backend, int8, threads), text_a, text_b)
            if as_json:
                typer.echo(json.dumps(s.to_dict()))
            else:
                verdict = "same meaning" if s.duplicate else "different meaning"
                typer.echo(f"probability {s.probability:.4f}  {verdict}  "
                           f"(energy {s.energy:.4f}, threshold {s.threshold:.4f})")
            return
        if text_a is not None:
            raise fail("give either two texts or --pairs, not both", 2)
        stream = PairStream(load_model(model, backend, int8, threads), pairs, fmt, batch_size)
        for s in stream:
            if as_json:
                typer.echo(json.dumps(s.to_dict()))
            else:
                row = [f"{s.probability:.6f}", str(int(s.duplicate)), f"{s.energy:.6f}"]
                typer.echo("\t".join(row + ([str(s.label)] if s.label is not None else [])))
        if stream.labelled:
            note(f"{stream.pairs} pairs scored; accuracy on the {stream.labelled} labelled ones: "
                 f"{stream.accuracy:.4f}")


class VectorFormat(str, Enum):
    """How --engine ray writes vectors: Parquet (id + vector) or .npy shards (vectors-K.npy, ids-K.npy)."""

    parquet = "parquet"
    npy = "npy"


def embed(
    source: Annotated[Path, typer.Argument(help="Text file, one text per line ('-' reads stdin); with "
                      "--engine ray also record shards: a file, folder or glob.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the (N, D) float32 .npy array "
                   "(with --engine ray: a folder of vector shards).")],
    model: ModelOption = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Texts per forward pass (default: the model's, "
                          "128).", min=1, show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out file (with --engine ray: write "
                         "into a folder that holds files).")] = False,
    backend: BackendOption = None,
    int8: Int8Option = False,
    threads: ThreadsOption = None,
    engine: Annotated[EngineName, typer.Option(help="Who embeds: this process, or the actors of a Ray "
                      "cluster (the ray extra).")] = EngineName.local,
    address: AddressOption = None,
    record_format: Annotated[Format, typer.Option("--format", help="With --engine ray: how the inputs hold "
                             "records (auto: from the extension).")] = Format.auto,
    text_field: Annotated[Optional[list[str]], typer.Option("--text-field", help="With --engine ray: the "
                          "field or column holding the text of a record shard (repeat to join several).",
                          show_default=False)] = None,
    vectors: Annotated[VectorFormat, typer.Option(help="With --engine ray: Parquet (id + vector) or .npy "
                       "shards; the id is the record's position in the inputs.")] = VectorFormat.parquet,
) -> None:
    """Write the embedding of every line of a text file to a .npy file (row i = line i).

    Runs on ONNX Runtime or the NumPy forward pass (no torch import). With --engine ray the
    records of every input are embedded by a Ray cluster's actors and written as shards under --out.
    """
    from siamese_text.dedup.collection import embed_file

    with user_errors():
        if engine != EngineName.ray and (address is not None or text_field or record_format != Format.auto):
            raise fail("--address, --format and --text-field go with --engine ray", 2)
        if engine == EngineName.ray:
            from siamese_text.corpora.records import read_texts
            from siamese_text.dedup.ray_engine import embed_with_ray

            texts = read_texts([str(source)], record_format.value, tuple(text_field or ()))
            written = embed_with_ray(texts, load_model(model, Backend.numpy, False, threads), out,
                                     format=vectors.value, batch_size=batch_size or 256, address=address,
                                     overwrite=overwrite)
            note(f"wrote {written:,} embeddings to {out} ({vectors.value} shards)")
            return
        encoder = load_model(model, backend, int8, threads)
        rows, dim = embed_file(source, out, model=encoder, model_path=model, batch_size=batch_size,
                               overwrite=overwrite)
        note(f"wrote {rows} x {dim} embeddings to {out}")


def info(
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print config.json as it is.")] = False,
    backend: BackendOption = None,
    int8: Int8Option = False,
    threads: ThreadsOption = None,
) -> None:
    """Show the model card: what the model is, what it was trained on, how well it did."""
    from siamese_text.model.folder import DEFAULT_MODEL_DIR, read_config

    with user_errors():
        path = model or DEFAULT_MODEL_DIR
        m = load_model(path, backend, int8, threads)  # full load: a card is shown only for a model that loads
        config = read_config(Path(path))
        if as_json:
            typer.echo(json.dumps(config, indent=2))
            return
        rows = [("model", str(path)), *m.card(),
                ("versions", f"siamese-text {config.get('siamese_text_version')}, torch {config.get('torch_version')}")]
        typer.echo("\n".join(f"{name:<12} {text}" for name, text in rows))
