"""Keeps a reservation ("hold") open while its owner works without runs.

An experiment block reserves its ``max_cost`` at enter and gives it back at
exit. No run reports on that hold, so without renewal the processor would
expire it after its hold timeout (``--hold-timeout``, default 120 s) in the
middle of a long block. A :class:`HoldRenewal` renews it from a daemon thread:
once at start (to learn the processor's timeout), then every heartbeat
interval, and at most every ``timeout_s / 3`` once the processor has said its
timeout. It never raises into user code: a failed renewal logs one warning and
is retried; a hold the processor says is no longer open logs one warning and
ends the renewals.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

_log = logging.getLogger("genops.adapter")


class HoldRenewal:
    def __init__(self, client: Any, hold_id: str, interval_s: float, owner: str) -> None:
        self.hold_id = hold_id
        self.owner = owner  # what holds it, for the log ("experiment 'x'")
        self.renewals = 0  # renewals the processor accepted
        self.closed = False  # the processor said the hold is no longer open
        self._client = client
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"genops-hold-renewal-{hold_id[:8]}", daemon=True
        )

    def start(self) -> HoldRenewal:
        self._thread.start()
        return self

    def stop(self, wait_s: float = 0.0) -> None:
        """No renewal starts after this; one in flight is ignored when it answers."""
        self._stop.set()
        if wait_s and self._thread is not threading.current_thread():
            self._thread.join(wait_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        interval = self._interval_s
        wait = 0.0  # the first renewal at once: it tells us the processor's timeout
        warned = False
        while not self._stop.wait(wait):
            wait = interval
            try:
                response = self._client.renew_hold(self.hold_id)
            except Exception as error:  # unreachable, closed channel, anything
                if self._stop.is_set():
                    return
                if not warned:
                    warned = True
                    _log.warning(
                        "genops: could not renew the reservation of %s (%s); will keep trying",
                        self.owner,
                        error,
                    )
                else:
                    _log.debug("genops: renewing the reservation of %s failed", self.owner)
                continue
            if self._stop.is_set():
                return  # the owner is done: its hold is being given back
            if not response.open:
                self.closed = True
                _log.warning(
                    "genops: the reservation of %s is no longer open at the processor "
                    "(expired or released); it is not renewed any more",
                    self.owner,
                )
                return
            self.renewals += 1
            if response.timeout_s > 0:
                interval = wait = min(self._interval_s, response.timeout_s / 3)
