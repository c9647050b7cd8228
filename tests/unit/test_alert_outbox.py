"""The alert deliverer and the rule caps on their own: real sockets and HTTP servers on
127.0.0.1, a real DuckDB ledger in tmp_path; no processor process."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import socket
import threading
import time

import pytest

from genops_processor.alerts import Monitoring, Rule, RuleLimitError, outbox
from genops_processor.alerts import monitoring as monitoring_module
from genops_processor.alerts.delivery import Deliverer
from genops_processor.alerts.messages import Notice
from genops_processor.budgets import Policy
from genops_processor.budgets.alert_settings import SmtpSettings
from genops_processor.domain import Scope
from genops_processor.limits import DELIVERY_BACKOFF_S, DELIVERY_JITTER, DELIVERY_RETRY_S
from genops_processor.storage import Storage


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Recorded:
    """The deliverer's recorder: (channel, attempts, status, error, next_at, recorded at)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.changed = threading.Condition()

    def __call__(self, item, status, error, next_at) -> None:
        with self.changed:
            self.calls.append((item.channel, item.attempts, status, error, next_at, now()))
            self.changed.notify_all()

    def wait(self, predicate, seconds: float = 20) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self.calls), seconds)


def item(channel: str, created: dt.datetime | None = None) -> outbox.Item:
    at = created or now()
    return outbox.Item(Notice("a1", "subject", "text", {}), channel, at, at)


def answering(status: int, headers: dict[str, str] | None = None):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()

        def log_message(self, *args):
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    return web, f"webhook+http://127.0.0.1:{web.server_address[1]}/hook"


@pytest.fixture
def deliverer():
    recorded = Recorded()
    sender = Deliverer(lambda: SmtpSettings(), recorded)
    yield sender, recorded
    sender.close()


def test_retry_after_sets_the_next_attempt(deliverer):
    sender, recorded = deliverer
    web, channel = answering(429, {"Retry-After": "120"})
    try:
        sender.start([item(channel)])
        assert recorded.wait(lambda calls: len(calls) == 1)
    finally:
        web.shutdown()
    _, attempts, status, error, next_at, at = recorded.calls[0]
    assert (attempts, status) == (1, "failed") and error.startswith("HTTP 429")
    assert (next_at - at).total_seconds() > 100  # the receiver's wish, not the 1 s backoff


def test_failed_attempts_back_off_exponentially(deliverer):
    sender, recorded = deliverer
    web, channel = answering(500)
    try:
        sender.start([item(channel)])
        assert recorded.wait(lambda calls: len(calls) == 2)
    finally:
        web.shutdown()
    waits = [(next_at - at).total_seconds() for *_, next_at, at in recorded.calls]
    for wait, full in zip(waits, (DELIVERY_BACKOFF_S, 2 * DELIVERY_BACKOFF_S), strict=True):
        # doubled per attempt, shortened by up to DELIVERY_JITTER of it at random
        assert full * (1 - DELIVERY_JITTER) - 0.2 <= wait <= full + 0.2
    assert [c[1:3] for c in recorded.calls] == [(1, "failed"), (2, "failed")]


def test_an_alert_past_the_retry_period_expires(deliverer, unused_port):
    sender, recorded = deliverer
    old = now() - dt.timedelta(seconds=DELIVERY_RETRY_S + 60)
    sender.start([item(f"webhook+http://127.0.0.1:{unused_port}/gone", old)])
    assert recorded.wait(lambda calls: len(calls) == 1)
    _, _, status, error, next_at, _ = recorded.calls[0]
    assert status == "expired" and next_at is None and "given up" in error
    time.sleep(DELIVERY_BACKOFF_S * 2)  # and it is not tried again
    assert len(recorded.calls) == 1 and sender.waiting() == 0


def test_a_hung_channel_does_not_hold_up_another(deliverer):
    sender, recorded = deliverer
    hung = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    web, working = answering(200)
    try:
        hung_channel = f"webhook+http://127.0.0.1:{hung.getsockname()[1]}/hang"
        sender.start([item(hung_channel), item(hung_channel + "2")])
        sender.start([item(working)])
        assert recorded.wait(lambda calls: any(c[0] == working for c in calls))
        first = recorded.calls[0]
        assert first[0] == working and first[2] == "delivered"  # before any hung one ended
        assert recorded.wait(lambda calls: len(calls) == 3)  # the hung ones time out, later
        assert {c[2] for c in recorded.calls[1:]} == {"failed"}
        assert all("no answer within" in c[3] for c in recorded.calls[1:])
    finally:
        web.shutdown()
        hung.close()


class NoDelivery:
    def start(self, items) -> None:
        pass


def test_rules_past_the_total_cap_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(monitoring_module, "MAX_ALERT_RULES", 3)
    with Storage(tmp_path / "ledger.duckdb") as storage:
        monitoring = Monitoring(storage, Policy, now, NoDelivery())

        async def scenario() -> None:
            for team in ("a", "b", "c"):
                await monitoring.add_rule(
                    Rule("cost", Scope(team=team), threshold=50, channels=("log://",)), "t"
                )
            with pytest.raises(RuleLimitError, match="3 alert rules already, at most 3"):
                await monitoring.add_rule(
                    Rule("cost", Scope(team="d"), threshold=50, channels=("log://",)), "t"
                )
            first = monitoring.rules()[0].rule_id
            assert (await monitoring.delete_rule(first, "t")).rule_id == first
            assert await monitoring.delete_rule(first, "t") is None
            await monitoring.add_rule(
                Rule("cost", Scope(team="d"), threshold=50, channels=("log://",)), "t"
            )

        asyncio.run(scenario())
        assert [r.scope.team for r in monitoring.rules()] == ["b", "c", "d"]


def test_an_outbox_row_of_an_older_ledger_is_still_to_deliver(tmp_path):
    import duckdb

    path = tmp_path / "ledger.duckdb"
    with Storage(path) as ledger:
        ledger.call(lambda conn: outbox.enqueue(conn, Notice("a1", "s", "t", {}), ["ops"], now()))
    with duckdb.connect(str(path)) as conn:  # what a processor before the state column left
        conn.execute("ALTER TABLE alert_outbox DROP COLUMN state")
    with Storage(path) as ledger:
        (waiting,) = ledger.call(outbox.pending)
        state = ledger.call(lambda conn: conn.execute("SELECT state FROM alert_outbox").fetchall())
    assert (waiting.channel, waiting.message.alert_id, state) == ("ops", "a1", [("pending",)])
