"""Scan: one streaming pass over a corpus file that checks it before the real parse.

It reads lines with the one line reader (strict UTF-8, the first bad line named), counts the
fields of every record with Python's csv module (same delimiter and quoting as the parse that
follows) and keeps the line number each record starts on, so later errors can name a line.
"""

from __future__ import annotations

import contextlib
import csv
import json
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from siamese_text.corpora.lines import iter_lines
from siamese_text.errors import InputFileError

MAX_LINE_BYTES = 1 << 24  # longest line (and csv field) read: 16 MB; a longer one is a FILE:LINE error


@dataclass
class Scan:
    """What the pre-scan learnt about a file.

    lines: 1-based line on which each data record starts (the header excluded once dropped).
    widths: number of fields of each data record.
    """

    path: Path
    first: list[str] | None = None  # fields of the first record (a header, maybe)
    header: list[str] | None = None
    header_line: int | None = None
    lines: array = field(default_factory=lambda: array("l"))
    widths: array = field(default_factory=lambda: array("l"))

    @property
    def max_width(self) -> int:
        return max(self.widths) if len(self.widths) else 0

    def drop_first(self) -> None:
        """Treat the first record as the header."""
        if self.first is None or self.header is not None:
            return
        self.header = [h.strip() for h in self.first]
        self.header_line = self.lines[0]
        del self.lines[0]
        del self.widths[0]

    def check_width(self, need: int, where: str) -> None:
        """Raise naming the first record with fewer than `need` fields."""
        for line, width in zip(self.lines, self.widths):
            if width < need:
                raise InputFileError(f"{where}:{line}: expected at least {need} tab/comma-separated "
                                       f"fields, got {width}")


def _decoded_lines(path: Path, state: dict) -> Iterator[str]:
    """Lines of a file as text, "\n"-terminated for csv.reader; state["line"] = current number."""
    for number, text, _ in iter_lines(path, max_bytes=MAX_LINE_BYTES):
        state["line"] = number
        yield text + "\n"


@contextlib.contextmanager
def _csv_field_limit(limit: int):
    """csv's process-wide field size limit raised to `limit` for a while, then put back."""
    before = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def scan_delimited(path: Path, delimiter: str, quoting: int) -> Scan:
    """Scan a delimited file; blank lines are skipped (as the parser does)."""
    scan, state = Scan(path), {"line": 0}
    start = 1
    try:
        # Not strict: like the parser that follows (pandas), a stray quote is kept as a character.
        with _csv_field_limit(MAX_LINE_BYTES):
            for fields in csv.reader(_decoded_lines(path, state), delimiter=delimiter, quoting=quoting):
                if fields and any(f.strip() for f in fields):
                    if scan.first is None:
                        scan.first = fields
                    scan.lines.append(start)
                    scan.widths.append(len(fields))
                start = state["line"] + 1
    except csv.Error as exc:
        raise InputFileError(f"{path}:{state['line']}: malformed quoting ({exc})") from None
    if scan.first is None:
        raise InputFileError(f"{path}: the file is empty")
    return scan


def scan_jsonl(path: Path) -> Scan:
    """Scan a JSON-lines file: every non-blank line must be one JSON object."""
    scan = Scan(path)
    keys: dict[str, None] = {}
    for number, text, _ in iter_lines(path, max_bytes=MAX_LINE_BYTES):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputFileError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise InputFileError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        keys.update(dict.fromkeys(record))
        scan.lines.append(number)
        scan.widths.append(len(record))
    if not len(scan.lines):
        raise InputFileError(f"{path}: the file is empty")
    scan.header = list(keys)
    scan.first = scan.header
    return scan
