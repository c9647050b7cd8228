"""docker-compose.yml as Docker Compose itself reads it: ``docker-compose config`` (Debian's
docker-compose, which needs no engine) for the default profile and for ``collector``.

Checked: every port on 127.0.0.1; every long-running service has a healthcheck and every
dependency waits for it (``service_healthy``; one-shot services, ``restart: "no"``, are
waited for with ``service_completed_successfully``); images pinned to a release; the
policy and the credentials mounted into the processor; clients behind the collector get
``GENOPS_ENDPOINT`` (the processor) beside ``GENOPS_OTLP_ENDPOINT`` (the collector).

Without docker-compose the tests fail in CI (``make test`` installs it) and are skipped
elsewhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

PROFILES = {"default": [], "collector": ["--profile", "collector"]}
PINNED_TAG = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+[\w.-]*$|@sha256:[0-9a-f]{64}$")


def compose_config(profile: str, **env: str) -> dict:
    binary = shutil.which("docker-compose")
    if binary is None:
        reason = "docker-compose not found (apt-get install docker-compose; make test does in CI)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GENOPS_", "COMPOSE_"))}
    result = subprocess.run(
        [binary, "-f", "docker-compose.yml", *PROFILES[profile], "config"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def active(config: dict, profile: str) -> dict[str, dict]:
    """The services `up` starts with this profile (docker-compose 1.29's `config` lists
    every service with its `profiles`)."""
    return {
        name: service
        for name, service in config["services"].items()
        if not service.get("profiles") or profile in service["profiles"]
    }


@pytest.fixture(scope="module", params=list(PROFILES))
def services(request) -> dict[str, dict]:
    return active(compose_config(request.param), request.param)


def test_each_profile_starts_the_expected_services(services):
    default = {"genops-init", "processor", "prometheus", "grafana"}
    assert set(services) in (default, default | {"collector", "genops"})


def test_every_port_is_bound_to_loopback(services):
    ports = [(name, p) for name, s in services.items() for p in s.get("ports", [])]
    assert ports
    assert [p for p in ports if not str(p[1]).startswith("127.0.0.1:")] == []


def test_every_long_running_service_has_a_healthcheck(services):
    for name, service in services.items():
        if service.get("restart") == "no":  # one-shot: waited for until it exits 0
            continue
        check = service.get("healthcheck", {})
        assert check.get("test") and check["test"][0] == "CMD" and not check.get("disable"), name


def test_every_dependency_waits_for_health_or_completion(services):
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for target, how in depends.items():
            assert target in services, f"{name} depends on {target}, not in this profile"
            one_shot = services[target].get("restart") == "no"
            wanted = "service_completed_successfully" if one_shot else "service_healthy"
            assert how == {"condition": wanted}, (name, target, how)


def test_images_are_pinned_to_a_release(services):
    built = {s["image"] for s in services.values() if "build" in s}
    for name, service in services.items():
        if service["image"] in built:  # built here from a Dockerfile (checked below)
            continue
        assert PINNED_TAG.search(service["image"]), f"{name}: {service['image']} floats"


@pytest.mark.parametrize("dockerfile", ["processor/Dockerfile", "collector-config/Dockerfile"])
def test_dockerfile_base_images_are_pinned(dockerfile):
    bases = re.findall(r"^FROM\s+(\S+)", (ROOT / dockerfile).read_text(), re.MULTILINE)
    assert bases and [b for b in bases if not PINNED_TAG.search(b)] == []


def test_the_processor_gets_the_policy_and_the_credentials(services):
    processor = services["processor"]
    args = processor["command"]
    assert args[args.index("--policy") + 1] == "/etc/genops/policy.yaml"
    assert args[args.index("--credentials") + 1] == "/credentials/credentials.yaml"
    mounts = {v.split(":")[1]: v for v in processor["volumes"]}
    assert mounts["/etc/genops/policy.yaml"].endswith(":ro")
    assert Path(mounts["/etc/genops/policy.yaml"].split(":")[0]) == ROOT / "examples/policy.yaml"
    assert mounts["/credentials"] == "genops-credentials:/credentials:ro"


def test_an_operators_own_policy_file_is_mounted_instead(tmp_path):
    policy = tmp_path / "policy.yaml"
    config = compose_config("default", GENOPS_POLICY_FILE=str(policy))
    volumes = config["services"]["processor"]["volumes"]
    assert f"{policy}:/etc/genops/policy.yaml:ro" in volumes


def test_clients_behind_the_collector_send_spans_to_it_and_ask_the_processor():
    services = active(compose_config("collector"), "collector")
    clients = [s for s in services.values() if "GENOPS_OTLP_ENDPOINT" in s.get("environment", {})]
    assert clients
    for client in clients:
        env = client["environment"]
        assert env["GENOPS_OTLP_ENDPOINT"] == "http://collector:4317"
        assert env["GENOPS_ENDPOINT"] == "processor:4317"
    collector = services["collector"]
    assert collector["environment"]["GENOPS_PROCESSOR_ENDPOINT"] == "processor:4317"
    assert any(v.endswith(":/etc/otelcol/single.yaml:ro") for v in collector["volumes"])
