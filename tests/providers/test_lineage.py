"""Lineage: ``create_data_lineage`` (the guide's call) stored with the artifact by
``log_governed_artifact`` on real wandb (offline) against a real processor; ``genops
lineage ARTIFACT|RUN`` shows where an artifact came from and which runs used it.

W&B refuses ``Run.use_artifact`` in offline mode ("Cannot use artifact when in offline
mode"), so the runs that use the artifact are sent as the instrumentation sends them
(their ``wandb.artifacts.used`` attribute, tests/synthetic_spans.py), and the wrapper
that records ``use_artifact`` is tested on a stand-in for W&B's own method."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from genops.providers.wandb_governance import (
    MAX_CHARS,
    MAX_ENTRIES,
    MAX_RECORD_CHARS,
    create_data_lineage,
)
from genops_processor import storage
from genops_processor.auth import credentials
from tests.helpers import BIN, adapter_env, last_json_line, run_python, token_of
from tests.synthetic_spans import export, run_span

GUIDE = r"""
import json, wandb
from genops.providers.wandb import instrument_wandb
from genops.providers.wandb_governance import create_data_lineage

adapter = instrument_wandb(
    team="compliance-team", project="regulated-models", enable_governance=True
)
lineage = create_data_lineage(
    data_sources=["customer_data.csv", "public_dataset.json"],
    transformations=["cleaning", "feature_engineering", "normalization"],
    validation_results={"quality_score": 0.95, "bias_check": "passed"},
    compliance_approvals=["data_governance", "legal_review"],
)
run = wandb.init(project="compliance", name="gdpr-compliant-model")
with open("model.pkl", "wb") as fh:
    fh.write(b"weights")
model_artifact = wandb.Artifact("compliant-model", type="model")
model_artifact.add_file("model.pkl")
adapter.log_governed_artifact(
    model_artifact,
    governance_metadata={
        "data_lineage": lineage,
        "gdpr_compliant": True,
        "retention_period_days": 365,
        "data_classification": "personal_data",
    },
)
# a lineage of a million sources (a generator, read once) is stored bounded
huge = create_data_lineage(data_sources=(f"s3://lake/part-{i}.parquet" for i in range(10**6)))
big_artifact = wandb.Artifact("lake-model", type="model")
big_artifact.add_file("model.pkl")
adapter.log_governed_artifact(big_artifact, governance_metadata={"data_lineage": huge})
print(json.dumps({"run_id": run.id, "stored": model_artifact.metadata["genops"]["data_lineage"]}))
run.finish()
"""


def genops(*args: str, token: str | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    if token:
        env["GENOPS_TOKEN"] = token
    return subprocess.run(
        [str(BIN / "genops"), *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_create_data_lineage_is_the_record_the_guide_describes():
    record = create_data_lineage(
        data_sources=["customer_data.csv", "public_dataset.json"],
        transformations=["cleaning", "feature_engineering", "normalization"],
        validation_results={"quality_score": 0.95, "bias_check": "passed"},
        compliance_approvals=["data_governance", "legal_review"],
    )
    assert record["data_sources"] == ["customer_data.csv", "public_dataset.json"]
    assert record["transformations_total"] == 3
    assert record["validation_results"] == {"quality_score": 0.95, "bias_check": "passed"}
    assert record["compliance_approvals"] == ["data_governance", "legal_review"]
    assert record["schema"] == "genops.lineage/v1" and record["digest"].startswith("sha256:")
    assert json.loads(json.dumps(record)) == record  # JSON as it is
    again = create_data_lineage(
        ["customer_data.csv", "public_dataset.json"],
        ["cleaning", "feature_engineering", "normalization"],
        {"quality_score": 0.95, "bias_check": "passed"},
        ["data_governance", "legal_review"],
    )
    assert again["digest"] == record["digest"]  # the same inputs, the same digest


def test_a_lineage_of_a_million_sources_and_huge_entries_is_bounded():
    record = create_data_lineage(
        data_sources=(f"s3://lake/part-{i}.parquet" for i in range(10**6)),
        transformations=["t" * 10**6],
        validation_results={f"check-{i}": "x" * 10_000 for i in range(1_000)},
        compliance_approvals="legal_review",  # one approval, not twelve characters
    )
    assert record["data_sources_total"] == 10**6
    assert record["data_sources"][:2] == ["s3://lake/part-0.parquet", "s3://lake/part-1.parquet"]
    assert len(record["data_sources"]) <= MAX_ENTRIES
    assert len(record["transformations"][0]) == MAX_CHARS
    assert record["validation_results_total"] == 1_000
    assert record["compliance_approvals"] == ["legal_review"]
    assert len(json.dumps(record)) <= MAX_RECORD_CHARS
    other = create_data_lineage(
        data_sources=(f"s3://lake/part-{i}.parquet" for i in range(10**6 - 1))
    )
    assert other["digest"] != record["digest"]  # the digest covers every source, not the kept ones
    with pytest.raises(TypeError, match="validation_results"):
        create_data_lineage(validation_results=["passed"])


def test_the_use_artifact_wrapper_records_the_name_without_its_version():
    """On a stand-in for W&B's use_artifact (offline W&B refuses the real call)."""
    from opentelemetry.instrumentation.wandb import wrappers

    class Usage:
        def __init__(self):
            import threading

            self.lock = threading.Lock()
            self.artifacts_used = []

    usage = Usage()

    class Tracker:
        def get(self, run_id):
            return usage if run_id == "r1" else None

    class Run:
        id = "r1"

    class Used:
        name = "compliant-model:v3"

    wrapper = wrappers.traced_use_artifact(Tracker())
    for _ in range(2):
        assert isinstance(
            wrapper(lambda *a, **k: Used(), Run(), ("compliant-model:latest",), {}), Used
        )
    assert usage.artifacts_used == ["compliant-model"]


def test_genops_lineage_shows_sources_producer_and_users(processor, tmp_path):
    result = run_python(GUIDE, tmp_path / "job", adapter_env(processor.endpoint, tmp_path))
    assert result.returncode == 0, result.stderr
    out = last_json_line(result.stdout)
    producer = out["run_id"]
    assert out["stored"]["data_sources"] == ["customer_data.csv", "public_dataset.json"]
    # two later runs of the team use the model (as use_artifact reports it), one of another
    # team (the admin sends it) does too
    export(
        processor.endpoint,
        token_of("trainer"),
        [
            run_span("compliance-team", run_id="eval-1", used=["compliant-model"]),
            run_span("compliance-team", run_id="eval-2", used=["compliant-model", "raw-data"]),
        ],
    )
    export(
        processor.endpoint,
        token_of("admin"),
        [run_span("outsiders", run_id="spy", used=["compliant-model"])],
    )

    shown = genops("lineage", "compliant-model", "--endpoint", processor.endpoint)
    assert shown.returncode == 0, shown.stderr
    assert "data sources: customer_data.csv, public_dataset.json" in shown.stdout
    assert "compliance approvals: data_governance, legal_review" in shown.stdout
    assert f"logged by run {producer}" in shown.stdout
    assert (
        "run eval-1" in shown.stdout and "run eval-2" in shown.stdout and "run spy" in shown.stdout
    )

    as_json = json.loads(
        genops("lineage", "compliant-model", "--json", "--endpoint", processor.endpoint).stdout
    )
    [artifact] = [a for a in as_json["artifacts"] if a["name"].startswith("compliant-model")]
    assert artifact["lineage"]["validation_results"] == {
        "quality_score": 0.95,
        "bias_check": "passed",
    }
    assert artifact["logged_by"]["run_id"] == producer
    assert [u["run_id"] for u in artifact["used_by"]] == ["eval-1", "eval-2", "spy"]

    # a run's view: what it used, who logged that; the producer: what it logged, who used it
    eval2 = json.loads(
        genops("lineage", "eval-2", "--json", "--endpoint", processor.endpoint).stdout
    )
    [run] = eval2["runs"]
    used = {u["name"]: [p["run_id"] for p in u["logged_by"]] for u in run["used"]}
    assert used == {"compliant-model": [producer], "raw-data": []}
    logged = json.loads(
        genops("lineage", producer, "--json", "--endpoint", processor.endpoint).stdout
    )
    names = {a["name"].split(":")[0]: a for a in logged["runs"][0]["logged"]}
    assert set(names) == {"compliant-model", "lake-model"}
    # the million-source lineage reached the ledger, bounded (not dropped as too large)
    assert names["lake-model"]["lineage"]["data_sources_total"] == 10**6

    # a client of other teams sees nothing of this team's lineage
    outsider = credentials.create(processor.credentials, "outsider", "client", ["outsiders"])
    deadline = time.monotonic() + 30
    while True:  # the processor reloads its credentials file by itself
        seen = genops(
            "lineage", "compliant-model", "--json", "--endpoint", processor.endpoint, token=outsider
        )
        if "UNAUTHENTICATED" not in seen.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    view = json.loads(seen.stdout)
    assert [a["logged_by"] for a in view["artifacts"]] == [None]  # only its own run's use
    assert [u["run_id"] for u in view["artifacts"][0]["used_by"]] == ["spy"]
    assert producer not in seen.stdout and "customer_data.csv" not in seen.stdout

    missing = genops("lineage", "no-such-thing", "--endpoint", processor.endpoint)
    assert missing.returncode == 1 and "no artifact or run named 'no-such-thing'" in missing.stderr

    assert processor.stop() == 0
    offline = genops("lineage", "compliant-model", "--json", "--db", str(processor.db))
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout) == as_json
    with storage.Storage(processor.db, read_only=True) as db:
        [(metadata,)] = db.call(
            lambda c: c.execute(
                "SELECT governance_metadata FROM artifacts WHERE name LIKE 'compliant-model%'"
            ).fetchall()
        )
    assert json.loads(metadata)["retention_period_days"] == 365
