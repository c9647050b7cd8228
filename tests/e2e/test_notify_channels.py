"""Notifications and alert rules reach only the channels the policy defines: an address
sent by a caller is refused (INVALID_ARGUMENT naming the field, audited as
``channel.refused``) and nothing is sent to it; a named channel is delivered to a real
local HTTP server (with its bearer token from the environment) and a real local SMTP
server (STARTTLS, certificate made in the test, then the login). Nothing is mocked."""

from __future__ import annotations

import http.server
import json
import threading

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from tests.e2e.smtp_fixture import SmtpServer, make_ca_and_server_cert, tls_context
from tests.e2e.test_alerts import wait_for


class Web(http.server.ThreadingHTTPServer):
    """Records every request (path, Authorization, body); answers ``status``."""

    def __init__(self, status: int = 200, location: str = "") -> None:
        self.requests: list[tuple[str, str, dict]] = []
        self.status, self.location = status, location
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        self.server.requests.append((self.path, self.headers.get("Authorization", ""), body))
        self.send_response(self.server.status)
        if self.server.location:
            self.send_header("Location", self.server.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET = _record  # noqa: N815

    def log_message(self, *args):
        pass


@pytest.fixture
def web():
    servers = []

    def start(status: int = 200, location: str = "") -> Web:
        servers.append(Web(status, location))
        return servers[-1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def deliveries(stub, alert_id: str) -> list[dict]:
    listed = json.loads(stub.ListAlerts(pb.ListAlertsRequest(limit=50), timeout=10).alerts_json)
    return next((a["deliveries"] for a in listed if a["alert_id"] == alert_id), [])


def audit_events(db, kind: str) -> list[tuple]:
    with storage.Storage(db, read_only=True) as ledger:
        return ledger.call(
            lambda conn: conn.execute(
                "SELECT actor, detail FROM audit_events WHERE kind = ?", [kind]
            ).fetchall()
        )


def test_an_address_the_policy_does_not_define_is_refused_and_never_contacted(
    start_processor_with, tmp_path, web
):
    trap, named = web(), web()
    policy = tmp_path / "policy.yaml"
    policy.write_text(f'channels:\n  ops: "webhook+{named.url}/ops"\n')
    processor = start_processor_with("--policy", str(policy))
    stub = processor.stub()
    attacks = [
        (
            "Notify",
            lambda: stub.Notify(
                pb.NotifyRequest(channels=["ops", f"webhook+{trap.url}/x"], subject="s"), timeout=10
            ),
            "channels[1]:",
        ),
        (
            "Notify",
            lambda: stub.Notify(
                pb.NotifyRequest(channels=["email://someone@example.com"]), timeout=10
            ),
            "channels[0]:",
        ),
        (
            "AddAlertRule",
            lambda: stub.AddAlertRule(
                pb.AlertRule(kind="cost", threshold=50, channels=[f"slack+{trap.url}/s"]),
                timeout=10,
            ),
            "channels[0]:",
        ),
        (
            "AddAlertRule",
            lambda: stub.AddAlertRule(
                pb.AlertRule(
                    kind="governance",
                    violation_types=["budget_exceeded"],
                    channels=["ops"],
                    escalation_chain=["ops", "not-defined"],
                ),
                timeout=10,
            ),
            "escalation_chain[1]:",
        ),
        (
            "SetBudget",
            lambda: stub.SetBudget(
                pb.SetBudgetRequest(
                    budget_json=json.dumps(
                        {
                            "name": "b",
                            "scope": {"team": "t"},
                            "daily_limit": 1,
                            "alerts": [f"webhook+{trap.url}/b"],
                        }
                    )
                ),
                timeout=10,
            ),
            "budget_json: alerts[0]:",
        ),
    ]
    for method, call, field in attacks:
        with pytest.raises(grpc.RpcError) as refused:
            call()
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, method
        assert refused.value.details().startswith(field), refused.value.details()
        assert "not a channel of the policy" in refused.value.details()
    # A named channel still works, and is the only thing that was ever contacted.
    sent = stub.Notify(pb.NotifyRequest(channels=["ops"], subject="report"), timeout=10)
    assert wait_for(lambda: len(named.requests) == 1)
    assert named.requests[0][0] == "/ops"
    assert wait_for(lambda: [d["status"] for d in deliveries(stub, sent.notification_id)])
    assert deliveries(stub, sent.notification_id)[0]["channel"] == "ops"
    assert processor.stop() == 0
    assert trap.requests == []
    refusals = audit_events(processor.db, "channel.refused")
    assert len(refusals) == 4  # Notify x2 and AddAlertRule x2 (SetBudget: refused budget)
    assert {json.loads(detail)["method"] for _, detail in refusals} == {"Notify", "AddAlertRule"}
    # the authenticated principal (the local operator when run without credentials)
    assert {actor for actor, _ in refusals} == {"admin" if processor.credentials else "local"}


def test_a_named_webhook_gets_its_token_and_a_redirect_is_not_followed(
    start_processor_with, tmp_path, web, monkeypatch
):
    receiver, elsewhere = web(), web()
    redirector = web(302, f"{elsewhere.url}/stolen")
    monkeypatch.setenv("GENOPS_TEST_HOOK_TOKEN", "tok-from-env-1f2e")
    policy = tmp_path / "policy.yaml"
    token = 'token: "${env:GENOPS_TEST_HOOK_TOKEN}"'
    policy.write_text(
        "channels:\n"
        f'  ops: {{address: "webhook+{receiver.url}/hook", {token}}}\n'
        f'  moved: {{address: "webhook+{redirector.url}/hook", {token}}}\n'
    )
    processor = start_processor_with("--policy", str(policy))
    stub = processor.stub()
    ok = stub.Notify(pb.NotifyRequest(channels=["ops"], subject="weekly"), timeout=10)
    moved = stub.Notify(pb.NotifyRequest(channels=["moved"], subject="weekly"), timeout=10)
    assert wait_for(lambda: len(receiver.requests) == 1)
    path, authorization, body = receiver.requests[0]
    assert (path, authorization) == ("/hook", "Bearer tok-from-env-1f2e")
    assert body["alert_id"] == ok.notification_id and body["subject"] == "weekly"
    assert wait_for(lambda: deliveries(stub, moved.notification_id))
    first = deliveries(stub, moved.notification_id)[0]
    assert first["status"] == "failed" and "HTTP 302" in first["error"]
    assert len(redirector.requests) == 1 and elsewhere.requests == []  # token not forwarded


def test_mail_goes_through_starttls_then_login(start_processor_with, tmp_path, monkeypatch):
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    server = SmtpServer(tls_context(cert, key))
    password = tmp_path / "smtp-password"
    password.write_text("mail-pass-5b7c\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the processor trusts the test CA
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"smtp: {{host: 127.0.0.1, port: {server.port}, from: genops@example.com, "
        f"username: genops, password_file: {password}}}\n"
        "channels:\n  oncall: email://oncall@example.com\n"
    )
    try:
        processor = start_processor_with("--policy", str(policy))
        stub = processor.stub()
        sent = stub.Notify(
            pb.NotifyRequest(channels=["oncall"], subject="disk", body_json='{"text": "hi"}'),
            timeout=10,
        )
        assert wait_for(lambda: len(server.box.mails) == 1)
        assert server.box.logins == [("genops", "mail-pass-5b7c", True)]  # only after TLS
        mail = server.box.mails[0]
        assert "Subject: disk" in mail and "To: oncall@example.com" in mail
        assert not any("mail-pass" in line or "AUTH" in line for line in server.box.plaintext)
        assert wait_for(
            lambda: [d["status"] for d in deliveries(stub, sent.notification_id)] == ["delivered"]
        )
    finally:
        server.close()


def test_a_server_without_starttls_never_gets_the_password(
    start_processor_with, tmp_path, monkeypatch
):
    server = SmtpServer(tls=None)  # offers no STARTTLS: a downgrade
    monkeypatch.setenv("GENOPS_TEST_SMTP_PASSWORD", "mail-pass-9d0e")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"smtp: {{host: 127.0.0.1, port: {server.port}, username: genops, "
        "password: '${env:GENOPS_TEST_SMTP_PASSWORD}'}\n"
        "channels:\n  oncall: email://oncall@example.com\n"
    )
    try:
        processor = start_processor_with("--policy", str(policy))
        stub = processor.stub()
        sent = stub.Notify(pb.NotifyRequest(channels=["oncall"], subject="x"), timeout=10)
        assert wait_for(lambda: deliveries(stub, sent.notification_id))
        failed = deliveries(stub, sent.notification_id)[0]
        assert failed["status"] == "failed" and "STARTTLS" in failed["error"]
        assert server.box.logins == [] and server.box.mails == []
        assert not any("mail-pass" in line for line in server.box.plaintext)
    finally:
        server.close()
