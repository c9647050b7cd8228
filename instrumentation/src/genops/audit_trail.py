"""``adapter.export_audit_trail(start_date, end_date, format=...)``: the processor's audit
trail for a period, fetched a page at a time (``ExportAuditTrail``), with its hash chain
fields, as an :class:`AuditTrail` (``.events``, ``["events"]`` as the guide writes it,
``.save(path)`` in the chosen format, ``.verify()``).

Dates are ``YYYY-MM-DD`` (``end_date`` inclusive) or RFC 3339 times (``end_date``
exclusive), or ``datetime``/``date`` objects. An admin or auditor token exports every
event; a client token only its teams' events (``filtered``: each event's own hash
verifies, the links between them cannot)."""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops.governance import audit_files
from genops.governance.audit_chain import EVENT_FIELDS, Verdict, verify_events
from genops.governance.v1 import governance_pb2 as pb


@dataclass
class AuditTrail:
    start_date: str
    end_date: str
    format: str
    events: list[dict[str, Any]] = field(default_factory=list)
    filtered: bool = False  # only the caller's teams' events (links not checkable)

    def __getitem__(self, key: str) -> Any:  # the guide's audit_trail["events"]
        if key in ("events", "format", "start_date", "end_date", "filtered"):
            return getattr(self, key)
        raise KeyError(key)

    def __len__(self) -> int:
        return len(self.events)

    @property
    def content(self) -> str | bytes:
        """The events in ``format``: text for json and csv, bytes for parquet."""
        if self.format == "parquet":
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "audit.parquet"
                audit_files.write_events([self.events], "parquet", path)
                return path.read_bytes()
        out = io.StringIO()
        audit_files.write_text([self.events], self.format, out)
        return out.getvalue()

    def save(self, path: str | Path) -> Path:
        """Write the events to ``path`` in ``format``; the file verifies alone."""
        audit_files.write_events([self.events], self.format, path)
        return Path(path)

    def verify(self) -> Verdict:
        """The hash chain of these events (for a filtered export: each event's own hash;
        a gap between the caller's events is expected and not reported)."""
        if not self.filtered:
            return verify_events(self.events)
        for event in self.events:
            verdict = verify_events([event])
            if not verdict.intact:
                return verdict
        return Verdict(True, len(self.events))


def bound(value: Any, name: str) -> str:
    """A start/end date as the API takes it: '' (none), a date, or an RFC 3339 time."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return moment.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    try:
        if len(text) == 10:
            dt.date.fromisoformat(text)
        else:
            dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a date (YYYY-MM-DD) or an ISO time") from None
    return text


def pages(client: Any, since: str, until: str) -> Iterator[tuple[list[dict], bool]]:
    """(events, filtered) of each ExportAuditTrail page, in sequence order."""
    after = 0
    while True:
        request = pb.ExportAuditTrailRequest(since=since, until=until, after_seq=after)
        answer = client.export_audit_page(request)
        events = [{name: getattr(e, name) for name in EVENT_FIELDS} for e in answer.events]
        yield events, answer.filtered
        if not answer.more:
            return
        after = answer.next_after_seq


def export(
    client: Any,
    start_date: Any = None,
    end_date: Any = None,
    format: str = "json",  # noqa: A002 (the guide's keyword)
    output: str | Path | None = None,
) -> AuditTrail:
    fmt = audit_files.check_format(format)
    since, until = bound(start_date, "start_date"), bound(end_date, "end_date")
    trail = AuditTrail(since, until, fmt)
    for events, filtered in pages(client, since, until):
        trail.events += events
        trail.filtered = filtered
    if output is not None:
        trail.save(output)
    return trail
