"""Corpus readers: every supported paraphrase / duplicate / similarity layout -> list[Pair].

One entry point, `load_corpus(path, fmt, **options)`, and one list of names, `FORMATS`, which
the `train` and `evaluate` commands offer as `--format`. Files are parsed by Hugging Face
`datasets` (its csv and json builders); a streaming pre-scan of our own checks the encoding and
the number of columns first, so a broken file fails with one line naming the file and line
instead of a parser traceback. A path `hub:NAME[:CONFIG]` goes through `datasets.load_dataset`: a Hub data set for
online users, or a local folder laid out like a Hub data set repository (which is how the tests
exercise it, offline).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from siamese_text.corpora.scan import Scan, scan_delimited, scan_jsonl
from siamese_text.errors import ArgumentError, InputFileError
from siamese_text.extras import require
from siamese_text.corpora.pairs import Pair, Triplet, undo_corenlp


@dataclass(frozen=True)
class Layout:
    """How one corpus format lies on disk.

    Columns are header names when `header` is "yes", else 0-based positions.
    """

    delimiter: str = "\t"
    quoting: int = csv.QUOTE_NONE  # 3: a `"` is an ordinary character (most corpora here)
    header: str = "no"  # "yes", "no", or "maybe" (a first line naming the columns is skipped)
    text_a: str | int = 0
    text_b: str | int = 1
    label: str | int | None = 2
    kind: str = "binary"  # "binary" (0/1), "graded" (a float score) or "sick-entailment"
    split_column: str | int | None = None  # a column naming the split (SICK's SemEval_set)
    corenlp: bool = False  # undo CoreNLP escapes
    json: bool = False


LAYOUTS: dict[str, Layout] = {
    "tsv": Layout(header="maybe"),
    "csv": Layout(delimiter=",", quoting=csv.QUOTE_MINIMAL, header="yes", text_a="", text_b="", label=""),
    "jsonl": Layout(json=True, text_a="", text_b="", label=""),
    "qqp-bimpm": Layout(text_a=1, text_b=2, label=0, corenlp=True),
    # The original Quora release is tab-separated but quotes fields the csv way (some span lines).
    "quora": Layout(quoting=csv.QUOTE_MINIMAL, header="yes", text_a="question1", text_b="question2",
                    label="is_duplicate"),
    "kaggle": Layout(delimiter=",", quoting=csv.QUOTE_MINIMAL, header="yes", text_a="question1",
                     text_b="question2", label="is_duplicate"),
    "mrpc": Layout(header="maybe", text_a=3, text_b=4, label=0),
    "paws": Layout(header="yes", text_a="sentence1", text_b="sentence2", label="label"),
    "sick-relatedness": Layout(header="yes", text_a="sentence_A", text_b="sentence_B",
                               label="relatedness_score", kind="graded", split_column="SemEval_set"),
    "sick-entailment": Layout(header="yes", text_a="sentence_A", text_b="sentence_B", label="entailment_AB",
                              kind="sick-entailment", split_column="SemEval_set"),
    "stsb": Layout(text_a=5, text_b=6, label=4, kind="graded"),
    "triplets": Layout(header="maybe", label=None),
}
FORMATS: tuple[str, ...] = tuple(LAYOUTS)
# The same names as a str Enum (members spell "-" as "_"), for options that show `<tsv|csv|...>`.
CorpusFormat = Enum("CorpusFormat", {name.replace("-", "_"): name for name in LAYOUTS}, type=str,
                    module=__name__)
GRADED_FORMATS = frozenset(name for name, lay in LAYOUTS.items() if lay.kind == "graded")
DEFAULT_BINARIZE = {"stsb": 4.0, "sick-relatedness": 4.0}  # score >= this counts as "same meaning"
_GUESS = {  # column names tried, in order, when --text-a / --text-b / --label are not given
    "text_a": ("text_a", "sentence1", "question1", "sentence_A", "s1", "text1", "anchor"),
    "text_b": ("text_b", "sentence2", "question2", "sentence_B", "s2", "text2", "positive"),
    "label": ("label", "is_duplicate", "score", "similarity", "relatedness_score"),
}


@dataclass
class Corpus:
    """What a load produced: the pairs, and the data lines left out because a text was empty."""

    pairs: list[Pair]
    path: str
    fmt: str
    graded: bool = False
    skipped_lines: list[int] = field(default_factory=list)


def load_corpus(path: str | Path, fmt: str = "tsv", **options) -> list[Pair]:
    """Read a corpus file into pairs (label 1 = same meaning, 0 = different; graded score kept).

    Args:
        path: the file, or `hub:NAME[:CONFIG]` for a Hugging Face Hub data set (a Hub name needs
            the network; a local folder laid out like a Hub repository does not).
        fmt: one of FORMATS.
        **options: see `read_corpus`.
    Raises:
        SiameseTextError: one line naming the file (and line) for any malformed input.
    """
    return read_corpus(path, fmt, **options).pairs


def read_corpus(path: str | Path, fmt: str = "tsv", *, text_a: str | None = None, text_b: str | None = None,
                label: str | None = None, split: str | None = None, binarize: float | None = None,
                require_label: bool = True, cache_dir: str | None = None) -> Corpus:
    """Read a corpus and say what was skipped.

    Args:
        text_a, text_b, label: column names (csv/jsonl/tsv with a header), overriding the format's.
        split: keep only rows of this split (SICK: TRAIN, TRIAL or TEST).
        binarize: graded score >= binarize becomes 1, else 0 (default: keep the score).
        require_label: a file without a label column is an error (else labels are NaN).
        cache_dir: where `datasets` may keep its Arrow cache (default: a temporary folder).
    Returns:
        A Corpus; rows with an empty text are left out and listed in `skipped_lines`.
    """
    from siamese_text.corpora.table import read_table

    if fmt not in LAYOUTS:
        raise ArgumentError(f"unknown corpus format {fmt!r}; expected one of {', '.join(FORMATS)}")
    lay = LAYOUTS[fmt]
    if binarize is not None and lay.kind != "graded":
        raise ArgumentError(f"--binarize applies to graded corpora ({', '.join(sorted(GRADED_FORMATS))}), "
                               f"not {fmt}")
    where = str(path)
    overrides = {"text_a": text_a, "text_b": text_b, "label": label}
    if any(v is not None for v in overrides.values()) and fmt not in ("tsv", "csv", "jsonl"):
        raise ArgumentError(f"--text-a/--text-b/--label apply to the tsv, csv and jsonl formats, not {fmt}")
    if fmt == "tsv" and any(v is not None for v in overrides.values()):
        lay = Layout(header="yes", text_a="", text_b="", label="")
    if split is not None and lay.split_column is None and not where.startswith("hub:"):
        raise ArgumentError(f"format {fmt} has no split column; split the file yourself")
    if where.startswith("hub:"):
        columns, line_of = _hub_columns(where[4:], split, overrides, cache_dir), None
        split = None
    else:
        scan = scan_jsonl(Path(path)) if lay.json else scan_delimited(Path(path), lay.delimiter, lay.quoting)
        spec = _resolve(lay, scan, overrides, where, require_label)
        columns = read_table(Path(path), lay, scan, spec, cache_dir)
        line_of = scan.lines
    return _to_corpus(columns, lay, fmt, where, line_of, split, binarize, require_label)


def load_triplets(path: str | Path, cache_dir: str | None = None) -> list[Triplet]:
    """Read a triplet file: anchor<TAB>positive<TAB>negative (an optional header line)."""
    pairs = load_corpus(path, "triplets", cache_dir=cache_dir)
    return [Triplet(p.a, p.b, n.b) for p, n in zip(pairs[::2], pairs[1::2])]


def _resolve(lay: Layout, scan: Scan, overrides: dict, where: str, require_label: bool) -> dict[str, object]:
    """Column keys (name or position) for text_a, text_b, label, split; checks they exist."""
    if lay.header == "yes":
        scan.drop_first()
    elif lay.header == "maybe" and scan.header is None:
        wanted = {"label", "is_duplicate", "quality", "anchor", "text_a", "sentence1"}
        if {f.strip().lower() for f in scan.first or []} & wanted:
            scan.drop_first()
    if not len(scan.lines):
        raise InputFileError(f"{where}: no data rows after the header")
    named = lay.header == "yes" or lay.json
    spec: dict[str, object] = {}
    for role in ("text_a", "text_b", "label"):
        key = overrides.get(role) or getattr(lay, role)
        if key == "":  # named columns: guess from the header
            key = next((n for n in _GUESS[role] if n in (scan.header or [])), None)
            if key is None and (role != "label" or require_label):
                raise InputFileError(f"{where}:{scan.header_line or 1}: no {role} column (have "
                                       f"{', '.join(scan.header or [])[:120]}); name it with "
                                       f"--{role.replace('_', '-')}")
        spec[role] = key
    if lay.label is None:  # triplets: anchor, positive, negative
        spec["text_c"] = 2
    spec["split"] = lay.split_column
    if lay.kind == "sick-entailment":
        spec["label2"] = "entailment_BA"
    if not named and lay.label == 2 and not require_label and scan.max_width < 3:
        spec["label"] = None  # an unlabelled two-column tsv
    need = 0
    for key in spec.values():
        if isinstance(key, str) and named and key not in (scan.header or []):
            raise InputFileError(f"{where}:{scan.header_line or 1}: missing column {key!r} "
                                   f"(have {', '.join(scan.header or [])[:120]})")
        if not lay.json and key is not None:
            need = max(need, (scan.header.index(key) if isinstance(key, str) else key) + 1)
    if not lay.json:
        scan.check_width(need, where)
    return spec


def _hub_columns(name: str, split: str | None, overrides: dict, cache_dir: str | None = None) -> dict[str, list]:
    """Columns of a Hub data set, or of a local folder laid out like one (`data/train.csv`, ...)."""
    datasets = require("datasets", "train", "reading a hub: data set")

    repo, _, config = name.partition(":")
    try:
        ds = datasets.load_dataset(repo, config or None, split=split or "train", cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001 - the Hub raises many types; show one line
        raise InputFileError(f"hub:{name}: could not load ({str(exc).splitlines()[0][:200]})") from None
    out = {}
    for role in ("text_a", "text_b", "label"):
        key = overrides.get(role) or next((n for n in _GUESS[role] if n in ds.column_names), None)
        if key is None or key not in ds.column_names:
            raise InputFileError(f"hub:{name}: no {role} column (have {', '.join(ds.column_names)})")
        out[role] = [None if v is None else str(v) for v in ds[key]]
    return out


def _to_corpus(columns: dict[str, list], lay: Layout, fmt: str, where: str, line_of: Sequence[int] | None,
               split: str | None, binarize: float | None, require_label: bool) -> Corpus:
    corpus = Corpus([], where, fmt, graded=lay.kind == "graded" and binarize is None)
    a_col, b_col, y_col = columns["text_a"], columns["text_b"], columns.get("label")
    c_col, s_col = columns.get("text_c"), columns.get("split")
    splits_seen = set()
    for i in range(len(a_col)):
        line = line_of[i] if line_of is not None else i + 1
        at = f"{where}:{line}"
        if s_col is not None:
            splits_seen.add(s_col[i])
            if split is not None and s_col[i] != split:
                continue
        if a_col[i] is None or b_col[i] is None:  # a JSON record without the key
            raise InputFileError(f"{at}: missing {'text_a' if a_col[i] is None else 'text_b'}")
        a, b = a_col[i], b_col[i]
        if lay.corenlp:
            a, b = undo_corenlp(a), undo_corenlp(b)
        if c_col is not None:  # a triplet becomes one genuine and one impostor pair
            c = c_col[i] or ""
            if not (a.strip() and b.strip() and c.strip()):
                corpus.skipped_lines.append(line)
                continue
            corpus.pairs += [Pair(a, b, 1), Pair(a, c, 0)]
            continue
        if not (a.strip() and b.strip()):
            corpus.skipped_lines.append(line)
            continue
        if lay.kind == "sick-entailment":
            y = _mutual_entailment(y_col[i], columns["label2"][i], at)
        else:
            y = _label(y_col[i] if y_col is not None else None, lay.kind, at, require_label)
        if binarize is not None:
            y = int(y >= binarize)
        corpus.pairs.append(Pair(a, b, y))
    if split is not None and split not in splits_seen:
        raise InputFileError(f"{where}: no rows of split {split!r} (have {', '.join(sorted(splits_seen))})")
    if not corpus.pairs:
        raise InputFileError(f"{where}: no pairs in the file" + (f" for split {split}" if split else ""))
    return corpus


def _mutual_entailment(ab, ba, at: str) -> int:
    """SICK: 1 when A entails B and B entails A (a paraphrase), else 0."""
    ab, ba = (ab or "").strip(), (ba or "").strip()
    if not (ab.startswith("A_") and ab.endswith("_B") and ba.startswith("B_") and ba.endswith("_A")):
        raise InputFileError(f"{at}: entailment_AB/BA must look like A_entails_B / B_neutral_A, "
                               f"got {ab[:20]!r} / {ba[:20]!r}")
    return int(ab == "A_entails_B" and ba == "B_entails_A")


def _label(value, kind: str, at: str, require: bool) -> float:
    """Parse one label cell for a layout kind; SiameseTextError names the file and line."""
    text = "" if value is None else str(value).strip()
    if not text:
        if require:
            raise InputFileError(f"{at}: the label is missing")
        return float("nan")
    if kind == "binary":
        if text in ("0", "1", "0.0", "1.0", "False", "True", "false", "true"):
            return int(text in ("1", "1.0", "True", "true"))
        raise InputFileError(f"{at}: label must be 0 or 1, got {text[:20]!r}")
    try:
        score = float(text)
    except ValueError:
        score = float("nan")
    if not math.isfinite(score):
        raise InputFileError(f"{at}: score must be a number, got {text[:20]!r}")
    return score
