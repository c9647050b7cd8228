"""Audit trail export files: JSON, CSV and Parquet, one event per row with every field of
:data:`~genops.governance.audit_chain.EVENT_FIELDS` (the chain fields included), in
``seq`` order, written a page at a time (an export of any size keeps memory bounded).

- JSON: ``{"format": "genops.audit.v1", "events": [{field: value, ...}, ...]}``
  (``seq`` a number, every other field a string).
- CSV: a header row of the field names, then one row per event (RFC 4180 quoting).
- Parquet: ``seq`` INT64, every other column a string (UTF-8); pyarrow writes it.

An exported file verifies alone: its first event's ``prev_hash`` is the hash of the
event before the range (see :mod:`genops.governance.audit_chain`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from genops.governance.audit_chain import EVENT_FIELDS

FORMATS = ("json", "csv", "parquet")
JSON_FORMAT_NAME = "genops.audit.v1"


def check_format(fmt: str) -> str:
    name = (fmt or "").lower()
    if name not in FORMATS:
        raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return name


def row(event: dict[str, Any]) -> dict[str, Any]:
    """An event as exported: every field, ``seq`` an int, the others strings."""
    out = {name: "" if event.get(name) is None else str(event[name]) for name in EVENT_FIELDS}
    out["seq"] = int(event["seq"])
    return out


def write_events(pages: Iterable[list[dict[str, Any]]], fmt: str, path: str | Path) -> int:
    """Write pages of events to ``path`` in ``fmt``; returns how many were written."""
    fmt = check_format(fmt)
    if fmt == "parquet":
        return _write_parquet(pages, Path(path))
    with open(path, "w", encoding="utf-8", newline="") as out:
        return write_text(pages, fmt, out)


def write_text(pages: Iterable[list[dict[str, Any]]], fmt: str, out: IO[str]) -> int:
    """JSON or CSV to an open text file (standard output too)."""
    count = 0
    if check_format(fmt) == "csv":
        writer = csv.DictWriter(out, fieldnames=EVENT_FIELDS)
        writer.writeheader()
        for page in pages:
            writer.writerows(row(e) for e in page)
            count += len(page)
        return count
    out.write('{"format": ' + json.dumps(JSON_FORMAT_NAME) + ', "events": [')
    for page in pages:
        for event in page:
            out.write(("\n" if count == 0 else ",\n") + json.dumps(row(event), ensure_ascii=False))
            count += 1
    out.write("\n]}\n")
    return count


def _write_parquet(pages: Iterable[list[dict[str, Any]]], path: Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover (pyarrow is in the processor's dependencies)
        raise ValueError("format parquet needs pyarrow (pip install pyarrow)") from None
    schema = pa.schema(
        [pa.field(n, pa.int64() if n == "seq" else pa.string()) for n in EVENT_FIELDS]
    )
    count = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        for page in pages:
            if page:
                rows = [row(e) for e in page]
                columns = {n: [r[n] for r in rows] for n in EVENT_FIELDS}
                writer.write_table(pa.table(columns, schema=schema))
                count += len(page)
    return count


def read_events(path: str | Path, fmt: str | None = None) -> Iterator[dict[str, Any]]:
    """The events of an export file, in file order (``fmt`` from the suffix when None)."""
    path = Path(path)
    fmt = check_format(fmt or path.suffix.lstrip("."))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(str(path)).iter_batches():
            yield from (row(e) for e in batch.to_pylist())
    elif fmt == "csv":
        with open(path, encoding="utf-8", newline="") as source:
            yield from (row(e) for e in csv.DictReader(source))
    else:
        with open(path, encoding="utf-8") as source:
            data = json.load(source)
        events = data.get("events") if isinstance(data, dict) else data
        if not isinstance(events, list):
            raise ValueError(f"{path}: expected a JSON object with an 'events' list")
        yield from (row(e) for e in events)
