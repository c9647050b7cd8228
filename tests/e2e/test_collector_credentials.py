"""The collector (collector-config/single.yaml, built by collector-config/build.sh) in front
of a real ``genops-processor --credentials`` on 127.0.0.1: it authenticates as its own
principal (``GENOPS_COLLECTOR_TOKEN``), a client of the teams it forwards for, so spans of
those teams are stored and spans of any other team are refused, whoever sent them; with a
wrong token nothing is stored and the processor records the refusal.

Needs the built collector (tests/collector.py: ``make test`` builds it; without it these
tests fail in CI and are skipped elsewhere)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest

from genops_processor import storage
from genops_processor.auth import credentials
from genops_processor.record import audit_events
from tests.collector import CONFIGS, Collector, otelcol, wait_for
from tests.e2e.test_hostile_spans import span
from tests.helpers import ROOT, session_credentials, start_processor, token_of


def single(tmp: Path, processor_endpoint: str, token: str, *extra: Path) -> Collector:
    """collector-config/single.yaml in front of ``processor_endpoint``, sending ``token``
    (in the environment, never on the command line)."""
    env = {"GENOPS_COLLECTOR_TOKEN": token, "GENOPS_PROCESSOR_ENDPOINT": processor_endpoint}
    return Collector(tmp, "single.yaml", env, *extra)


@pytest.fixture
def processor_with_collector_principal(tmp_path):
    """A processor whose credentials are the test principals plus ``collector``, a
    client of team vision only; returns it and the collector's token."""
    path = tmp_path / "credentials.yaml"
    shutil.copyfile(session_credentials()[0], path)
    path.chmod(0o600)
    token = credentials.create(path, "collector", "client", ["vision"])
    processor = start_processor(tmp_path, "--credentials", str(path))
    yield processor, token
    processor.stop()


def refusals(processor) -> list[dict]:
    assert processor.stop() == 0, "".join(processor.log)
    with storage.Storage(processor.db, read_only=True) as db:
        return db.call(lambda c: audit_events(c, "access.refused"))


def rejected_not_permitted(processor) -> float:
    key = 'genops_spans_rejected_total{reason="team_not_permitted"}'
    return processor.metrics().get(key, 0.0)


def test_spans_through_the_collector_are_scoped_by_the_collectors_principal(
    processor_with_collector_principal, tmp_path
):
    processor, token = processor_with_collector_principal
    collector = single(tmp_path, processor.endpoint, token)
    try:
        # The client sends its own (trainer, every test team) token: it is not forwarded.
        collector.export(
            [span(team="vision", run_key="run-vision:1"), span(team="nlp", run_key="run-nlp:1")],
            token=token_of("trainer"),
        )
        wait_for("the vision run", lambda: len(processor.runs()) == 1, collector)
        wait_for("the nlp refusal", lambda: rejected_not_permitted(processor) == 1, collector)
        [run] = processor.runs()
        assert (run.scope.team, run.run_key) == ("vision", "run-vision:1")
    finally:
        collector.stop()
    assert collector.proc.returncode == 0, collector.log()
    assert token not in collector.log()
    [refused] = refusals(processor)
    assert refused["actor"] == "collector"
    detail = refused["detail"]
    assert detail["code"] == "PERMISSION_DENIED"
    assert "1 span(s) rejected" in detail["reason"] and "nlp" in detail["reason"]


def test_a_collector_with_a_wrong_token_gets_nothing_stored(
    processor_with_collector_principal, tmp_path
):
    processor, _ = processor_with_collector_principal
    collector = single(tmp_path, processor.endpoint, "genops_" + "x" * 43)
    try:
        collector.export([span(team="vision", run_key="run-vision:2")], token=None)
        wait_for("the processor's refusal", lambda: "Unauthenticated" in collector.log(), collector)
        assert processor.runs() == []
    finally:
        collector.stop()
    refused = refusals(processor)
    assert refused and {r["actor"] for r in refused} == {"anonymous"}


def _readme_snippet() -> str:
    """The ``bearertokenauth/clients`` example of collector-config/README.md."""
    text = (ROOT / "collector-config" / "README.md").read_text()
    [snippet] = [
        block.split("\n", 1)[1]
        for block in text.split("```yaml")[1:]
        if "bearertokenauth/clients" in block
    ]
    return snippet.split("```", 1)[0]


CONFIG_FILES = sorted(p.name for p in CONFIGS.glob("*.yaml") if p.name != "builder-config.yaml")


def test_every_collector_config_is_checked():
    assert CONFIG_FILES == ["gateway.yaml", "single.yaml"]


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_the_configs_and_the_readme_token_snippet_validate(name, tmp_path):
    tokens = tmp_path / "client-tokens"
    tokens.write_text("genops_client_token  # a comment\n")
    snippet = tmp_path / "snippet.yaml"
    snippet.write_text(_readme_snippet().replace("/etc/otelcol/client-tokens", str(tokens)))
    env = {"PATH": os.environ["PATH"], "GENOPS_COLLECTOR_TOKEN": "genops_test"}
    config = f"--config={ROOT / 'collector-config' / name}"
    for extra in ([], [f"--config={snippet}"]):
        result = subprocess.run(
            [str(otelcol()), "validate", config, *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_readme_snippet_makes_the_collector_require_a_listed_token(
    processor_with_collector_principal, tmp_path
):
    processor, token = processor_with_collector_principal
    (tmp_path / "client-tokens").write_text("genops_listed_client  # alice\n")
    snippet = tmp_path / "snippet.yaml"
    snippet.write_text(
        _readme_snippet().replace("/etc/otelcol/client-tokens", str(tmp_path / "client-tokens"))
    )
    collector = single(tmp_path, processor.endpoint, token, snippet)
    try:
        for unlisted in (None, token_of("trainer")):
            with pytest.raises(grpc.RpcError) as refused:
                collector.export([span(team="vision")], token=unlisted)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        listed = "genops_listed_client"
        collector.export([span(team="vision", run_key="run-vision:3")], token=listed)
        wait_for("the listed client's run", lambda: len(processor.runs()) == 1, collector)
        assert processor.runs()[0].run_key == "run-vision:3"
    finally:
        collector.stop()
