"""Governance spans the processor has not acknowledged, kept on disk until it has.

Each process keeps its pending spans in memory and, as soon as there are any,
in one file of the spool directory (``GENOPS_SPOOL_DIR``, default
``~/.genops/spool``): ``<pid>-<start>.spool``, rewritten whole (write, then
rename) on every change, beside a ``.lock`` file the process holds locked
(``flock``) for as long as it lives. Another process that can take that lock
knows the owner is gone and *adopts* the file, if it was bound for the same
endpoint: its spans join the adopter's own pending set and are re-sent by it.
The processor stores each span once per ``(trace_id, span_id)``, so a span
sent twice changes nothing.

An entry is one span, as a serialized one-span ``ExportTraceServiceRequest``;
serialized requests concatenate into one request, so re-sending needs no
decoding. Heartbeats are cumulative: only the latest of each run is kept, and
none once the run's final span is pending. The directory is bounded
(``GENOPS_SPOOL_MAX_MB``): past the bound the oldest heartbeats, then the
oldest spans, are dropped, with one warning.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import time
from collections.abc import Iterable
from pathlib import Path

_log = logging.getLogger(__name__)
_MAGIC = b"GENOPS-SPOOL-1\n"  # then the endpoint the spans are bound for, and a newline
_LENGTH = struct.Struct("<I")
HEARTBEAT_PREFIX = "hb:"

Entry = tuple[str, bytes]  # (key, one-span ExportTraceServiceRequest)


class Spool:
    def __init__(self, directory: Path, max_bytes: int, target: str = "") -> None:
        self._dir = directory
        self._max_bytes = max_bytes
        self._header = _MAGIC + target.encode() + b"\n"
        self._name = f"{os.getpid()}-{time.time_ns()}"
        self._entries: dict[str, bytes] = {}  # insertion order is age
        self._lock = threading.Lock()
        self._lock_fd: int | None = None
        self._warned_full = False

    @property
    def path(self) -> Path:
        return self._dir / f"{self._name}.spool"

    def __len__(self) -> int:
        return len(self._entries)

    def pending(self) -> list[Entry]:
        with self._lock:
            return list(self._entries.items())

    def add(self, entries: Iterable[Entry], drop: Iterable[str] = ()) -> None:
        """Keep ``entries`` (a key seen before is replaced) and forget the keys in ``drop``."""
        with self._lock:
            for key in drop:
                self._entries.pop(key, None)
            for key, data in entries:
                self._entries.pop(key, None)  # re-inserted last: the newest
                self._entries[key] = data
            self._persist()

    def acknowledged(self, keys: Iterable[str]) -> None:
        with self._lock:
            changed = False
            for key in keys:
                changed |= self._entries.pop(key, None) is not None
            if changed:
                self._persist()

    def adopt_orphans(self) -> int:
        """Take over the files of processes that are gone; returns the spans adopted."""
        adopted = 0
        try:
            candidates = sorted(self._dir.glob("*.spool"))
        except OSError:
            return 0
        for path in candidates:
            if path.stem == self._name:
                continue
            try:
                adopted += self._adopt(path)
            except OSError:
                _log.debug("genops: could not adopt spool file %s", path, exc_info=True)
        return adopted

    def close(self) -> None:
        """Release the lock; the file stays only while spans are pending."""
        with self._lock:
            if not self._entries:
                _unlink(self.path)
                _unlink(self.path.with_suffix(".lock"))
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    # -- internals ------------------------------------------------------------------
    def _adopt(self, path: Path) -> int:
        lock_path = path.with_suffix(".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # its process is alive: its spans are its own
            if not path.exists():
                _unlink(lock_path)
                return 0
            header, entries = _read(path)
            if header not in (self._header, b""):
                return 0  # bound for another endpoint: left to a process sending there
            with self._lock:
                for key, data in entries:
                    if key not in self._entries:
                        self._entries[key] = data
                self._persist()  # ours first: a crash now leaves duplicates, not losses
            _unlink(path)
            _unlink(Path(f"{path}.tmp"))
            _unlink(lock_path)
            return len(entries)
        finally:
            os.close(fd)

    def _persist(self) -> None:
        """Write the pending set (called with the lock held); never raises."""
        try:
            if not self._entries:
                _unlink(self.path)
                return
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            if self._lock_fd is None:
                self._lock_fd = os.open(
                    self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600
                )
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._bound()
            tmp = Path(f"{self.path}.tmp")
            with open(tmp, "wb") as fh:
                fh.write(self._header)
                for key, data in self._entries.items():
                    raw = key.encode()
                    fh.write(_LENGTH.pack(len(raw)) + raw + _LENGTH.pack(len(data)) + data)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError:
            _log.warning("genops: cannot write the span spool in %s", self._dir, exc_info=True)

    def _bound(self) -> None:
        others = 0
        for path in self._dir.glob("*.spool"):
            if path.stem != self._name:
                try:
                    others += path.stat().st_size
                except OSError:
                    pass
        size = len(self._header) + sum(len(k) + len(d) + 8 for k, d in self._entries.items())
        dropped = 0
        victims = [k for k in self._entries if k.startswith(HEARTBEAT_PREFIX)]
        victims += [k for k in self._entries if not k.startswith(HEARTBEAT_PREFIX)]
        for key in victims:
            if others + size <= self._max_bytes or len(self._entries) <= 1:
                break
            size -= len(key) + len(self._entries.pop(key)) + 8
            dropped += 1
        if dropped and not self._warned_full:
            self._warned_full = True
            _log.warning(
                "genops: the span spool in %s is full (GENOPS_SPOOL_MAX_MB); "
                "dropped the %d oldest unacknowledged spans",
                self._dir,
                dropped,
            )


def _read(path: Path) -> tuple[bytes, list[Entry]]:
    """A spool file's header and entries ("" and none when it is not one); a torn
    tail (a crash mid-write) is ignored."""
    data = path.read_bytes()
    end = data.find(b"\n", len(_MAGIC))
    if not data.startswith(_MAGIC) or end < 0:
        return b"", []
    header, entries, pos = data[: end + 1], [], end + 1
    while pos + 4 <= len(data):
        (key_len,) = _LENGTH.unpack_from(data, pos)
        pos += 4
        key = data[pos : pos + key_len].decode(errors="replace")
        pos += key_len
        if pos + 4 > len(data):
            break
        (size,) = _LENGTH.unpack_from(data, pos)
        pos += 4
        if pos + size > len(data):
            break
        entries.append((key, data[pos : pos + size]))
        pos += size
    return header, entries


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
