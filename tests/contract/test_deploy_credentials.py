"""docker-compose.yml and collector-config/ deploy with credentials on: ports on loopback
only, the processor started with the credentials file genops-init writes, and a collector
that authenticates to the processor with its own token. (No docker daemon here: the
compose file is read, and genops-init's script is run with its three volumes replaced by
temporary directories.)"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from genops_processor.auth import credentials
from tests.helpers import BIN, ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_every_port_is_published_on_loopback_only():
    published = [
        (name, port) for name, service in SERVICES.items() for port in service.get("ports", [])
    ]
    assert published
    assert [p for p in published if not str(p[1]).startswith("127.0.0.1:")] == []


def test_the_processor_starts_with_the_credentials_genops_init_writes():
    processor = SERVICES["processor"]
    args = processor["command"]
    assert args[args.index("--credentials") + 1] == "/credentials/credentials.yaml"
    assert "genops-credentials:/credentials:ro" in processor["volumes"]
    assert processor["depends_on"]["genops-init"] == {"condition": "service_completed_successfully"}
    assert "genops-credentials:/credentials" in SERVICES["genops-init"]["volumes"]


def _init_script(creds: Path, metrics: Path, collector: Path) -> str:
    script = SERVICES["genops-init"]["entrypoint"][2].replace("$$", "$")
    script = re.sub(r"(?<![\w.])/credentials(?=[/\s;]|$)", str(creds), script)
    script = re.sub(r"(?<![\w.])/collector-token(?=[/\s;]|$)", str(collector), script)
    return re.sub(r"(?<![\w.])/metrics-token(?=[/\s;]|$)", str(metrics), script)


@pytest.mark.skipif(os.geteuid() != 0, reason="genops-init chowns its files (runs as root)")
def test_genops_init_writes_the_file_once_and_its_tokens_authenticate(tmp_path):
    creds, metrics = tmp_path / "credentials", tmp_path / "metrics-token"
    collector = tmp_path / "collector-token"
    creds.mkdir(), metrics.mkdir(), collector.mkdir()
    env = {
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "GENOPS_INIT_TEAM": "nlp",
        "HOME": str(tmp_path),
    }
    script = _init_script(creds, metrics, collector)
    first = subprocess.run(["sh", "-euc", script], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    made = credentials.load(creds / "credentials.yaml")
    admin = made.by_token((creds / "admin.token").read_text().strip())
    trainer = made.by_token((creds / "trainer.token").read_text().strip())
    assert (admin.name, admin.role.value) == ("admin", "admin")
    assert (trainer.name, trainer.role.value, set(trainer.teams)) == ("trainer", "client", {"nlp"})
    override = yaml.safe_load((collector / "collector.yaml").read_text())
    header = override["exporters"]["otlp_grpc"]["headers"]["authorization"]
    scheme, collector_token = header.split(" ")
    forwarder = made.by_token(collector_token)
    assert scheme == "Bearer"
    assert (forwarder.name, forwarder.role.value, set(forwarder.teams)) == (
        "collector",
        "client",
        {"nlp"},
    )
    assert sorted(p.name for p in collector.iterdir()) == ["collector.yaml"]
    assert (collector / "collector.yaml").stat().st_mode & 0o077 == 0
    printed = first.stdout + first.stderr
    for token_file in ("admin.token", "trainer.token"):  # no token is printed
        assert (creds / token_file).read_text().strip() not in printed
    assert collector_token not in printed
    assert (creds / "admin.token").stat().st_mode & 0o077 == 0
    assert (metrics / "metrics.token").read_text().strip()
    assert sorted(p.name for p in creds.iterdir()) == [
        "admin.token", "credentials.yaml", "trainer.token"
    ]  # fmt: skip

    before = (creds / "credentials.yaml").read_bytes()
    again = subprocess.run(["sh", "-euc", script], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert (creds / "credentials.yaml").read_bytes() == before


def test_collectors_authenticate_to_the_processor_with_their_own_token():
    manifest = (ROOT / "collector-config" / "builder-config.yaml").read_text()
    # Not served by the Go module proxy here: the manifest must build.
    assert "headerssetter" not in manifest
    for name in ("single.yaml", "gateway.yaml"):
        text = (ROOT / "collector-config" / name).read_text()
        assert "genops_" not in text  # no token in a committed config
        config = yaml.safe_load(text)
        assert "headers_setter" not in config["extensions"]
        exporters = config["exporters"]
        otlp = exporters.get("otlp_grpc") or exporters["load_balancing"]["protocol"]["otlp"]
        assert otlp["headers"] == {"authorization": "Bearer ${env:GENOPS_COLLECTOR_TOKEN}"}
        assert "auth" not in otlp


def test_the_compose_collector_gets_only_its_own_token_from_a_file():
    collector = SERVICES["collector"]
    assert collector["command"] == [
        "--config=/etc/otelcol/single.yaml",
        "--config=/collector-token/collector.yaml",
    ]
    assert "genops_" not in str(collector)  # no token on its command line or environment
    assert "genops-collector-token:/collector-token:ro" in collector["volumes"]
    assert not any(v.startswith("genops-credentials:") for v in collector["volumes"])
    assert collector["depends_on"]["genops-init"] == {"condition": "service_completed_successfully"}
    assert "genops-collector-token:/collector-token" in SERVICES["genops-init"]["volumes"]


def test_prometheus_scrapes_metrics_with_the_token_genops_init_writes():
    assert "--metrics-token" not in SERVICES["processor"]["command"]  # not on a command line
    assert SERVICES["processor"]["command"][1:3] == [
        "/metrics-token/metrics.token",
        "GENOPS_METRICS_TOKEN",
    ]
    config = yaml.safe_load((ROOT / "dashboards" / "prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "genops-processor"]
    assert job["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/metrics-token/metrics.token",
    }
    assert "genops-metrics-token:/metrics-token:ro" in SERVICES["prometheus"]["volumes"]
