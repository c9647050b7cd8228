"""Budget alerts and their delivery: each threshold fires once per budget and period,
to every channel, through a durable outbox.

A budget in the policy file may list ``thresholds`` (percent of its limit,
default 50, 80, 100) and ``alerts``, names of the policy's ``channels:`` or addresses:

``webhook+``, ``slack+``, ``teams+``, ``email://``, ``pagerduty://``, ``apprise+``,
``alertmanager://`` or ``log://`` (see :mod:`genops_processor.budgets.alert_settings`;
how each is sent: :mod:`channels`, through Apprise for the services).

The outbox and the delivery history keep a channel's name, never its address: the
address (and a webhook's token, the SMTP password) is looked up in the policy in force
when an attempt starts, and any of its secrets is scrubbed from the recorded error.

Which thresholds are due is pure logic (:func:`due`); that an alert fired and
what it must reach (its :mod:`outbox` rows) are written to the ledger in one
step, so it fires once and survives a restart. :class:`Deliverer` sends off
the writer thread: one attempt per channel at a time, each at most
``DELIVERY_TIMEOUT_S``, so a channel that hangs delays only itself. A failed
attempt is retried with exponential backoff (``DELIVERY_BACKOFF_S`` doubled,
at most ``DELIVERY_BACKOFF_MAX_S``, less up to ``DELIVERY_JITTER`` of it at random, at
least what the receiver's ``Retry-After`` asks) for ``DELIVERY_RETRY_S`` after the alert
fired, then expires. Every attempt's outcome is recorded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import itertools
import logging
import random
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping

from genops_processor.alerts import channels
from genops_processor.alerts.channels import DeliveryError
from genops_processor.alerts.messages import Alert, Notice
from genops_processor.alerts.outbox import Item
from genops_processor.budgets.alert_settings import Channel, SmtpSettings, scrub
from genops_processor.limits import (
    DELIVERY_BACKOFF_MAX_S,
    DELIVERY_BACKOFF_S,
    DELIVERY_CONCURRENCY,
    DELIVERY_JITTER,
    DELIVERY_RETRY_S,
)

__all__ = ["Alert", "Deliverer", "DeliveryError", "Notice", "due"]
_log = logging.getLogger(__name__)


def due(
    states: Iterable, thresholds: Mapping[str, tuple[int, ...]], fired: set[tuple[str, str, int]]
) -> list[tuple[str, str, int, int, int]]:
    """(budget, period start, threshold, spent, limit) for every threshold now passed
    and not fired yet in this period."""
    result = []
    for state in states:
        budget = state.budget
        if budget.limit_micros <= 0:
            continue
        start = state.period_start.isoformat()
        for threshold in thresholds.get(budget.name, ()):
            if (
                state.spent_micros * 100 >= budget.limit_micros * threshold
                and (budget.name, start, threshold) not in fired
            ):
                result.append(
                    (budget.name, start, threshold, state.spent_micros, budget.limit_micros)
                )
    return result


# item (attempts counted), status (delivered | failed | expired), error, next attempt (None: done)
Recorder = Callable[[Item, str, str, dt.datetime | None], None]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Deliverer:
    """Sends outbox items off the writer thread: per channel, one attempt at a time
    (in a thread of its own, at most ``DELIVERY_CONCURRENCY`` at once), so a hung
    channel never holds up another; the oldest due item of a channel goes first."""

    def __init__(
        self,
        smtp: Callable[[], SmtpSettings],
        record: Recorder,
        clock: Callable[[], dt.datetime] = _utc_now,
        channel: Callable[[str], Channel | None] | None = None,
        backoff_s: float = DELIVERY_BACKOFF_S,
    ) -> None:
        """``channel`` looks a name up in the policy in force (None: unknown); without
        it a name is its own address (tests of the delivery mechanics). ``backoff_s``:
        the first retry's delay (``GENOPS_ALERT_BACKOFF``), doubled per attempt."""
        self._smtp, self._record, self._clock = smtp, record, clock
        self._backoff_s = backoff_s
        self._channel = channel or (lambda name: Channel(name, name, name))
        # Per channel, a heap of (due, created, order, item): the next to try on top.
        self._waiting: dict[str, list[tuple]] = {}
        self._order = itertools.count()
        self._busy: set[str] = set()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self, items: Iterable[Item]) -> None:
        """Deliver these (already in the outbox) as soon as they are due."""
        items = list(items)
        if not items:
            return
        with self._wake:
            if self._closed:
                return
            now = self._clock()
            for item in items:
                if not item.attempts:  # never tried: now (whatever clock stamped it)
                    item.due = min(item.due, now)
                self._push(item)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._schedule, name="genops-alerts", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def close(self) -> None:
        """Stop starting attempts; what is undelivered stays in the outbox."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(5)

    def waiting(self) -> int:
        with self._wake:
            return sum(len(items) for items in self._waiting.values()) + len(self._busy)

    def _schedule(self) -> None:
        with self._wake:
            while not self._closed:
                self._wake.wait(self._start_due())

    def _start_due(self) -> float | None:
        """Start an attempt on each idle channel with a due item; seconds to the next."""
        now = self._clock()
        wait: float | None = None
        for channel, items in list(self._waiting.items()):
            if channel in self._busy:
                continue
            if not items:
                del self._waiting[channel]
                continue
            item = items[0][-1]
            if item.due > now:
                left = (item.due - now).total_seconds()
                wait = left if wait is None else min(wait, left)
                continue
            if len(self._busy) >= DELIVERY_CONCURRENCY:
                return 1.0  # a slot frees when an attempt ends (it notifies)
            heapq.heappop(items)
            self._busy.add(channel)
            threading.Thread(
                target=self._attempt, args=(item,), name="genops-alert-send", daemon=True
            ).start()
        return wait

    def _attempt(self, item: Item) -> None:
        error, retry_after = "", None
        try:
            self._send(item.message, item.channel)
        except DeliveryError as failure:
            error, retry_after = str(failure), failure.retry_after_s
        except Exception as failure:  # recorded, retried, never raised
            error = f"{type(failure).__name__}: {failure}" if not str(failure) else str(failure)
        item.attempts += 1
        now = self._clock()
        if not error:
            status, next_at = "delivered", None
        elif (now - item.created_at).total_seconds() >= DELIVERY_RETRY_S:
            status, next_at = "expired", None
            error = f"{error[:250]}; retried for {DELIVERY_RETRY_S / 3600:g} h, given up"
        else:
            delay = min(self._backoff_s * 2 ** (item.attempts - 1), DELIVERY_BACKOFF_MAX_S)
            # Jitter: channels that failed together do not all come back at one instant.
            delay *= 1 - DELIVERY_JITTER * random.random()  # noqa: S311 (not a secret)
            if retry_after is not None:
                delay = max(delay, min(retry_after, DELIVERY_BACKOFF_MAX_S))
            status, next_at = "failed", now + dt.timedelta(seconds=delay)
        try:
            self._record(dataclasses.replace(item), status, error[:300], next_at)
        except Exception:  # storage closed at shutdown: the outbox row is still there
            _log.debug("could not record a delivery attempt", exc_info=True)
        with self._wake:
            self._busy.discard(item.channel)
            if next_at is not None:
                item.due = next_at
                self._push(item)
            elif status == "delivered" and self._waiting.get(item.channel):
                waiting = [entry[-1] for entry in self._waiting.pop(item.channel)]
                for other in waiting:  # the channel is back: what waited goes now
                    other.due = min(other.due, now)
                    self._push(other)
            self._wake.notify()

    def _push(self, item: Item) -> None:
        entry = (item.due, item.created_at, next(self._order), item)
        heapq.heappush(self._waiting.setdefault(item.channel, []), entry)

    def _send(self, message: Alert | Notice, name: str) -> None:
        """One attempt to the channel ``name`` stands for now; an error never carries
        one of its secrets."""
        channel = self._channel(name)
        if channel is None:
            raise DeliveryError(f"channel {name!r} is not in the policy (any more)")
        if channel.unavailable:
            raise DeliveryError(channel.unavailable)
        smtp = self._smtp()
        secrets = (*channel.secrets(), *smtp.secrets())
        secrets += tuple(urllib.parse.quote(s, safe="") for s in secrets)  # as in a URL
        try:
            self._deliver(message, channel, smtp)
        except DeliveryError as error:
            raise DeliveryError(scrub(str(error), secrets), error.retry_after_s) from None
        except Exception as error:
            text = str(error) or type(error).__name__
            raise DeliveryError(scrub(text, secrets)) from None

    def _deliver(self, message: Alert | Notice, channel: Channel, smtp: SmtpSettings) -> None:
        channels.send(message, channel, smtp)
