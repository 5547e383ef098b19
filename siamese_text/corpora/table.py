"""Parse a checked corpus file with Hugging Face `datasets` (csv / json builders) into columns."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

from siamese_text.corpora.lines import iter_lines
from siamese_text.corpora.scan import Scan
from siamese_text.errors import InputFileError, SiameseTextError
from siamese_text.extras import require


@contextlib.contextmanager
def _quiet_datasets():
    """No progress bars or info logs from `datasets` while we parse (library code never prints)."""
    datasets = require("datasets", "train", "reading corpus files")

    bars = datasets.utils.logging.is_progress_bar_enabled()
    level = datasets.utils.logging.get_verbosity()
    datasets.utils.logging.disable_progress_bar()
    datasets.utils.logging.set_verbosity(logging.ERROR)
    try:
        yield datasets
    finally:
        datasets.utils.logging.set_verbosity(level)
        if bars:
            datasets.utils.logging.enable_progress_bar()


def read_table(path: Path, lay, scan: Scan, spec: dict[str, object], cache_dir: str | None) -> dict[str, list]:
    """Columns (role -> list of cell strings, None where a cell is absent) of a scanned file.

    Args:
        lay: the format's Layout (delimiter, quoting, json).
        scan: the pre-scan (header, record line numbers, widths).
        spec: role -> column name or position (None = not read).
    """
    roles = {role: key for role, key in spec.items() if key is not None}
    with contextlib.ExitStack() as stack:
        datasets = stack.enter_context(_quiet_datasets())
        cache = cache_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="siamese-text-corpus-"))
        try:
            if lay.json:
                source = path
                if scan.lines[-1] != len(scan.lines):  # blank lines: Arrow's JSON reader refuses them
                    source = Path(cache) / "compact.jsonl"
                    with open(source, "w", encoding="utf-8") as dst:  # the lines the scan read
                        dst.writelines(text + "\n" for _, text, _ in iter_lines(path) if text.strip())
                ds = datasets.load_dataset("json", data_files=str(source), split="train", cache_dir=cache)
                names = {role: key for role, key in roles.items()}
            else:
                names = {role: (f"c{scan.header.index(key)}" if isinstance(key, str) else f"c{key}")
                         for role, key in roles.items()}
                used = sorted(set(names.values()), key=lambda c: int(c[1:]))
                ds = datasets.load_dataset(
                    "csv", data_files=str(path), split="train", cache_dir=cache,
                    delimiter=lay.delimiter, quoting=lay.quoting, header=None,
                    column_names=[f"c{i}" for i in range(scan.max_width)], usecols=used,
                    skiprows=scan.header_line or 0, encoding="utf-8-sig",
                    na_filter=False, keep_default_na=False,
                    features=datasets.Features({c: datasets.Value("string") for c in used}))
        except SiameseTextError:
            raise
        except Exception as exc:  # noqa: BLE001 - pandas / pyarrow raise many types; show one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise InputFileError(f"{path}: could not be parsed ({first})") from None
        if len(ds) != len(scan.lines):
            raise InputFileError(f"{path}: parsed {len(ds)} rows but the file has {len(scan.lines)} records "
                                   f"(mixed quoting?); check the --format")
        table = ds.with_format("arrow")
        out = {}
        for role, col in names.items():
            if col not in ds.column_names:
                raise InputFileError(f"{path}: missing column {col!r}")
            values = table[col].to_pylist()  # one Arrow -> Python conversion, not row by row
            out[role] = values if lay.json is False else [None if v is None else str(v) for v in values]
        return out
