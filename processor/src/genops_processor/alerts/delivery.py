"""Budget alerts: each threshold fires once per budget and period, to every channel.

A budget in the policy file may list ``thresholds`` (percent of its limit,
default 50, 80, 100) and ``alerts``, channel addresses:

* ``webhook+http://host/path`` (or https): a JSON POST of the alert;
* ``slack+https://hooks.slack.com/...``: a Slack-compatible ``{"text": ...}``;
* ``email://ops@example.com``: a mail through the policy's ``smtp`` server;
* ``log://``: a line in the processor's log.

Which thresholds are due is pure logic (:func:`due`); that an alert fired is
written to the ledger in the same step (so it fires once, even across
restarts); delivery happens on a thread of its own with retries, and each
attempt's outcome is recorded.
"""

from __future__ import annotations

import json
import logging
import queue
import smtplib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from email.message import EmailMessage

from genops.money import format_usd
from genops_processor.budgets.alert_settings import SmtpSettings, is_address

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    alert_id: str
    budget: str
    period_start: str
    threshold: int
    spent_micros: int
    limit_micros: int

    @property
    def text(self) -> str:
        return (
            f"GenOps budget '{self.budget}' reached {self.threshold}%: spent "
            f"{format_usd(self.spent_micros)} of {format_usd(self.limit_micros)} "
            f"(period from {self.period_start})"
        )

    @property
    def subject(self) -> str:
        return f"GenOps budget alert: {self.budget} at {self.threshold}%"

    def payload(self) -> dict:
        return {**asdict(self), "text": self.text}


@dataclass(frozen=True)
class Notice:
    """Any other message: a monitoring rule's alert, a report, a health check."""

    alert_id: str
    subject: str
    text: str
    detail: Mapping[str, object]

    def payload(self) -> dict:
        return {
            "alert_id": self.alert_id,
            "subject": self.subject,
            "text": self.text,
            **self.detail,
        }


def resolve(channel: str, names: Mapping[str, str]) -> str | None:
    """A delivery address for a channel: itself, or what the policy's ``channels:``
    maps the name to (``slack://alerts``, ``team_lead``); None when unknown."""
    if is_address(channel):
        return channel
    return names.get(channel)


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


Recorder = Callable[[str, str, int, str, str], None]  # alert_id, channel, attempt, status, error


class Deliverer:
    """Sends alerts on its own thread, retrying each channel with backoff."""

    def __init__(
        self, smtp: SmtpSettings, record: Recorder, attempts: int = 4, backoff_s: float = 0.2
    ) -> None:
        self._smtp, self._record = smtp, record
        self._attempts, self._backoff_s = attempts, backoff_s
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="genops-alerts", daemon=True)
        self._thread.start()

    def submit(self, alert: Alert | Notice, channels: Iterable[str]) -> None:
        for channel in channels:
            self._jobs.put((alert, channel))

    def close(self, timeout_s: float = 10.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            alert, channel = job
            for attempt in range(1, self._attempts + 1):
                try:
                    self._send(alert, channel)
                    self._record(alert.alert_id, channel, attempt, "delivered", "")
                    break
                except Exception as error:  # recorded, retried, never raised
                    self._record(alert.alert_id, channel, attempt, "failed", str(error)[:300])
                    if attempt < self._attempts:
                        time.sleep(self._backoff_s * 2 ** (attempt - 1))

    def _send(self, alert: Alert | Notice, channel: str) -> None:
        if channel == "log://":
            _log.warning("%s", alert.text)
        elif channel.startswith("webhook+"):
            _post(channel.removeprefix("webhook+"), alert.payload())
        elif channel.startswith("slack+"):
            _post(channel.removeprefix("slack+"), {"text": f"*{alert.subject}*\n{alert.text}"})
        elif channel.startswith("email://"):
            message = EmailMessage()
            message["Subject"] = alert.subject
            message["From"] = self._smtp.sender
            message["To"] = channel.removeprefix("email://")
            message.set_content(alert.text)
            with smtplib.SMTP(self._smtp.host, self._smtp.port, timeout=10) as smtp:
                smtp.send_message(message)


def _post(url: str, payload: dict) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status >= 300:
            raise urllib.error.HTTPError(url, response.status, "not delivered", None, None)
