"""max_concurrent_experiments, enforced by the processor over every client of a scope:
the adapter declares it with its run-start CheckBudget, and the processor denies a start
while the scope already has that many runs started and not final (its live runs, kept
in memory). A real processor, real wandb (offline), separate client processes."""

from __future__ import annotations

import subprocess
import sys

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from tests.helpers import adapter_env, run_python

RUN = """
import os, pathlib, sys, time
import wandb
from genops.providers.wandb import instrument_wandb

adapter = instrument_wandb(team="ml-team", project="churn", max_concurrent_experiments=1,
                           governance_policy="enforced")
try:
    run = wandb.init(project="p", name=os.environ["RUN_NAME"])
except Exception as error:
    print("REFUSED", type(error).__name__, error, flush=True)
    sys.exit(3)
print("STARTED", flush=True)
release = pathlib.Path("release")
while not release.exists():  # the test says when this run may end (bounded below)
    if time.monotonic() > float(os.environ["DEADLINE"]):
        sys.exit(4)
    time.sleep(0.05)
run.log({"loss": 0.1})
run.finish()
adapter.cleanup()
print("FINISHED", flush=True)
"""


def _env(processor, tmp_path, name):
    import time

    return adapter_env(
        processor.endpoint, tmp_path, RUN_NAME=name, DEADLINE=str(time.monotonic() + 120)
    )


def test_a_second_run_of_the_scope_waits_for_the_first(processor, tmp_path):
    first_dir = tmp_path / "first"
    first_dir.mkdir()
    (first_dir / "snippet.py").write_text(RUN)
    first = subprocess.Popen(
        [sys.executable, "snippet.py"],
        cwd=first_dir,
        env=_env(processor, tmp_path, "first"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout.readline().startswith("STARTED"), first.stderr.read()
        second = run_python(RUN, tmp_path / "second", _env(processor, tmp_path, "second"))
        assert second.returncode == 3, second.stderr
        assert "max_concurrent_experiments 1 reached" in second.stdout
        assert "1 runs of this scope are running or starting" in second.stdout
    finally:
        (first_dir / "release").write_text("")
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    third_dir = tmp_path / "third"
    third_dir.mkdir()
    (third_dir / "release").write_text("")  # ends at once
    third = run_python(RUN, third_dir, _env(processor, tmp_path, "third"))
    assert third.returncode == 0, third.stderr + third.stdout
    assert "STARTED" in third.stdout


@pytest.mark.parametrize("value", [-1, 10_001, 2**40])
def test_a_declared_limit_out_of_range_is_refused_by_the_processor(processor, value):
    request = pb.CheckBudgetRequest(
        scope=pb.Scope(team="ml-team", project="churn"),
        client_limits=pb.ClientLimits(max_running_runs=value),
    )
    with pytest.raises(grpc.RpcError) as refused:
        processor.stub("trainer").CheckBudget(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_running_runs" in refused.value.details()


@pytest.mark.parametrize("value", [0, -3, 10_001, 1.5, True])
def test_the_adapter_refuses_a_limit_out_of_range_at_its_entry(value):
    from genops.providers.wandb_production import ProductionConfiguration

    with pytest.raises(ValueError, match="max_concurrent_experiments"):
        ProductionConfiguration(max_concurrent_experiments=value)
    from genops.adapter import GenOpsWandbAdapter

    with pytest.raises(ValueError, match="max_concurrent_experiments"):
        GenOpsWandbAdapter(team="t", max_concurrent_experiments=value)
