"""``genops tokens create|list|revoke``: the token is the last line of stdout and works
against a running processor; the file keeps only its hash (never listed); a revoked
token is refused without a restart; bad input is one line on stderr."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops_processor.auth.credentials import hash_token
from tests.e2e.test_authentication import launch
from tests.helpers import BIN


def genops(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GENOPS_")}
    return subprocess.run(
        [str(BIN / "genops"), "tokens", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **(env or {})},
    )


def status(endpoint: str, token: str):
    stub = pb_grpc.GovernanceServiceStub(grpc.insecure_channel(endpoint))
    return stub.GetBudgetStatus(
        pb.GetBudgetStatusRequest(), metadata=[("authorization", f"Bearer {token}")], timeout=10
    )


def test_a_created_token_works_is_never_listed_and_stops_when_revoked(tmp_path):
    path = tmp_path / "creds.yaml"
    made = genops(
        "create", "--credentials", str(path), "--name", "trainer", "--role", "client",
        "--team", "team-a", "--team", "team-b", "--project", "churn",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = made.stdout.splitlines()[-1]
    assert token.startswith("genops_") and len(token) > 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token not in path.read_text() and hash_token(token) in path.read_text()
    # --credentials from the environment
    admin = genops(
        "create", "--name", "ops", "--role", "admin", env={"GENOPS_CREDENTIALS": str(path)}
    )
    assert admin.returncode == 0, admin.stderr
    admin_token = admin.stdout.splitlines()[-1]

    listed = genops("list", "--credentials", str(path), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["role"], r["teams"], r["projects"]) for r in rows] == [
        ("trainer", "client", ["team-a", "team-b"], ["churn"]),
        ("ops", "admin", [], []),
    ]
    table = genops("list", "--credentials", str(path))
    for shown in (listed.stdout, table.stdout):
        for secret in (token, admin_token, hash_token(token), hash_token(admin_token)):
            assert secret not in shown

    processor, log = launch(tmp_path, "--credentials", str(path))
    assert processor is not None, log
    try:
        status(processor.endpoint, token)
        revoked = genops("revoke", "--credentials", str(path), "--name", "trainer")
        assert revoked.returncode == 0, revoked.stderr
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status(processor.endpoint, token)
            except grpc.RpcError as error:
                assert error.code() is grpc.StatusCode.UNAUTHENTICATED
                break
            time.sleep(0.2)
        else:
            pytest.fail("the revoked token was still served after 30 s")
        status(processor.endpoint, admin_token)
    finally:
        assert processor.stop() == 0
    rows = json.loads(genops("list", "--credentials", str(path), "--json").stdout)
    assert [r["name"] for r in rows if r["revoked"]] == ["trainer"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--name", "x\nrole: admin", "--role", "client", "--team", "a"],
            "genops tokens create: name: expected 1-128 letters, digits",
        ),
        (["--name", "c", "--role", "client"], "a client needs at least one --team"),
        (["--name", "c", "--role", "root"], "Invalid value for '--role'"),
        (["--name", "c", "--role", "admin", "--team", ""], "team: '' is not a name"),
    ],
    ids=["yaml-in-name", "client-without-team", "unknown-role", "empty-team"],
)
def test_a_bad_create_is_one_line_and_changes_nothing(tmp_path, args, message):
    path = tmp_path / "creds.yaml"
    genops("create", "--credentials", str(path), "--name", "first", "--role", "admin")
    before = path.read_text()
    result = genops("create", "--credentials", str(path), *args)
    assert result.returncode in (1, 2)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert path.read_text() == before


def test_a_name_is_created_once_and_unknown_names_are_not_revoked(tmp_path):
    path = tmp_path / "creds.yaml"
    first = genops("create", "--credentials", str(path), "--name", "a", "--role", "auditor")
    assert first.returncode == 0, first.stderr
    again = genops("create", "--credentials", str(path), "--name", "a", "--role", "admin")
    assert again.returncode == 1
    assert "a principal named 'a' exists" in again.stderr
    missing = genops("revoke", "--credentials", str(path), "--name", "nobody")
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        f"genops tokens revoke: no principal named 'nobody' in {path}",
    )
    absent = genops("list", "--credentials", str(tmp_path / "none.yaml"))
    assert absent.returncode == 1 and "does not exist" in absent.stderr
    no_file = genops("list")
    assert no_file.returncode == 2 and "--credentials" in no_file.stderr


def test_a_certificate_principal_has_no_token(tmp_path):
    path = tmp_path / "creds.yaml"
    made = genops(
        "create", "--credentials", str(path), "--name", "robot", "--role", "client",
        "--team", "a", "--mtls-subject", "CN=robot,O=example",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[-1] == (
        "it is the client certificate with subject 'CN=robot,O=example' (no token)"
    )
    rows = json.loads(genops("list", "--credentials", str(path), "--json").stdout)
    assert [(r["authentication"], r["mtls_subject"]) for r in rows] == [
        ("mtls", "CN=robot,O=example")
    ]
    bad = genops(
        "create", "--credentials", str(path), "--name", "r2", "--role", "admin",
        "--mtls-subject", "robot",
    )  # fmt: skip
    assert bad.returncode == 1 and "expected e.g. 'CN=name,O=org'" in bad.stderr
