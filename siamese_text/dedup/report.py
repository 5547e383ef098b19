"""The report of a dedup run: one entry per removed record (with the kept record it duplicates)
and per bad record, as a JSON line or as a row of a Parquet report (REPORT_COLUMNS).

Entries name a record by its file and, for text lines, "line" (null for a whole file), for other
shards "record" (1-based). Entries of record shards also say their "kind" (exact, near, bad);
those of text lines keep the fields they have always had (`exact` says the kind).
"""

from __future__ import annotations

import json

from siamese_text.corpora.records import RECORD_FORMATS


# The columns of a Parquet report (a JSONL report has the same facts, with `duplicate_of` nested)
REPORT_COLUMNS = {"file": "string", "record": "int64", "kind": "string", "score": "float64", "exact": "bool_",
                  "text": "string", "duplicate_of_file": "string", "duplicate_of_record": "int64",
                  "duplicate_of_text": "string", "id": "string", "duplicate_of_id": "string", "reason": "string"}


def record_name(name: str, fmt: str, number: int) -> dict:
    """How an entry names record `number` (1-based) of the shard `name` in format `fmt`."""
    if fmt in RECORD_FORMATS:
        return {"file": name, "record": number}
    return {"file": name, "line": number if fmt == "lines" else None}


def removed_entry(where: dict, text: str, twin: dict, twin_text: str, score: float, exact: bool,
                  ids: tuple | None, parquet: bool) -> dict:
    """The entry of a removed record (`where`, as record_name names it) and of its kept twin.

    ids: (the record's id, the twin's id) when the run has an id field, else None.
    """
    entry = {**where, "text": text}
    duplicate_of = {**twin, "text": twin_text}
    if ids is not None:
        entry["id"], duplicate_of["id"] = ids
    entry.update({"duplicate_of": duplicate_of, "score": round(float(score), 6), "exact": bool(exact)})
    if "record" in entry or parquet:  # entries of text lines stay as they have always been
        entry["kind"] = "exact" if exact else "near"
    return _flat(entry) if parquet else entry


def bad_entry(where: dict, reason: str, parquet: bool) -> dict:
    """The entry of a record that could not be read (written through unchanged)."""
    entry = {**where, "text": None, "duplicate_of": None, "score": None, "exact": False, "kind": "bad",
             "reason": reason}
    return _flat(entry) if parquet else entry


def _flat(entry: dict) -> dict:
    """An entry as a row of REPORT_COLUMNS (ids as text: one column type for ids of any type)."""
    row = {k: v for k, v in entry.items() if k != "duplicate_of"}
    row["record"] = entry.get("record", entry.get("line"))
    for key, value in (entry.get("duplicate_of") or {}).items():
        row[f"duplicate_of_{'record' if key == 'line' else key}"] = value
    for key in ("id", "duplicate_of_id"):
        if row.get(key) is not None and not isinstance(row[key], str):
            row[key] = json.dumps(row[key], ensure_ascii=False, default=str)
    return row
