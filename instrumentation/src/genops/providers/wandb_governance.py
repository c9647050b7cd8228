"""Data lineage records for governed artifacts (the guide's ``create_data_lineage``).

::

    from genops.providers.wandb_governance import create_data_lineage

    lineage = create_data_lineage(
        data_sources=["customer_data.csv", "public_dataset.json"],
        transformations=["cleaning", "feature_engineering"],
        validation_results={"quality_score": 0.95, "bias_check": "passed"},
        compliance_approvals=["data_governance", "legal_review"],
    )
    adapter.log_governed_artifact(artifact, governance_metadata={"data_lineage": lineage})

The record is a plain JSON-ready ``dict``; ``log_governed_artifact`` stores it with the
artifact (W&B metadata under ``genops``, and the processor's ledger), where
``genops lineage ARTIFACT`` shows it beside W&B's own ``use_artifact`` links.

It is bounded whatever it is given, so that it always fits in the artifact's governance
metadata (the processor keeps at most 64 KiB of it): each list keeps its first
:data:`MAX_ENTRIES` entries (``<list>_total`` counts them all), each text at most
:data:`MAX_CHARS` characters, ``validation_results`` at most :data:`MAX_ENTRIES` keys, and
the whole record at most :data:`MAX_RECORD_CHARS` of JSON (lists are shortened further
if needed). ``digest`` is a SHA-256 over every entry given, in order, so a full list kept
elsewhere can be checked against the record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["LINEAGE_SCHEMA", "create_data_lineage"]

LINEAGE_SCHEMA = "genops.lineage/v1"
MAX_ENTRIES = 32  # entries kept per list (and validation keys); the rest counted, digested
MAX_CHARS = 256  # characters kept of one entry (longer: cut, ending in "…")
MAX_RECORD_CHARS = 32_768  # JSON characters of the whole record (half the 64 KiB of metadata)
_LISTS = ("data_sources", "transformations", "compliance_approvals")


def create_data_lineage(
    data_sources: Iterable[Any] = (),
    transformations: Iterable[Any] = (),
    validation_results: Mapping[str, Any] | None = None,
    compliance_approvals: Iterable[Any] = (),
) -> dict[str, Any]:
    """A lineage record: where the data came from, what was done to it, how it was
    validated and who approved it. Entries may be strings, paths or mappings (a mapping
    is kept as compact JSON text); a single string is one entry, not its characters."""
    if validation_results is not None and not isinstance(validation_results, Mapping):
        raise TypeError("validation_results: expected a mapping (name -> result)")
    digest = hashlib.sha256()
    record: dict[str, Any] = {
        "schema": LINEAGE_SCHEMA,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    for name, given in zip(
        _LISTS, (data_sources, transformations, compliance_approvals), strict=True
    ):
        kept, total = _bounded_list(name, given, digest)
        record[name] = kept
        record[f"{name}_total"] = total
    results = dict(validation_results or {})
    record["validation_results"] = {
        _text(key): _scalar(value) for key, value in itertools.islice(results.items(), MAX_ENTRIES)
    }
    record["validation_results_total"] = len(results)
    for key, value in results.items():
        digest.update(f"validation_results\0{key}\0{_text(value, None)}\n".encode())
    record["digest"] = "sha256:" + digest.hexdigest()
    _fit(record)
    return record


def _bounded_list(name: str, given: Iterable[Any], digest: Any) -> tuple[list[str], int]:
    if given is None:
        return [], 0
    if isinstance(given, (str, bytes)) or not isinstance(given, Iterable):
        given = [given]
    kept: list[str] = []
    total = 0
    for item in given:  # one pass: a generator of millions is read once, never stored
        full = _text(item, None)
        digest.update(f"{name}\0{full}\n".encode())
        total += 1
        if len(kept) < MAX_ENTRIES:
            kept.append(_cut(full))
    return kept, total


def _text(value: Any, limit: int | None = MAX_CHARS) -> str:
    if isinstance(value, Mapping):
        text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    elif isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    else:
        text = str(value)
    return text if limit is None else _cut(text, limit)


def _cut(text: str, limit: int = MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scalar(value: Any) -> Any:
    """Numbers, booleans and None as they are; anything else as bounded text."""
    if value is None or isinstance(value, (bool, int, float)):
        if isinstance(value, float) and value != value:  # NaN is not JSON
            return "NaN"
        return value
    return _text(value)


def _fit(record: dict[str, Any]) -> None:
    """Shorten the lists until the record's JSON fits MAX_RECORD_CHARS."""
    while len(json.dumps(record, default=str)) > MAX_RECORD_CHARS:
        longest = max((*_LISTS, "validation_results"), key=lambda k: len(record[k]))
        if not record[longest]:
            break
        if longest == "validation_results":
            keys = list(record[longest])
            record[longest] = {k: record[longest][k] for k in keys[: len(keys) // 2]}
        else:
            record[longest] = record[longest][: len(record[longest]) // 2]
