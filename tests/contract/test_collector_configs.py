"""What collector-config/single.yaml and gateway.yaml promise, read from the files (the
e2e tests in tests/e2e/test_collector_*.py run them): nothing acknowledged before it is on
disk, every address from the environment with a default, a health check, and the
collector's own metrics scraped by dashboards/prometheus.yml."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.helpers import ROOT

CONFIGS = ["single.yaml", "gateway.yaml"]
ENV_WITH_DEFAULT = re.compile(r"^\$\{env:GENOPS_[A-Z0-9_]+:-[^}]+\}$")


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / "collector-config" / name).read_text())


def queues(config: dict) -> list[dict]:
    return [e["sending_queue"] for e in config["exporters"].values() if "sending_queue" in e]


@pytest.mark.parametrize("name", CONFIGS)
def test_nothing_is_held_in_memory_ahead_of_the_disk_queue(name):
    config = load(name)
    [pipeline] = config["service"]["pipelines"].values()
    # memory_limiter only refuses (the SDK retries); a batch processor would acknowledge
    # spans it holds in memory.
    assert pipeline["processors"] == ["memory_limiter"]
    assert "batch" not in config.get("processors", {})
    [queue] = queues(config)
    assert queue["enabled"] is True and queue["storage"] == "file_storage/queue"
    assert queue["batch"]["flush_timeout"]  # batching inside the persistent queue
    assert queue.get("wait_for_result", False) is False  # acknowledged once on disk
    assert config["extensions"]["file_storage/queue"]["fsync"] is True
    if name == "gateway.yaml":  # the per-shard exporters hold nothing of their own
        otlp = config["exporters"]["load_balancing"]["protocol"]["otlp"]
        assert otlp["sending_queue"] == {"enabled": False}


@pytest.mark.parametrize("name", CONFIGS)
def test_every_address_and_port_comes_from_the_environment_with_a_default(name):
    config = load(name)
    addresses = [
        config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        config["extensions"]["health_check"]["endpoint"],
        config["extensions"]["file_storage/queue"]["directory"],
    ]
    [reader] = config["service"]["telemetry"]["metrics"]["readers"]
    prometheus = reader["pull"]["exporter"]["prometheus"]
    addresses += [prometheus["host"], str(prometheus["port"])]
    exporters = config["exporters"]
    if name == "single.yaml":
        addresses.append(exporters["otlp_grpc"]["endpoint"])
    else:
        addresses += exporters["load_balancing"]["resolver"]["static"]["hostnames"]
    assert [a for a in addresses if not ENV_WITH_DEFAULT.match(a)] == []


@pytest.mark.parametrize("name", CONFIGS)
def test_the_health_check_extension_is_on(name):
    config = load(name)
    assert "health_check" in config["service"]["extensions"]


def test_prometheus_scrapes_the_collectors_own_metrics():
    prometheus = yaml.safe_load((ROOT / "dashboards" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    [targets] = [s["targets"] for s in jobs["otel-collector"]["static_configs"]]
    assert targets == ["collector:8888"]
    # the port is the configs' default for GENOPS_COLLECTOR_METRICS_PORT
    for name in CONFIGS:
        [reader] = load(name)["service"]["telemetry"]["metrics"]["readers"]
        assert reader["pull"]["exporter"]["prometheus"]["port"].endswith(":-8888}")


def test_the_builder_manifest_has_no_batch_processor():
    manifest = (ROOT / "collector-config" / "builder-config.yaml").read_text()
    assert "batchprocessor" not in manifest
    assert "healthcheckextension" in manifest
