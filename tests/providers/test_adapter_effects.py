"""Each adapter keyword and method does what docs/guide.md says, on real wandb (offline),
in a real interpreter, against a real processor; the ledger is then read from DuckDB."""

from __future__ import annotations

import json

from genops_processor import storage
from genops_processor.storage import queries
from tests.helpers import adapter_env, last_json_line, run_python

API_KEY = "k3y" * 13 + "x"  # 40 characters, like a real W&B key

DETAIL = r"""
import json, os, wandb
from genops.providers.wandb import instrument_wandb
adapter = instrument_wandb(
    wandb_api_key="__KEY__", team="kw", project="detail", customer_id="c1",
    cost_center="cc", environment="staging", tags={"priority": "high"},
    sampling_rate=0.5, enable_detailed_monitoring=True, debug_mode=True,
    workflow_context={"dag_id": "train_dag", "ds": "2026-11-29", "ti": object()},
)
run = wandb.init(project="kw", name="detail")
for step in range(10):
    wandb.log({"step": step, "loss": 1 / (step + 1), "flag": True, "note": "x"})
for index in range(4):
    path = f"part{index}.bin"
    with open(path, "wb") as fh:
        fh.write(b"\0" * 100)
    artifact = wandb.Artifact(f"part{index}", type="data")
    artifact.add_file(path)
    run.log_artifact(artifact)
out = {
    "key_in_settings": run._settings.api_key == "__KEY__",
    "key_in_environ": any("__KEY__" in v for v in os.environ.values()),
    "key_in_repr": "__KEY__" in repr(adapter) + repr(adapter.options),
    "run_id": run.id,
}
run.finish()
print(json.dumps(out))
""".replace("__KEY__", API_KEY)


def ledger(processor, sql):
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        return db.call(lambda conn: conn.execute(sql).fetchall())


def test_labels_detail_sampling_and_the_api_key(processor, tmp_path):
    result = run_python(DETAIL, tmp_path / "job", adapter_env(processor.endpoint, tmp_path))
    assert result.returncode == 0, result.stderr
    out = last_json_line(result.stdout)
    assert out["key_in_settings"] is True  # W&B got it, through wandb.Settings
    assert out["key_in_environ"] is out["key_in_repr"] is False
    assert API_KEY not in result.stderr  # debug logs on, key absent
    assert "DEBUG" in result.stderr
    [run] = processor.runs()
    assert (run.scope.team, run.scope.customer_id, run.scope.environment) == ("kw", "c1", "staging")
    assert json.loads(run.tags_json) == {"priority": "high"}
    assert run.artifact_bytes == 400 and run.artifact_files == 4  # accounting: never sampled
    rows = ledger(processor, "SELECT workflow, metrics_last FROM runs")
    [(workflow, metrics_last)] = rows
    assert json.loads(workflow) == {"dag_id": "train_dag", "ds": "2026-11-29"}
    # Every 2nd log() call is kept (sampling 0.5): the 10th call, step 9, is the last.
    assert json.loads(metrics_last) == {"loss": 0.1, "step": 9}
    with storage.Storage(processor.db, read_only=True) as db:
        artifacts = db.call(lambda c: c.execute("SELECT count(*) FROM artifacts").fetchone()[0])
        dump = db.call(
            lambda c: [
                str(c.execute(f"SELECT * FROM {t}").fetchall())
                for t in (
                    "spans",
                    "runs",
                    "cost_lines",
                    "artifacts",
                    "experiments",
                    "budget_decisions",
                )
            ]
        )
    assert artifacts == 2  # detail: half the artifact spans
    assert not any(API_KEY in text for text in dump)


EXPORT = r"""
import json
from opentelemetry import trace
from opentelemetry.instrumentation.wandb import pipeline
from genops.providers.wandb import instrument_wandb
instrument_wandb(team="t", project="p", %s)
provider = pipeline.tracer_provider()  # the governance pipeline's own, built on first use
processor = provider._active_span_processor._span_processors[0]
inner = getattr(processor, "_batch_processor", None)
exporter = inner._exporter if inner else processor.span_exporter
print(json.dumps({
    "kind": type(processor).__name__,
    "batch": inner._max_export_batch_size if inner else None,
    "queue": inner._max_queue_size if inner else None,
    "gzip": exporter.gzip,
    "global_untouched": type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider",
}))
"""


def test_exporter_keywords_shape_the_tracer_provider(tmp_path, unused_port):
    env = adapter_env(f"127.0.0.1:{unused_port}", tmp_path)
    sync = run_python(EXPORT % "async_export=False, enable_compression=False", tmp_path / "a", env)
    assert sync.returncode == 0, sync.stderr
    assert last_json_line(sync.stdout) == {
        "kind": "SimpleSpanProcessor",
        "batch": None,
        "queue": None,
        "gzip": False,
        "global_untouched": True,
    }
    batched = run_python(EXPORT % "batch_size=7, memory_limit_mb=1", tmp_path / "b", env)
    assert batched.returncode == 0, batched.stderr
    assert last_json_line(batched.stdout) == {
        "kind": "BatchSpanProcessor",
        "batch": 7,
        "queue": 512,
        "gzip": True,
        "global_untouched": True,
    }


def test_exporter_keywords_warn_when_the_pipeline_already_started(processor, tmp_path):
    # Under opentelemetry-instrument the pipeline is built at the first governed run, so an
    # adapter made before it still shapes it; one made after a run warns instead.
    code = (
        "import wandb\n"
        "wandb.init(project='p').finish()\n"
        "from genops.providers.wandb import instrument_wandb\n"
        "instrument_wandb(team='t', project='p', batch_size=5, async_export=False)\n"
    )
    env = adapter_env(processor.endpoint, tmp_path)
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "snippet.py").write_text(code)
    import subprocess

    from tests.helpers import BIN

    result = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), str(BIN / "python"), "snippet.py"],
        cwd=tmp_path / "job",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "batch_size, async_export have no effect" in result.stderr


ALERTS = r"""
import json, warnings, wandb
from genops.providers.wandb import CostAlertWarning, instrument_wandb
adapter = instrument_wandb(team="t", project="alerts", daily_budget_limit=0.000002,
                           enable_cost_alerts=%s)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    run = wandb.init(project="alerts")
    wandb.log({"a": 1})
    run.finish()
    adapter.get_metrics()
print(json.dumps([str(w.message) for w in caught if w.category is CostAlertWarning]))
"""


def test_cost_alerts_fire_once_per_threshold_and_can_be_off(processor, tmp_path):
    env = adapter_env(processor.endpoint, tmp_path, GENOPS_GPU_TYPE="H100", GENOPS_GPU_COUNT="8")
    on = run_python(ALERTS % "True", tmp_path / "on", env)
    assert on.returncode == 0, on.stderr
    fired = last_json_line(on.stdout)
    assert [m.split("reached ")[1].split("%")[0] for m in fired] == ["50", "80", "100"]
    off = run_python(ALERTS % "False", tmp_path / "off", env)
    assert off.returncode == 0, off.stderr
    assert last_json_line(off.stdout) == []


GOVERNANCE = r"""
import json, wandb
from genops.providers.wandb import BudgetExceededError, instrument_wandb
instrument_wandb(team="t", project="starved", governance_policy="enforced",
                 enable_governance=%s)
try:
    run = wandb.init(project="starved")
    run.finish()
    print(json.dumps("ran"))
except BudgetExceededError:
    print(json.dumps("refused"))
"""


def test_enable_governance_false_skips_budget_checks(start_processor_with, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "budgets:\n  - {name: none-left, scope: {team: t}, daily_limit: 0, mode: enforced}\n"
    )
    processor = start_processor_with("--policy", str(policy))
    env = adapter_env(processor.endpoint, tmp_path)
    checked = run_python(GOVERNANCE % "True", tmp_path / "on", env)
    unchecked = run_python(GOVERNANCE % "False", tmp_path / "off", env)
    assert last_json_line(checked.stdout) == "refused", checked.stderr
    assert last_json_line(unchecked.stdout) == "ran", unchecked.stderr
    runs = processor.runs()
    assert len(runs) == 1 and runs[0].scope.team == "t"  # still attributed and priced


EXPERIMENT = r"""
import json, wandb
from genops.providers.wandb import instrument_wandb
adapter = instrument_wandb(team="exp", project="lifecycle")
out = {}
try:
    with adapter.track_experiment_lifecycle("crashy", experiment_type="ablation",
                                            max_cost=40.0, tags={"arm": "b"}) as x:
        out["id"] = x.experiment_id
        with wandb.init(project="lc", name="first"):
            wandb.log({"a": 1})
        run = wandb.init(project="lc", name="second")
        with open("model.pkl", "wb") as fh:
            fh.write(b"m" * 2048)
        artifact = wandb.Artifact("model", type="model")
        artifact.add_file("model.pkl")
        adapter.log_governed_artifact(artifact, cost_estimate=1.25,
                                      governance_metadata={"classification": "internal"})
        out["artifact_metadata"] = artifact.metadata
        raise RuntimeError("boom")
except RuntimeError:
    pass
summary = adapter.get_experiment_cost_summary(out["id"])
out["summary"] = summary.__dict__
out["report"] = adapter.generate_failure_report()
out["metrics"] = adapter.get_metrics()
print(json.dumps(out))
"""


def test_experiment_attribution_failure_and_governed_artifact(processor, tmp_path):
    result = run_python(EXPERIMENT, tmp_path / "job", adapter_env(processor.endpoint, tmp_path))
    assert result.returncode == 0, result.stderr
    out = last_json_line(result.stdout)
    summary = out["summary"]
    assert summary["source"] == "processor"
    assert len(summary["cost_by_run"]) == 2
    assert summary["storage_cost"] == 1.25  # the declared cost, charged to the run
    assert summary["total_cost"] == round(
        summary["compute_cost"] + summary["storage_cost"] + summary["data_transfer_cost"], 6
    )
    assert out["artifact_metadata"]["genops"]["classification"] == "internal"
    [failed] = out["report"]["failed_experiments"]
    assert failed["name"] == "crashy" and failed["error"] == "RuntimeError: boom"
    assert out["metrics"]["source"] == "processor"
    runs = processor.runs()
    assert {r.experiment_id for r in runs} == {out["id"]}
    assert all(json.loads(r.tags_json) == {"arm": "b"} for r in runs)
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        record = db.call(lambda c: queries.experiment(c, out["id"]))
        metadata = db.call(
            lambda c: c.execute(
                "SELECT governance_metadata, cost_estimate_micros FROM artifacts"
            ).fetchall()
        )
    assert (record.status, record.experiment_type) == ("failed", "ablation")
    # The run left open by the exception ran on until the interpreter closed it: its cost
    # kept counting, so the ledger now holds at least what the summary saw.
    assert sum(r.cost_micros for r in record.runs) >= round(summary["total_cost"] * 1e6)
    assert {r.run_name for r in record.runs} == {"first", "second"}
    assert metadata == [('{"classification": "internal"}', 1_250_000)]
