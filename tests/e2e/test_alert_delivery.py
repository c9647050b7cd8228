"""Alert delivery off the writer through a durable outbox: a channel that hangs delays
only itself, every attempt is recorded, and what is undelivered is retried after a
restart. Real processors, real sockets on 127.0.0.1; nothing mocked."""

from __future__ import annotations

import http.server
import json
import socket
import threading

import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from tests.e2e.test_alerts import wait_for
from tests.e2e.test_analytics import MIDDAY_ZONE, run_span, send


class Receiver(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802
        Receiver.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def serve(port: int = 0) -> http.server.ThreadingHTTPServer:
    web = http.server.ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    return web


@pytest.fixture
def receiver():
    Receiver.received = []
    web = serve()
    yield f"webhook+http://127.0.0.1:{web.server_address[1]}/ok"
    web.shutdown()
    web.server_close()


@pytest.fixture
def hung():
    """A socket that accepts every connection and never answers (nor closes)."""
    server = socket.create_server(("127.0.0.1", 0))
    held, stop = [], threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"webhook+http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def budget_policy(tmp_path, channels: dict[str, str]):
    """The policy's channels (name: address); the budget alerts every one of them."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"channels: {json.dumps(channels)}\n"
        "budgets:\n  - name: vision-daily\n    scope: {team: vision}\n"
        f"    timezone: {MIDDAY_ZONE}\n"
        f'    daily_limit: "36"\n    thresholds: [50]\n    alerts: {json.dumps(list(channels))}\n'
    )
    return policy


def stored(db, sql: str) -> list[tuple]:
    with storage.Storage(db, read_only=True) as ledger:
        return ledger.call(lambda conn: conn.execute(sql).fetchall())


def test_hung_channels_never_delay_a_budget_alert(start_processor_with, tmp_path, hung, receiver):
    hung_channels = [f"hung-{name}" for name in ("a", "b", "c")]
    policy = budget_policy(
        tmp_path, {**{name: f"{hung}/{name}" for name in hung_channels}, "receiver": receiver}
    )
    processor = start_processor_with("--policy", str(policy))
    stub = processor.stub()
    for channel in hung_channels:  # the attack: notifications to channels that hang
        stub.Notify(pb.NotifyRequest(channels=[channel], subject="report"), timeout=10)

    send(processor, [run_span(days_ago=0.01, hours=0.6)])  # $21.60 of $36: past 50 %
    # Delivered while the hung channels still wait for their answers.
    assert wait_for(lambda: len(Receiver.received) == 1, seconds=15)
    assert Receiver.received[0]["budget"] == "vision-daily"

    def attempts() -> dict[str, list[str]]:
        listed = stub.ListAlerts(pb.ListAlertsRequest(limit=10), timeout=10)
        found: dict[str, list[str]] = {}
        for alert in json.loads(listed.alerts_json):
            for delivery in alert["deliveries"]:
                found.setdefault(delivery["channel"], []).append(delivery["status"])
        return found

    # Each hung notification is retried from the outbox: two failed attempts, no more yet.
    assert wait_for(
        lambda: all(attempts().get(c, [])[:2] == ["failed", "failed"] for c in hung_channels),
        seconds=60,
    )
    assert processor.stop() == 0
    waiting = stored(
        processor.db,
        "SELECT channel, attempts, last_error FROM alert_outbox WHERE state = 'retrying'",
    )
    assert {row[0] for row in waiting} == set(hung_channels)  # 3 notices, 1 budget alert each
    assert all(row[1] >= 1 and "no answer within" in row[2] for row in waiting)
    delivered = stored(
        processor.db,
        "SELECT channel, attempt FROM alert_deliveries WHERE status = 'delivered'",
    )
    assert delivered == [("receiver", 1)]  # by name: the ledger keeps no address


def test_an_undelivered_alert_is_retried_after_a_restart(
    start_processor_with, tmp_path, unused_port
):
    Receiver.received = []
    channel = "later"  # nobody listens at its address yet
    policy = budget_policy(tmp_path, {channel: f"webhook+http://127.0.0.1:{unused_port}/later"})
    first = start_processor_with("--policy", str(policy))
    send(first, [run_span(days_ago=0.01, hours=0.6)])  # fires, with its outbox row
    assert first.stop() == 0
    (row,) = stored(first.db, "SELECT alert_id, channel, attempts FROM alert_outbox")
    alert_id, _, tried = row
    assert row[1] == channel

    web = serve(unused_port)  # the receiver is back, then the processor
    try:
        second = start_processor_with("--policy", str(policy))
        assert wait_for(lambda: len(Receiver.received) == 1, seconds=15)
        assert Receiver.received[0]["alert_id"] == alert_id
        assert second.stop() == 0
    finally:
        web.shutdown()
        web.server_close()
    done = stored(second.db, "SELECT alert_id, channel, state, attempts FROM alert_outbox")
    assert done == [(alert_id, channel, "delivered", tried + 1)]  # kept, with its state
    attempts = stored(
        second.db,
        f"SELECT attempt, status FROM alert_deliveries WHERE alert_id = '{alert_id}' "
        "ORDER BY attempt",
    )
    assert attempts[-1] == (tried + 1, "delivered")
    assert all(status == "failed" for _, status in attempts[:-1])
    fired = stored(second.db, "SELECT count(*) FROM alerts_fired")
    assert fired == [(1,)]  # retried, not fired again
