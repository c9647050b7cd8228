"""The client side of authentication, end to end: a real governed training script under
opentelemetry-instrument against a real processor started with --credentials.

With the client's GENOPS_TOKEN its runs are stored. Without a token (or with a wrong
one) training still finishes exactly as without us: one clear warning per refused
surface naming GENOPS_TOKEN, no traceback, nothing stored, and the refusals audited.
The ``genops`` CLI sends --token / GENOPS_TOKEN and says in one line when refused."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from genops_processor import storage
from genops_processor.record import audit_events
from tests.helpers import BIN, ROUND_CATALOG, governed_env, run_training, start_processor


@pytest.fixture
def secured(tmp_path):
    proc = start_processor(tmp_path, "--catalog", str(ROUND_CATALOG), credentials=True)
    yield proc
    proc.stop()


def _refusals(proc) -> list[dict]:
    assert proc.stop() == 0, "".join(proc.log)
    with storage.Storage(proc.db, read_only=True) as db:
        return db.call(lambda c: audit_events(c, "access.refused"))


def _wait_for_runs(proc, count: int = 1, timeout_s: float = 30) -> list:
    deadline = time.monotonic() + timeout_s
    while True:
        runs = proc.runs()
        if len(runs) >= count or time.monotonic() > deadline:
            return runs
        time.sleep(0.2)


def _quick(endpoint: str, **extra: str) -> dict[str, str]:
    return governed_env(endpoint, LOG_CALLS="5", TRAIN_SECONDS="0.2", **extra)


def test_a_client_token_gets_its_run_stored(secured, tmp_path):
    env = _quick(secured.endpoint, GENOPS_TOKEN=secured.tokens["trainer"])
    training = run_training("train_basic.py", tmp_path / "work", env)
    assert training.returncode == 0, training.result.stderr
    assert "refused" not in training.result.stderr
    [run] = _wait_for_runs(secured)
    assert (run.scope.team, run.scope.project, run.status) == ("ml-team", "churn", "finished")
    assert run.artifact_bytes == 12345


@pytest.mark.parametrize(
    "token, hint",
    [
        (None, "set GENOPS_TOKEN"),
        ("genops_not-a-real-token-0000", "from GENOPS_TOKEN was not accepted"),
    ],
)
def test_no_or_a_wrong_token_never_breaks_training(secured, tmp_path, token, hint):
    env = _quick(secured.endpoint)
    env.pop("GENOPS_TOKEN")
    if token is not None:
        env["GENOPS_TOKEN"] = token
    plain = run_training("train_basic.py", tmp_path / "plain", env, instrumented=False)
    governed = run_training("train_basic.py", tmp_path / "governed", env)
    stderr = governed.result.stderr
    assert governed.returncode == plain.returncode == 0, stderr
    assert governed.result.stdout == plain.result.stdout == "done: 5 steps\n"
    assert "Traceback" not in stderr
    # Told once per surface, naming what to do: the budget check and the telemetry.
    assert stderr.count("refused CheckBudget") == 1, stderr
    assert stderr.count("refused the W&B governance telemetry") == 1, stderr
    assert stderr.count(hint) >= 2, stderr
    assert "budget fail mode is open" in stderr
    assert secured.runs() == []
    refusals = _refusals(secured)
    assert refusals and all(r["detail"]["code"] == "UNAUTHENTICATED" for r in refusals), refusals
    if token is not None:
        assert all(token not in str(r) for r in refusals)  # the bad token is never stored


def test_a_closed_fail_mode_still_refuses_without_a_token(secured, tmp_path):
    """Dropping the token must not bypass a closed budget: the run is refused at
    wandb.init, saying why, as when the processor is unreachable."""
    env = _quick(secured.endpoint, GENOPS_BUDGET_FAIL_MODE="closed")
    env.pop("GENOPS_TOKEN")
    governed = run_training("train_basic.py", tmp_path / "governed", env)
    assert governed.returncode != 0
    assert "BudgetExceededError" in governed.result.stderr
    assert "UNAUTHENTICATED" in governed.result.stderr
    assert "GENOPS_TOKEN" in governed.result.stderr


def test_a_token_of_another_team_stores_nothing_of_that_team(secured, tmp_path):
    env = _quick(secured.endpoint, GENOPS_TOKEN=secured.tokens["trainer"], GENOPS_TEAM="attacker")
    governed = run_training("train_basic.py", tmp_path / "governed", env)
    assert governed.returncode == 0, governed.result.stderr
    assert "Traceback" not in governed.result.stderr
    assert "PERMISSION_DENIED" in governed.result.stderr
    assert all(run.scope.team != "attacker" for run in secured.runs())


# -- the genops CLI --------------------------------------------------------------------------
def _genops(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENOPS_")}
    if token is not None:
        env["GENOPS_TOKEN"] = token
    return subprocess.run(
        [str(BIN / "genops"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_takes_token_option_and_environment(secured):
    endpoint = secured.endpoint
    by_option = _genops("report", "--endpoint", endpoint, "--token", secured.tokens["auditor"])
    assert by_option.returncode == 0, by_option.stderr
    by_env = _genops(
        "budgets", "show", "--json", "--endpoint", f"http://{endpoint}",
        token=secured.tokens["admin"],
    )  # fmt: skip
    assert by_env.returncode == 0, by_env.stderr
    # --token wins over GENOPS_TOKEN
    both = _genops(
        "report", "--endpoint", endpoint, "--token", secured.tokens["auditor"], token="genops_bad"
    )
    assert both.returncode == 0, both.stderr


def test_cli_without_or_with_a_wrong_token_is_refused_in_one_line(secured):
    endpoint = secured.endpoint
    for result in (
        _genops("report", "--endpoint", endpoint),
        _genops("approvals", "--endpoint", endpoint, token="genops_wrong-token-123"),
    ):
        assert result.returncode == 1
        [line] = result.stderr.strip().splitlines()
        assert "UNAUTHENTICATED" in line and "--token" in line, line
        assert "genops_wrong-token-123" not in line
    # a client token on an admin command: PERMISSION_DENIED, naming what is missing
    denied = _genops(
        "budgets", "set", "x", "--limit", "1", "--scope", "team=ml-team",
        "--endpoint", endpoint, token=secured.tokens["trainer"],
    )  # fmt: skip
    assert denied.returncode == 1
    [line] = denied.stderr.strip().splitlines()
    assert "PERMISSION_DENIED" in line and "SetBudget" in line, line
    assert len(_refusals(secured)) == 3


def test_cli_https_endpoint_against_plain_text_fails_clearly(secured):
    result = _genops("report", "--endpoint", f"https://{secured.endpoint}", token="x")
    assert result.returncode == 1
    assert "cannot reach the processor" in result.stderr
