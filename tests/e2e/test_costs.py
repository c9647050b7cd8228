"""Cost lines end to end: unpriced GPUs are visible everywhere, re-pricing keeps history."""

from __future__ import annotations

import json
import subprocess

from genops_processor import storage
from genops_processor.record import audit_events
from tests.helpers import BIN, governed_env, run_training

V2 = """
version: "test-round-2"
currency: USD
rows:
  - {sku: T4,   category: compute, unit: gpu-hour,  unit_price: "72",  region: test, source: "test v2", date: 2026-11-29}
  - {sku: vcpu, category: compute, unit: vcpu-hour, unit_price: "7.2", region: test, source: "test v2", date: 2026-11-29}
  - {sku: storage-standard, category: storage, unit: gib-month, unit_price: "0.023", region: test, source: "test v2", date: 2026-11-29}
default_region: test
"""  # noqa: E501


def genops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "genops"), *args], capture_output=True, text=True, timeout=120)


def test_unknown_gpu_is_an_unpriced_line_and_a_violation_in_every_report(processor, tmp_path):
    env = governed_env(
        processor.endpoint, GENOPS_GPU_TYPE="B300", TRAIN_SECONDS="0.3", ARTIFACT_BYTES="0"
    )
    assert run_training("train_basic.py", tmp_path / "job", env).returncode == 0
    report = genops("report", "--endpoint", processor.endpoint, "--json")
    [run] = json.loads(report.stdout)
    assert run["unpriced_skus"] == ["B300"]
    assert run["violations"] == [
        "unpriced: no price for 'B300' in region test of catalog test-round-1"
    ]
    # Only what could be priced is in the cost: the vCPUs, never a guess for the GPU.
    assert run["cost_micros"] > 0
    table = genops("report", "--endpoint", processor.endpoint)
    assert "unpriced B300" in table.stdout and "Violations (1)" in table.stdout


def test_repricing_keeps_both_versions_and_is_audited(processor, tmp_path):
    env = governed_env(processor.endpoint, TRAIN_SECONDS="0.3", ARTIFACT_BYTES="10000000")
    assert run_training("train_basic.py", tmp_path / "job", env).returncode == 0
    [before] = processor.runs()
    assert before.catalog_version == "test-round-1"
    catalog = tmp_path / "v2.yaml"
    catalog.write_text(V2)
    result = genops(
        "costs",
        "reprice",
        "--catalog",
        str(catalog),
        "--endpoint",
        processor.endpoint,
        "--actor",
        "finance",
    )
    assert result.returncode == 0, result.stderr
    assert "repriced 1 run(s) under test-round-2" in result.stdout
    [after] = processor.runs()
    assert after.catalog_version == "test-round-2"
    # Compute doubled exactly; storage is now priced (test-round-1 had no storage row).
    versions = json.loads(
        genops("costs", "versions", "--endpoint", processor.endpoint, "--json").stdout
    )
    by_version = {v["version"]: v for v in versions}
    assert by_version["test-round-1"]["current"] is False
    assert by_version["test-round-2"]["current"] is True
    assert by_version["test-round-2"]["priced_micros"] == after.cost_micros
    assert by_version["test-round-1"]["priced_micros"] == before.cost_micros
    assert before.unpriced_skus == ["storage-standard"] and list(after.unpriced_skus) == []
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        events = db.call(lambda c: audit_events(c, "costs.repriced"))
        lines = db.call(
            lambda c: c.execute(
                "SELECT catalog_version, sku, amount_micros FROM cost_lines ORDER BY 1, 2"
            ).fetchall()
        )
    [event] = events
    assert event["actor"] == "admin"  # who authenticated; --actor is only reported
    assert event["detail"]["before_micros"] == before.cost_micros
    assert event["detail"]["after_micros"] == after.cost_micros
    old = {sku: amount for version, sku, amount in lines if version == "test-round-1"}
    new = {sku: amount for version, sku, amount in lines if version == "test-round-2"}
    assert abs(new["T4"] - 2 * old["T4"]) <= 1 and abs(new["vcpu"] - 2 * old["vcpu"]) <= 1
    # 10 MB for 30 days at $0.023 per GiB-month: 10e6 x 0.023 / 2**30 dollars = 214.2 µ$.
    assert old["storage-standard"] is None and new["storage-standard"] == 214


def test_repricing_a_stopped_ledger_file_with_progress(processor, tmp_path):
    env = governed_env(processor.endpoint, TRAIN_SECONDS="0.2")
    assert run_training("train_basic.py", tmp_path / "job", env).returncode == 0
    assert processor.stop() == 0
    catalog = tmp_path / "v2.yaml"
    catalog.write_text(V2)
    result = genops(
        "costs",
        "reprice",
        "--catalog",
        str(catalog),
        "--db",
        str(processor.db),
        "--since",
        "2020-01-01",
    )
    assert result.returncode == 0, result.stderr
    assert "1/1" in result.stdout  # the progress bar's count
    report = json.loads(genops("report", "--db", str(processor.db), "--json").stdout)
    assert report[0]["catalog_version"] == "test-round-2"


def test_a_catalog_version_the_processor_does_not_know_prices_nothing(processor, tmp_path):
    env = governed_env(
        processor.endpoint,
        GENOPS_CATALOG_VERSION="made-up-7",
        TRAIN_SECONDS="0.2",
        ARTIFACT_BYTES="0",
    )
    assert run_training("train_basic.py", tmp_path / "job", env).returncode == 0
    [run] = json.loads(genops("report", "--endpoint", processor.endpoint, "--json").stdout)
    assert run["cost_micros"] == 0
    assert run["violations"] == ["unknown catalog version 'made-up-7': nothing priced"]
