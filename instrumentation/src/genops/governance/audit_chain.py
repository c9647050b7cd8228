"""The audit trail's hash chain: one definition of an event's canonical encoding and of
what makes a chain intact, shared by the processor (which writes and verifies the
ledger), ``genops audit`` and the client's ``export_audit_trail``.

An event is the mapping of :data:`CHAINED_FIELDS` plus ``hash``. Every value is text
except ``seq`` (an integer, written in decimal); an unknown value is the empty string,
never null. The canonical encoding of an event is, for each field of
:data:`CHAINED_FIELDS` in that order, the UTF-8 byte length of its text in decimal, a
colon, the text, and a comma (``<bytes>:<text>,``); the fields are concatenated with
nothing between them. Its ``hash`` is the lowercase hex SHA-256 of those bytes. The
last chained field is ``prev_hash``, the hash of the event before (64 zeros before the
first event), so each hash covers every event before it.

``occurred_at`` is UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fractional
digits); ``detail``, ``reported`` and ``business_context`` are JSON text, hashed as
stored (never re-serialised by a verifier).

A chain is intact when, in ``seq`` order, every event's hash is the hash of its
encoding, every ``seq`` is the one before plus one, and every ``prev_hash`` is the hash
of the event before. The first event of a range links to whatever hash its
``prev_hash`` names (the event before the range, or the checkpoint of pruned events).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

GENESIS_HASH = "0" * 64

CHAINED_FIELDS = (
    "seq",
    "event_id",
    "occurred_at",
    "kind",
    "actor",
    "team",
    "detail",
    "reported",
    "region",
    "environment",
    "client_address",
    "policy_version",
    "approval_id",
    "business_context",
    "prev_hash",
)
EVENT_FIELDS = (*CHAINED_FIELDS, "hash")

# The kind of the checkpoint event pruning leaves: its detail names the last pruned
# event ({"through_seq": N, "through_hash": H, ...}); the first event kept links to H.
CHECKPOINT_KIND = "audit.pruned"


def format_time(when: dt.datetime) -> str:
    """``occurred_at`` as hashed: UTC, microseconds, ``Z`` (a naive time is taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(event: Mapping[str, object]) -> bytes:
    """The bytes an event's hash is taken over (see the module docstring)."""
    out = []
    for name in CHAINED_FIELDS:
        value = event.get(name)
        text = "" if value is None else str(value)
        raw = text.encode("utf-8")
        out.append(b"%d:%s," % (len(raw), raw))
    return b"".join(out)


def event_hash(event: Mapping[str, object]) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """What a verification found: ``first_bad_seq`` is the first sequence number that is
    wrong (edited, missing, out of place or inserted), None when intact."""

    intact: bool
    events: int
    first_bad_seq: int | None = None
    reason: str = ""
    head_seq: int = 0  # the last event checked (0: none)
    head_hash: str = GENESIS_HASH

    def describe(self) -> str:
        if self.intact:
            return f"intact: {self.events} event(s), head {self.head_seq} {self.head_hash}"
        return f"broken at sequence number {self.first_bad_seq}: {self.reason}"


class ChainChecker:
    """Checks events fed in ``seq`` order, a page at a time (memory stays bounded).

    ``start_seq``/``start_hash``: where the chain must start (the first event's seq and
    the hash it must link to); None: wherever the first event fed says."""

    def __init__(self, start_seq: int | None = None, start_hash: str | None = None) -> None:
        self._next_seq = start_seq
        self._prev_hash = start_hash
        self.events = 0
        self.bad: tuple[int, str] | None = None

    def feed(self, event: Mapping[str, object]) -> bool:
        """Check one event; False once the chain is broken (later events are not checked)."""
        if self.bad is not None:
            return False
        seq = _int(event.get("seq"))
        if seq is None:
            return self._fail(self._next_seq or 0, f"sequence number {event.get('seq')!r}")
        if self._next_seq is not None and seq != self._next_seq:
            if seq > self._next_seq:
                missing = f"{self._next_seq}" + (f"..{seq - 1}" if seq - 1 > self._next_seq else "")
                return self._fail(self._next_seq, f"event(s) {missing} missing (next is {seq})")
            return self._fail(seq, f"sequence number {seq} repeated or out of order")
        if self._prev_hash is not None and event.get("prev_hash") != self._prev_hash:
            return self._fail(seq, f"does not follow event {seq - 1} (prev_hash differs)")
        if event_hash(event) != event.get("hash"):
            return self._fail(seq, "content altered (hash differs)")
        self._next_seq, self._prev_hash = seq + 1, str(event.get("hash"))
        self.events += 1
        return True

    def _fail(self, seq: int, reason: str) -> bool:
        self.bad = (seq, reason)
        return False

    def verdict(self) -> Verdict:
        head_seq = (self._next_seq or 1) - 1
        head_hash = self._prev_hash or GENESIS_HASH
        if self.bad is not None:
            return Verdict(False, self.events, self.bad[0], self.bad[1], head_seq, head_hash)
        return Verdict(True, self.events, head_seq=head_seq, head_hash=head_hash)


def verify_events(
    events: Iterable[Mapping[str, object]],
    start_seq: int | None = None,
    start_hash: str | None = None,
) -> Verdict:
    """Verify events in the order given (an export's order is ``seq`` order)."""
    checker = ChainChecker(start_seq, start_hash)
    for event in events:
        if not checker.feed(event):
            break
    return checker.verdict()


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
