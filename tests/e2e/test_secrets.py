"""Policy secrets never leave the processor: canaries (a webhook token, webhook URLs
with a secret path or credentials, an SMTP password, given literally, through
``${env:NAME}`` and through ``*_file``) are searched in the answer of every RPC of the
governance API, ``genops budgets show --json``, the processor's whole log and the raw
bytes of the DuckDB files. A restart without the policy file resolves the references
again; a literal secret is not kept, and its channel says so."""

from __future__ import annotations

import json
import subprocess

import grpc
from google.protobuf import json_format

from genops.governance.v1 import governance_pb2 as pb
from tests.e2e.test_alerts import wait_for
from tests.e2e.test_analytics import MIDDAY_ZONE, run_span, send
from tests.e2e.test_notify_channels import Web, deliveries
from tests.helpers import BIN

CANARIES = {
    "literal_token": "CANARY-literal-token-a1",
    "literal_path": "CANARY-literal-path-b2",
    "userinfo": "CANARY-userinfo-c3",
    "env_url": "CANARY-env-url-d4",
    "file_token": "CANARY-file-token-e5",
    "smtp_password": "CANARY-smtp-pass-f6",
}


def _policy(tmp_path, web: Web) -> str:
    token_file = tmp_path / "token"
    token_file.write_text(CANARIES["file_token"] + "\n")
    password_file = tmp_path / "smtp"
    password_file.write_text(CANARIES["smtp_password"])
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"smtp: {{host: 127.0.0.1, port: 1, username: genops, password_file: {password_file}}}\n"
        "channels:\n"
        f"  literal: {{address: 'webhook+{web.url}/{CANARIES['literal_path']}', "
        f"token: {CANARIES['literal_token']}}}\n"
        "  from_env: '${env:GENOPS_TEST_HOOK_URL}'\n"
        # no path: nothing secret in the address itself, it is kept as written
        f"  from_file: {{address: 'webhook+{web.url}', token_file: {token_file}}}\n"
        "  mail: email://ops@test\n"
        "budgets:\n  - name: vision-daily\n    scope: {team: vision}\n"
        '    daily_limit: "36"\n    thresholds: [50]\n'
        f"    timezone: {MIDDAY_ZONE}\n"
        f"    alerts: [literal, 'webhook+http://u:{CANARIES['userinfo']}@127.0.0.1:1/x']\n"
    )
    return str(policy)


def _leaks(text: str) -> list[str]:
    return [name for name, canary in CANARIES.items() if canary in text]


def _every_answer(stub) -> str:
    """Every RPC of GovernanceService called with an empty request (answers and errors)."""
    service = pb.DESCRIPTOR.services_by_name["GovernanceService"]
    texts = []
    for method in service.methods:
        request = getattr(pb, method.input_type.name)()
        call = getattr(stub, method.name)
        try:
            if method.server_streaming:
                answers = list(call(request, timeout=10))
            else:
                answers = [call(request, timeout=10)]
            texts += [json_format.MessageToJson(a) for a in answers]
        except grpc.RpcError as error:
            texts.append(f"{method.name}: {error.code()} {error.details()}")
    assert len(texts) >= len(service.methods)
    return "\n".join(texts)


def test_no_secret_reaches_an_answer_the_log_or_the_ledger(
    start_processor_with, tmp_path, monkeypatch
):
    web = Web()
    monkeypatch.setenv("GENOPS_TEST_HOOK_URL", f"webhook+{web.url}/{CANARIES['env_url']}")
    try:
        processor = start_processor_with("--policy", _policy(tmp_path, web))
        stub = processor.stub()
        # Deliveries to every channel, and a budget alert (the inline URL with credentials).
        sent = stub.Notify(
            pb.NotifyRequest(channels=["literal", "from_env", "from_file", "mail"]), timeout=10
        )
        send(processor, [run_span(days_ago=0.01, hours=0.6)])  # $21.60 of $36: past 50 %
        assert wait_for(lambda: len(deliveries(stub, sent.notification_id)) == 4)
        assert wait_for(lambda: len(web.requests) >= 4)  # 3 notices, 1 budget alert
        tokens = {auth for _, auth, _ in web.requests}
        assert f"Bearer {CANARIES['literal_token']}" in tokens  # delivered with the secret
        assert f"Bearer {CANARIES['file_token']}" in tokens
        assert any(CANARIES["env_url"] in path for path, _, _ in web.requests)
        # The admin sees the policy with *** for secrets, references as written.
        shown = json.loads(stub.GetPolicy(pb.GetPolicyRequest(), timeout=10).policy_json)
        assert shown["channels"]["from_env"] == "${env:GENOPS_TEST_HOOK_URL}"
        assert shown["channels"]["literal"]["token"] == "***"
        assert shown["channels"]["literal"]["address"] == f"webhook+{web.url}/***"
        answers = _every_answer(stub)
        changed = stub.SetBudget(
            pb.SetBudgetRequest(
                budget_json=json.dumps(
                    {
                        "name": "nlp",
                        "scope": {"team": "nlp"},
                        "daily_limit": 2,
                        "alerts": ["from_file"],
                    }
                )
            ),
            timeout=10,
        )
        answers += json_format.MessageToJson(changed)
        # Refusals quote what they refuse redacted, even the caller's own secret address.
        leaky = f"webhook+{web.url}/{CANARIES['literal_path']}"
        for call in (
            lambda: stub.Notify(pb.NotifyRequest(channels=[leaky]), timeout=10),
            lambda: stub.AddAlertRule(
                pb.AlertRule(kind="cost", threshold=50, channels=[leaky]), timeout=10
            ),
            lambda: stub.SetBudget(
                pb.SetBudgetRequest(
                    budget_json=json.dumps({"name": "x", "limit": 1, "alerts": [leaky]})
                ),
                timeout=10,
            ),
        ):
            try:
                call()
                raise AssertionError("an address outside the policy was accepted")
            except grpc.RpcError as refused:
                assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
                answers += refused.details()
        cli = subprocess.run(
            [str(BIN / "genops"), "budgets", "show", "--json", "--endpoint", processor.endpoint],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        assert "vision-daily" in cli.stdout
        assert processor.stop() == 0
        log = "".join(processor.log) + processor.proc.stdout.read()
        files = [p for p in tmp_path.iterdir() if p.name.startswith("genops.duckdb")]
        ledger = b"".join(p.read_bytes() for p in files)
        assert _leaks(answers) == []
        assert _leaks(cli.stdout + cli.stderr) == []
        assert _leaks(log) == []
        assert [n for n, c in CANARIES.items() if c.encode() in ledger] == []
    finally:
        web.shutdown()
        web.server_close()


def test_a_restart_without_the_policy_file_resolves_references_only(
    start_processor_with, tmp_path, monkeypatch
):
    web = Web()
    monkeypatch.setenv("GENOPS_TEST_HOOK_URL", f"webhook+{web.url}/{CANARIES['env_url']}")
    try:
        first = start_processor_with("--policy", _policy(tmp_path, web))
        assert first.stop() == 0
        second = start_processor_with()  # the stored version, secrets redacted in it
        stub = second.stub()
        sent = stub.Notify(
            pb.NotifyRequest(channels=["from_env", "from_file", "literal"]), timeout=10
        )
        assert wait_for(lambda: len(deliveries(stub, sent.notification_id)) == 3)
        by_channel = {d["channel"]: d for d in deliveries(stub, sent.notification_id)}
        assert by_channel["from_env"]["status"] == "delivered"
        assert by_channel["from_file"]["status"] == "delivered"
        assert by_channel["literal"]["status"] == "failed"
        assert "the ledger keeps no secret" in by_channel["literal"]["error"]
        assert {auth for _, auth, _ in web.requests} == {f"Bearer {CANARIES['file_token']}", ""}
    finally:
        web.shutdown()
        web.server_close()
