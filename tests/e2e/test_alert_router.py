"""Alerts through the ecosystem's router and maintained libraries: a budget threshold
crossing reaches a real Prometheus Alertmanager (Debian ``prometheus-alertmanager``,
installed by this set-up when missing) with the budget's labels, where its silences
apply; a webhook and an Apprise JSON channel that fail (500, 503 with Retry-After) for a
while, across a processor restart, still get the alert, and Retry-After is honoured.
Real processes and sockets on 127.0.0.1; nothing mocked."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from genops_processor import storage
from tests.e2e.test_alerts import wait_for
from tests.e2e.test_analytics import MIDDAY_ZONE, run_span, send
from tests.helpers import BIN, stop_process

ALERTMANAGER_PACKAGE = "prometheus-alertmanager"  # Debian, 0.25 here
WAIT_S = 90  # an upper bound for anything below to happen, never asserted on


def _alertmanager_binary() -> str:
    """The Alertmanager, installed from Debian when missing (as root or with sudo -n). A
    missing binary fails the test: the CI machine must have it."""
    found = os.environ.get("GENOPS_ALERTMANAGER") or shutil.which(ALERTMANAGER_PACKAGE)
    if found:
        return found
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    command = [*prefix, "apt-get", "install", "-y", "--no-install-recommends"]
    done = subprocess.run(
        [*command, ALERTMANAGER_PACKAGE],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        text=True,
        check=False,
    )
    found = shutil.which(ALERTMANAGER_PACKAGE)
    if not found:
        pytest.fail(
            f"no {ALERTMANAGER_PACKAGE} binary and `apt-get install {ALERTMANAGER_PACKAGE}` "
            f"failed (rc {done.returncode}): {done.stderr.strip()[-300:]}"
        )
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read() or b"null")


def _post(url: str, body: object) -> object:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture
def alertmanager(tmp_path):
    binary = _alertmanager_binary()
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n")
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip: one standalone instance
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return proc.poll() is not None  # exited: stop waiting, fail below

    try:
        assert wait_for(ready, seconds=WAIT_S) and proc.poll() is None, "alertmanager exited"
        yield port, base
    finally:
        stop_process(proc)


def _budget_policy(tmp_path: Path, channels: dict[str, str], alerts: list[str]) -> Path:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"channels: {json.dumps(channels)}\n"
        "budgets:\n  - name: vision-daily\n    scope: {team: vision, project: analytics}\n"
        '    daily_limit: "36"\n    mode: advisory\n    thresholds: [50, 80]\n'
        f"    timezone: {MIDDAY_ZONE}\n"
        f"    alerts: {json.dumps(alerts)}\n"
    )
    return policy


def _listed(processor) -> list[dict]:
    out = subprocess.run(
        [str(BIN / "genops"), "alerts", "list", "--json", "--endpoint", processor.endpoint],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def test_a_budget_crossing_reaches_alertmanager_with_the_budgets_labels(
    start_processor_with, tmp_path, alertmanager
):
    port, base = alertmanager
    # A silence on the 80 % alert of this team: Alertmanager's own tools apply to ours.
    now = dt.datetime.now(dt.timezone.utc)
    silence = _post(
        f"{base}/api/v2/silences",
        {
            "matchers": [
                {"name": "team", "value": "vision", "isRegex": False},
                {"name": "threshold", "value": "80", "isRegex": False},
            ],
            "startsAt": now.isoformat(),
            "endsAt": (now + dt.timedelta(hours=1)).isoformat(),
            "createdBy": "test",
            "comment": "known overrun",
        },
    )
    policy = _budget_policy(tmp_path, {"router": f"alertmanager://127.0.0.1:{port}"}, ["router"])
    processor = start_processor_with("--policy", str(policy))
    send(processor, [run_span(days_ago=0.01, hours=0.85)])  # $30.60 of $36: past 50 and 80 %

    def ours() -> list[dict]:
        return [a for a in _get(f"{base}/api/v2/alerts") if a["labels"].get("source") == "genops"]

    assert wait_for(lambda: len(ours()) == 2, seconds=WAIT_S)
    by_threshold = {a["labels"]["threshold"]: a for a in ours()}
    labels = by_threshold["50"]["labels"]
    assert labels == {
        "source": "genops",
        "alertname": "GenOpsBudgetThreshold",
        "budget": "vision-daily",
        "threshold": "50",
        "severity": "info",
        "team": "vision",
        "project": "analytics",
        "mode": "advisory",
    }
    assert by_threshold["80"]["labels"]["severity"] == "warning"
    assert by_threshold["50"]["status"]["state"] == "active"
    assert by_threshold["80"]["status"]["silencedBy"] == [silence["silenceID"]]
    assert "vision-daily" in by_threshold["50"]["annotations"]["summary"]
    # genops alerts list shows the budget alerts, delivered to the router
    budget_alerts = [a for a in _listed(processor) if a["kind"] == "budget"]
    assert sorted(a["threshold"] for a in budget_alerts) == [50, 80]
    assert all(
        a["channels"] == [{**a["channels"][0], "channel": "router", "state": "delivered"}]
        for a in budget_alerts
    )
    shown = subprocess.run(
        [str(BIN / "genops"), "alerts", "list", "--endpoint", processor.endpoint],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "GenOps budget alert: vision-daily at 80%" in shown, shown  # a table row
    assert shown.count("router: delivered after 1 attempt") == 2, shown


class Flaky(http.server.ThreadingHTTPServer):
    """Fails every request (503 with Retry-After, then 500, alternating) until told to
    recover; records (path, monotonic time, status answered)."""

    def __init__(self, retry_after_s: int) -> None:
        self.failing, self.retry_after_s = True, retry_after_s
        self.requests: list[tuple[str, float, int]] = []
        self.bodies: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _FlakyHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def answered(self, path: str, status: int) -> int:
        return sum(1 for p, _, s in self.requests if p == path and s == status)


class _FlakyHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        server: Flaky = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with server.lock:
            mine = sum(1 for p, _, _ in server.requests if p == self.path)
            status = 200 if not server.failing else (503 if mine % 2 == 0 else 500)
            server.requests.append((self.path, time.monotonic(), status))
            if status == 200:
                server.bodies.append((self.path, body))
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", str(server.retry_after_s))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


FAILING_FOR_S = 60  # how long the webhook fails before it recovers


def test_a_failing_webhook_gets_the_alert_once_it_recovers_across_a_restart(
    start_processor_with, tmp_path, monkeypatch
):
    monkeypatch.setenv("GENOPS_ALERT_BACKOFF", "0.1")  # short for the test; 1 s by default
    web = Flaky(retry_after_s=1)
    url = f"127.0.0.1:{web.server_address[1]}"
    channels = {"hook": f"webhook+http://{url}/hook", "apprise": f"apprise+json://{url}/apprise"}
    policy = _budget_policy(tmp_path, channels, ["hook", "apprise"])
    try:
        first = start_processor_with("--policy", str(policy))
        send(first, [run_span(days_ago=0.01, hours=0.6)])  # past 50 %: one alert
        paths = ("/hook", "/apprise")
        assert wait_for(
            lambda: all(web.answered(p, 503) >= 1 and web.answered(p, 500) >= 1 for p in paths),
            seconds=WAIT_S,
        )
        assert first.stop() == 0
        waiting = _stored(first.db, "SELECT channel, state, attempts FROM alert_outbox ORDER BY 1")
        assert [c[:2] for c in waiting] == [("apprise", "retrying"), ("hook", "retrying")]
        assert all(n >= 2 for *_, n in waiting)

        second = start_processor_with("--policy", str(policy))  # the outbox survives it
        tried = len(web.requests)
        assert wait_for(lambda: len(web.requests) >= tried + 2, seconds=WAIT_S)
        # the receiver stays down for a minute from its first failure, then recovers
        down_since = web.requests[0][1]
        assert wait_for(lambda: time.monotonic() - down_since >= FAILING_FOR_S, seconds=120)
        web.failing = False
        assert wait_for(lambda: len(web.bodies) == 2, seconds=WAIT_S + 120)
        listed = _listed(second)
        assert second.stop() == 0
    finally:
        web.shutdown()
        web.server_close()
    hook = next(body for path, body in web.bodies if path == "/hook")
    assert (hook["budget"], hook["threshold"], hook["scope"]["team"]) == (
        "vision-daily",
        50,
        "vision",
    )
    apprise_body = next(body for path, body in web.bodies if path == "/apprise")
    assert "vision-daily" in apprise_body["title"] and "50%" in apprise_body["message"]
    # Retry-After honoured: after each 503 the next request waited at least its 1 s
    # (the test's backoff alone is 0.1 s); a busy machine only makes the gaps longer.
    for path in ("/hook", "/apprise"):
        times = [(at, status) for p, at, status in web.requests if p == path]
        gaps = [b[0] - a[0] for a, b in zip(times, times[1:], strict=False) if a[1] == 503]
        assert gaps and min(gaps) >= 0.9, (path, gaps)
    (alert,) = [a for a in listed if a["kind"] == "budget"]
    states = {c["channel"]: c for c in alert["channels"]}
    assert {name: s["state"] for name, s in states.items()} == {
        "apprise": "delivered",
        "hook": "delivered",
    }
    assert all(s["attempts"] >= 4 for s in states.values())
    failed = [d for d in alert["deliveries"] if d["status"] == "failed"]
    assert {d["error"][:8] for d in failed} == {"HTTP 503", "HTTP 500"}
    assert _stored(second.db, "SELECT count(*) FROM alerts_fired") == [(1,)]  # not refired


def _stored(db, sql: str) -> list[tuple]:
    with storage.Storage(db, read_only=True) as ledger:
        return ledger.call(lambda conn: conn.execute(sql).fetchall())


class _Redirecting(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.paths.append(self.path)
        self.send_response(302)
        self.send_header("Location", self.server.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args):
        pass


def _web(location: str = "") -> http.server.ThreadingHTTPServer:
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirecting)
    web.paths, web.location = [], location
    threading.Thread(target=web.serve_forever, daemon=True).start()
    return web


def test_apprise_urls_keep_their_secrets_and_never_follow_a_redirect(
    start_processor_with, tmp_path, unused_port
):
    secrets = ("pw-s3cret-71", "path-s3cret-72", "query-s3cret-73")
    elsewhere = _web()
    redirector = _web(f"http://127.0.0.1:{elsewhere.server_address[1]}/stolen")
    channels = {
        # nobody listens: the connection error names the URL, which must not show
        "down": f"apprise+json://user:{secrets[0]}@127.0.0.1:{unused_port}/{secrets[1]}",
        "moved": f"apprise+json://127.0.0.1:{redirector.server_address[1]}/x?+X-Key={secrets[2]}",
    }
    policy = _budget_policy(tmp_path, channels, ["down", "moved"])
    try:
        processor = start_processor_with("--policy", str(policy))
        send(processor, [run_span(days_ago=0.01, hours=0.6)])

        def failed() -> list[dict]:
            alerts = [a for a in _listed(processor) if a["kind"] == "budget"]
            return [d for a in alerts for d in a["deliveries"] if d["status"] == "failed"]

        assert wait_for(lambda: {d["channel"] for d in failed()} == {"down", "moved"}, WAIT_S)
        listed = json.dumps(_listed(processor))
        assert processor.stop() == 0
        log = "".join(processor.log) + processor.proc.stdout.read()
    finally:
        for web in (elsewhere, redirector):
            web.shutdown()
            web.server_close()
    moved = next(d for d in failed_from(listed) if d["channel"] == "moved")
    assert moved["error"].startswith("HTTP 302")
    assert redirector.paths and elsewhere.paths == []  # the redirect was not followed
    ledger = json.dumps(
        [
            _stored(processor.db, f"SELECT * FROM {table}")
            for table in ("alert_deliveries", "alert_outbox", "audit_events", "policy_versions")
        ],
        default=str,
    )
    for secret in secrets:
        assert secret not in log and secret not in listed and secret not in ledger, secret


def failed_from(listed: str) -> list[dict]:
    return [d for a in json.loads(listed) for d in a["deliveries"] if d["status"] == "failed"]
