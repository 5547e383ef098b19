"""Pair and Triplet records, the two pair-file layouts the core reads, and leakage-free splits.

Richer corpus formats (SICK, STS-B, MRPC, PAWS, CSV/JSONL with named columns) live in corpora.py.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from siamese_text.corpora.lines import iter_lines
from siamese_text.errors import ArgumentError, InputFileError
from siamese_text.text.tokenizer import normalize


# CoreNLP / Penn Treebank escapes in the BiMPM Quora partition. Undone once, by the readers of
# that format, so every consumer (tokenizer, TF-IDF, a sentence-transformer) sees plain text.
_CORENLP = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}",
            "``": '"', "''": '"'}
_CORENLP_RE = re.compile("|".join(re.escape(k) for k in _CORENLP))


def undo_corenlp(text: str) -> str:
    """Map CoreNLP's bracket and quote tokens (-LRB-, ``, '' ...) back to the characters."""
    return _CORENLP_RE.sub(lambda m: _CORENLP[m.group(0)], text)


@dataclass(frozen=True)
class Pair:
    """Two texts and a label: 1 = same meaning (genuine), 0 = different (impostor).

    Graded corpora keep their score in `label` until they are binarised.
    """

    a: str
    b: str
    label: float = float("nan")


@dataclass(frozen=True)
class Triplet:
    """An anchor, a text that means the same (positive) and one that does not (negative)."""

    anchor: str
    positive: str
    negative: str


class PairFormat(str, Enum):
    """The two pair-file layouts read by streaming (`iter_pairs`, `siamese-text score --pairs`)."""

    tsv = "tsv"  # text_a<TAB>text_b[<TAB>label]
    qqp_bimpm = "qqp-bimpm"  # label<TAB>q1<TAB>q2<TAB>id, CoreNLP-escaped (the BiMPM Quora partition)


def iter_tsv_lines(path: str | Path, errors: str = "strict") -> Iterator[tuple[int, list[str]]]:
    """Yield (1-based line number, tab-separated fields) of each non-blank line, streaming.

    Lines are read by `lines.iter_lines` ("-" = stdin; BOM and line endings dropped; invalid
    UTF-8 names the file and line unless errors="replace"). Bare quotes are ordinary characters
    (no CSV quoting).
    """
    for number, line, _ in iter_lines(path, errors=errors):
        if line.strip():
            yield number, line.split("\t")


def parse_label(value: str, where: str) -> int:
    """A 0/1 label, or a SiameseTextError naming where it was."""
    value = value.strip()
    if value in ("0", "1"):
        return int(value)
    raise InputFileError(f"{where}: label must be 0 or 1, got {value[:20]!r}")


def read_pairs(path: str | Path, fmt: str = "tsv", errors: str = "strict") -> list[Pair]:
    """Read labelled pairs.

    Args:
        path: the file.
        fmt: "tsv" = `text_a<TAB>text_b<TAB>label` (label 0/1); "qqp-bimpm" = the BiMPM Quora
            partition, `label<TAB>q1<TAB>q2<TAB>pair_id`, no header.
    Returns:
        The pairs, in file order.
    """
    pairs = list(iter_pairs(path, fmt, errors=errors, need_label=True))
    if not pairs:
        raise InputFileError(f"{path}: no pairs in the file")
    return pairs


def iter_pairs(path: str | Path, fmt: str = "tsv", errors: str = "strict",
               need_label: bool = False) -> Iterator[Pair]:
    """Stream pairs from a file (see `read_pairs`); in "tsv" the label column is optional
    unless need_label."""
    for number, fields in iter_tsv_lines(path, errors=errors):
        where = f"{path}:{number}"
        if fmt == "qqp-bimpm":
            if len(fields) < 3:
                raise InputFileError(f"{where}: expected label, q1, q2, id separated by tabs; got {len(fields)} field(s)")
            yield Pair(undo_corenlp(fields[1]), undo_corenlp(fields[2]), parse_label(fields[0], where))
        elif fmt == "tsv":
            if len(fields) < 2 or len(fields) > 3 or (need_label and len(fields) != 3):
                want = "text_a, text_b, label" if need_label else "text_a, text_b and an optional label"
                raise InputFileError(f"{where}: expected {want} separated by tabs; got {len(fields)} field(s)")
            if len(fields) == 3 and number == 1 and fields[2].strip().lower() in ("label", "is_duplicate"):
                continue  # a header line
            label = parse_label(fields[2], where) if len(fields) == 3 else float("nan")
            yield Pair(fields[0], fields[1], label)
        else:
            raise ArgumentError(f"unknown pair format {fmt!r}; expected tsv or qqp-bimpm")


def text_components(pairs: Sequence[Pair], positive_only: bool = False) -> dict[str, int]:
    """Connected components of the graph whose nodes are normalised texts and edges are pairs.

    Args:
        positive_only: only genuine pairs (label 1) are edges, so the components are duplicate
            groups (on Quora: all the phrasings of one question); every text still gets a group.
    Returns:
        normalised text -> component id, ids numbered in order of first appearance.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    keys = [(normalize(p.a), normalize(p.b)) for p in pairs]
    for (a, b), p in zip(keys, pairs):
        ra, rb = find(a), find(b)
        if ra != rb and (not positive_only or p.label == 1):
            parent[max(ra, rb)] = min(ra, rb)
    roots: dict[str, int] = {}
    out: dict[str, int] = {}
    for a, b in keys:
        out[a] = roots.setdefault(find(a), len(roots))
        out[b] = roots.setdefault(find(b), len(roots))
    return out


def group_ids(pairs: Sequence[Pair]) -> list[int]:
    """For each pair, the id of its connected component (see `text_components`): pairs that
    share a text, directly or through a chain of pairs, share a group."""
    component = text_components(pairs)
    return [component[normalize(p.a)] for p in pairs]


def split_pairs(pairs: Sequence[Pair], fractions: Sequence[float], seed: int = 0) -> list[list[Pair]]:
    """Split pairs into parts of about the given fractions with no text in two parts.

    Whole components (see `group_ids`) are assigned to parts, in a seeded random order, so the
    same question never sits in both training and validation. Deterministic for a seed.
    """
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError("fractions must add up to 1")
    groups = group_ids(pairs)
    members: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    order = sorted(members)
    random.Random(seed).shuffle(order)
    targets = [f * len(pairs) for f in fractions]
    parts: list[list[Pair]] = [[] for _ in fractions]
    part = 0
    for g in order:
        while part < len(parts) - 1 and len(parts[part]) >= targets[part]:
            part += 1
        parts[part].extend(pairs[i] for i in members[g])
    return parts
