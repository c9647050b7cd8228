"""``adapter.process_experiment_batch(configs)``: each configuration runs as a governed
experiment with the adapter's limits, one result per configuration, and one failure
never stops the rest. Real interpreters, real wandb (offline), a real processor."""

from __future__ import annotations

from genops_processor import storage
from tests.helpers import adapter_env, last_json_line, run_python

BATCH = r"""
import json, wandb
from genops.providers.wandb import instrument_wandb

adapter = instrument_wandb(
    team="high-performance-ml", project="batch-processing",
    max_experiment_cost=5.0, governance_policy="enforced", max_concurrent_experiments=10,
)

def train(lr, epochs=1):
    run = wandb.init(project="batch-processing", name=f"lr-{lr}")
    for epoch in range(epochs):
        wandb.log({"loss": 1.0 / (epoch + 1), "lr": lr})
    run.finish()
    return {"lr": lr, "final_loss": 1.0 / epochs}

def broken(message):
    raise RuntimeError(message)

def needs_experiment(experiment, tag):
    return {"experiment_name": experiment.name, "tag": tag}

results = adapter.process_experiment_batch([
    {"name": "lr-small", "function": train, "parameters": {"lr": 0.001, "epochs": 3}},
    {"name": "boom", "function": broken, "parameters": {"message": "disk on fire"}},
    {"name": "too-dear", "function": train, "parameters": {"lr": 9}, "max_cost": 500.0},
    {"name": "no-function", "parameters": {"lr": 1}},
    "not a mapping",
    {"name": "wrong-args", "function": train, "parameters": {"nope": 1}},
    {"name": "with-exp", "function": needs_experiment, "args": ["x"], "pass_experiment": True,
     "experiment_type": "evaluation", "tags": {"batch": "1"}},
    {"function": train, "params": {"lr": 0.01}},
])
print(json.dumps(results, default=str))
try:
    adapter.process_experiment_batch({"function": train})
except TypeError as error:
    print(json.dumps({"refused": str(error)}))
"""


def test_a_batch_runs_each_config_governed_and_isolates_failures(processor, tmp_path):
    result = run_python(BATCH, tmp_path / "job", adapter_env(processor.endpoint, tmp_path))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    results = __import__("json").loads(lines[-1])
    assert last_json_line(result.stdout) == {
        "refused": "configs: expected a list of mappings (one per experiment)"
    }
    by_name = {r["name"]: r for r in results}
    assert [r["index"] for r in results] == list(range(8))  # one result per config, in order
    assert by_name["lr-small"]["status"] == "succeeded"
    assert by_name["lr-small"]["result"] == {"lr": 0.001, "final_loss": 1 / 3}
    assert by_name["boom"]["status"] == "failed"
    assert by_name["boom"]["error"] == "RuntimeError: disk on fire"
    # the adapter's limits: max_cost above max_experiment_cost is refused under enforced
    assert by_name["too-dear"]["status"] == "refused"
    assert "max_experiment_cost" in by_name["too-dear"]["error"]
    assert results[3]["status"] == results[4]["status"] == "invalid"
    assert "function: required" in results[3]["error"]
    assert "expected a mapping" in results[4]["error"]
    assert by_name["wrong-args"]["status"] == "failed"
    assert "unexpected keyword argument 'nope'" in by_name["wrong-args"]["error"]
    assert by_name["with-exp"]["result"] == {"experiment_name": "with-exp", "tag": "x"}
    assert by_name["train"]["status"] == "succeeded"  # named after its function
    assert all(r["experiment_id"] for r in results if r["status"] in ("succeeded", "failed"))
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        experiments = dict(
            db.call(lambda c: c.execute("SELECT name, status FROM experiments").fetchall())
        )
        runs = db.call(
            lambda c: c.execute(
                "SELECT r.run_name, x.name FROM runs r JOIN experiments x USING (experiment_id)"
            ).fetchall()
        )
    assert experiments["lr-small"] == "finished" and experiments["boom"] == "failed"
    assert "too-dear" not in experiments  # refused before it ran
    assert sorted(runs) == [("lr-0.001", "lr-small"), ("lr-0.01", "train")]
