"""A file a running processor re-reads when it changes (credentials, JWKS keys).

At most one ``stat`` a second; a changed file is parsed again. A file that becomes
invalid keeps the last good contents in force and says why through ``last_error``,
so a typo never opens or closes the door for everyone. The first load must succeed:
start-up fails loud."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
RELOAD_EVERY_S = 1.0


class WatchedFile(Generic[T]):
    def __init__(
        self,
        path: str | os.PathLike,
        load: Callable[[Path], T],
        errors: tuple[type[Exception], ...],
    ) -> None:
        self.path = Path(path)
        self._load = load
        self._errors = errors
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._current = load(self.path)
        self._checked = time.monotonic()
        self.last_error: str | None = None
        # Called with (old, new) after a changed file was loaded (e.g. to audit it);
        # must not raise or block (the caller is serving a request).
        self.on_change: Callable[[T, T], None] | None = None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            s = self.path.stat()
        except OSError:
            return None
        return (s.st_mtime_ns, s.st_size, s.st_ino)

    def current(self) -> T:
        now = time.monotonic()
        if now - self._checked < RELOAD_EVERY_S:
            return self._current
        with self._lock:
            if now - self._checked >= RELOAD_EVERY_S:
                self._checked = now
                stamp = self._stat()
                if stamp != self._stamp:
                    try:
                        old, self._current = self._current, self._load(self.path)
                        self._stamp = stamp
                        self.last_error = None
                        if self.on_change is not None:
                            self.on_change(old, self._current)
                    except self._errors as error:
                        self.last_error = str(error)
        return self._current
