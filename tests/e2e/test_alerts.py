"""Budget alerts: once per threshold, to a local webhook (retried) and a local SMTP server."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest
from aiosmtpd.controller import Controller

from genops_processor import storage
from tests.e2e.test_analytics import MIDDAY_ZONE, run_span, send


class Hooks(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []
    failures_left = 1  # the first delivery fails: the processor must retry

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Hooks.failures_left:
            Hooks.failures_left -= 1
            self.send_response(500)
        else:
            Hooks.received.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(envelope.content.decode())
        return "250 OK"


@pytest.fixture
def endpoints(unused_port):
    Hooks.received, Hooks.failures_left = [], 1
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=unused_port)
    smtp.start()
    yield web.server_address[1], smtp.port, mailbox
    smtp.stop()
    web.shutdown()


def wait_for(predicate, seconds=20):
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)
    return predicate()


def test_each_threshold_alerts_once_on_every_channel(start_processor_with, tmp_path, endpoints):
    web_port, smtp_port, mailbox = endpoints
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"""
smtp: {{host: 127.0.0.1, port: {smtp_port}, from: genops@example.com, starttls: false}}
budgets:
  - name: vision-daily
    scope: {{team: vision}}
    daily_limit: "36"
    timezone: {MIDDAY_ZONE}
    alerts: ["webhook+http://127.0.0.1:{web_port}/hook", "email://ops@example.com", "log://"]
""")
    processor = start_processor_with("--policy", str(policy))
    # One T4 at $36/h (round catalog): hours give dollars directly.
    for hours, expected in ((0.4, 0), (0.2, 1), (0.25, 2), (0.25, 3), (0.1, 3)):
        send(processor, [run_span(days_ago=0.01, hours=hours)])
        assert wait_for(lambda n=expected: len(Hooks.received) == n)
    time.sleep(1)  # nothing more arrives
    thresholds = [hook["threshold"] for hook in Hooks.received]
    assert thresholds == [50, 80, 100]
    assert Hooks.received[0]["budget"] == "vision-daily"
    assert wait_for(lambda: len(mailbox.messages) == 3)
    assert all("Subject: GenOps budget alert: vision-daily" in m for m in mailbox.messages)
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        deliveries = db.call(
            lambda c: c.execute(
                "SELECT channel, attempt, status FROM alert_deliveries ORDER BY attempted_at"
            ).fetchall()
        )
    # an inline address with a secret part (its path) is kept by name, never as is
    webhook = [(a, s) for ch, a, s in deliveries if ch == "vision-daily.alerts[0]"]
    assert webhook[:2] == [(1, "failed"), (2, "delivered")]  # retried after the failure
    assert len([d for d in deliveries if d[2] == "delivered"]) == 9  # 3 alerts x 3 channels
