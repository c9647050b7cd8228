"""An experiment's hold funds its runs: the runs opened inside
``track_experiment_lifecycle(max_cost=…)`` draw on the block's reservation instead of
reserving against the budget again, and the budget counts the experiment once. Real
wandb (offline) in real interpreters, against a real genops-processor."""

from __future__ import annotations

from genops_processor import storage
from genops_processor.budgets import decisions, reservations
from tests.helpers import adapter_env, expected_cost_micros, last_json_line, run_python

ENFORCED = """
budgets:
  - {name: lab-daily, scope: {team: lab}, daily_limit: "1", mode: enforced}
"""

# Shared by the scripts: wait until the processor has every run final (the spans of a
# finished run reach it in the background), and the budget's spend.
PRELUDE = r"""
import json, os, subprocess, sys, threading, time
import grpc, wandb
from genops.governance.v1 import governance_pb2 as pb, governance_pb2_grpc as pb_grpc
from genops.providers.wandb import BudgetExceededError, instrument_wandb

from genops.transport import ChannelSecurity, open_channel

# the script's own calls, as the client its runs are (GENOPS_TOKEN from adapter_env)
stub = pb_grpc.GovernanceServiceStub(
    open_channel(os.environ["GENOPS_ENDPOINT"], False, ChannelSecurity.from_env())
)

def settle(count):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = stub.ListRuns(pb.ListRunsRequest(), timeout=10).runs
        if len(runs) == count and all(r.status == "finished" for r in runs):
            return
        time.sleep(0.2)
    raise SystemExit(f"runs never settled: {runs}")

def spent(team="lab"):
    request = pb.GetBudgetStatusRequest(scope=pb.Scope(team=team))
    [state] = stub.GetBudgetStatus(request, timeout=10).budgets
    return state.spent_micros

def train(name, seconds=0.2):
    run = wandb.init(project="p", name=name)
    for step in range(4):
        time.sleep(seconds / 4)
        wandb.log({"step": step})
    run.finish()
    return run.id

def refused(name):
    try:
        train(name)
    except BudgetExceededError as error:
        return str(error)
    return None
"""

ENFORCED_SCRIPT = (
    PRELUDE
    + r"""
adapter = instrument_wandb(team="lab", project="p", governance_policy="enforced")
out = {"inside": []}

OTHER_PROCESS = '''
import wandb
from genops.providers.wandb import BudgetExceededError, instrument_wandb
instrument_wandb(team="lab", project="p", governance_policy="enforced")
try:
    wandb.init(project="p", name="other-process").finish()
    print("ran")
except BudgetExceededError as error:
    print("refused:", error)
'''

with adapter.track_experiment_lifecycle("sweep", max_cost=0.9999) as experiment:
    out["hold"] = experiment.hold_id
    out["spent_at_enter"] = spent()
    for index in range(3):
        out["inside"].append(train(f"trial-{index}"))
    # The money is the block's: a run in another process is refused meanwhile.
    other = subprocess.run([sys.executable, "-c", OTHER_PROCESS], capture_output=True,
                           text=True, timeout=120)
    out["other_process"] = other.stdout.strip() or other.stderr[-2000:]
settle(3)
out["spent_after_exit"] = spent()

# After the block, while another experiment (another adapter, another thread) holds
# what is left of the budget, a run outside any block is refused.
rival = instrument_wandb(team="lab", project="p", governance_policy="enforced")
entered, done = threading.Event(), threading.Event()
left_usd = (1_000_000 - out["spent_after_exit"]) / 1e6

def hold_the_rest():
    with rival.track_experiment_lifecycle("rival", max_cost=left_usd):
        entered.set()
        done.wait(60)

thread = threading.Thread(target=hold_the_rest)
thread.start()
entered.wait(60)
out["spent_with_rival"] = spent()
out["outside"] = refused("outside")
done.set()
thread.join()
out["spent_at_end"] = spent()
print(json.dumps(out))
"""
)


def run_script(start_processor_with, tmp_path, policy: str, script: str, **env):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(policy)
    processor = start_processor_with("--policy", str(policy_file))
    environ = adapter_env(processor.endpoint, tmp_path, GENOPS_HEARTBEAT_INTERVAL="1", **env)
    result = run_python(script, tmp_path / "job", environ, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return processor, last_json_line(result.stdout), result.stderr


def test_enforced_an_experiment_s_hold_funds_its_runs_and_nothing_else(
    start_processor_with, tmp_path
):
    processor, out, _ = run_script(start_processor_with, tmp_path, ENFORCED, ENFORCED_SCRIPT)
    # The block holds $0.9999 of the $1 budget, and its three runs all ran.
    assert out["spent_at_enter"] == 999_900
    assert len(out["inside"]) == 3
    # Outside the block the budget has $0.0001 left: refused, in another process...
    assert out["other_process"].startswith("refused:"), out["other_process"]
    assert "budget 'lab-daily'" in out["other_process"]
    # ...and after it, while another experiment holds the rest.
    assert out["outside"] is not None and "budget 'lab-daily'" in out["outside"]
    assert out["spent_with_rival"] == 1_000_000  # to the micro-dollar
    runs = processor.runs()
    assert sorted(r.run_id for r in runs) == sorted(out["inside"])
    # Exact: once the block has given its hold back, spend is the runs' costs, once.
    costs = [r.cost_micros for r in runs]
    assert all(c == expected_cost_micros(r) > 0 for c, r in zip(costs, runs, strict=True))
    assert out["spent_after_exit"] == out["spent_at_end"] == sum(costs)
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        held = db.call(reservations.holds)
        logged = db.call(decisions.list_decisions)
    children = [h for h in held if h["parent_hold_id"] == out["hold"]]
    assert len(children) == 3 and {h["status"] for h in children} == {"committed"}
    assert sorted(h["committed_micros"] for h in children) == sorted(costs)
    [block] = [h for h in held if h["hold_id"] == out["hold"]]
    assert block["status"] == "released"
    inside = [d for d in logged if d["wandb_run_name"].startswith("trial-")]
    assert len(inside) == 3 and {d["decision"] for d in inside} == {"allow"}
    assert all(f"drawn on experiment hold {out['hold']}" in d["message"] for d in inside)


ADVISORY = """
budgets:
  - {name: lab-daily, scope: {team: lab}, daily_limit: "1", mode: advisory}
"""

ADVISORY_SCRIPT = (
    PRELUDE
    + r"""
adapter = instrument_wandb(team="lab", project="p", governance_policy="advisory",
                           max_experiment_cost=5.0)
out = {}

def governed_artifact(run_cost_usd):
    with open("blob.bin", "wb") as fh:
        fh.write(b"0" * 10)
    artifact = wandb.Artifact("blob", type="data")
    artifact.add_file("blob.bin")
    adapter.log_governed_artifact(artifact, cost_estimate=run_cost_usd)

with adapter.track_experiment_lifecycle("sweep", max_cost=0.9999):
    for index in range(3):  # a sweep inside its own hold: not a word
        train(f"trial-{index}")
    settle(3)
    out["spent_within"] = spent()
    print("=== the runs' cost passes the limit ===", file=sys.stderr, flush=True)
    for index in range(2):  # $0.60 of declared storage each: $1.20 and more in all
        run = wandb.init(project="p", name=f"big-{index}")
        governed_artifact(0.6)
        run.finish()
        settle(4 + index)
    out["spent_past"] = spent()
    train("after")  # its check warns: the budget is really passed
print(json.dumps(out))
"""
)


def test_advisory_no_warning_for_the_experiment_s_own_hold_but_one_past_the_limit(
    start_processor_with, tmp_path
):
    _, out, stderr = run_script(
        start_processor_with,
        tmp_path,
        ADVISORY,
        ADVISORY_SCRIPT,
        GENOPS_GPU_COUNT="0",  # one vCPU: $0.001 a second, so the runs cost next to nothing
        GENOPS_CPU_COUNT="1",
    )
    within, past = stderr.split("=== the runs' cost passes the limit ===")
    assert out["spent_within"] == 999_900  # the hold; the runs inside it
    assert "exceeded" not in within, within[-3000:]
    assert out["spent_past"] > 1_200_000
    assert "advisory budget 'lab-daily' exceeded: limit $1.00, spent $1.2" in past


HOSTILE = """
budgets:
  - {name: lab-daily, scope: {team: lab}, daily_limit: "1", mode: enforced}
  - {name: other-daily, scope: {team: other}, daily_limit: "10", mode: enforced}
"""

HOSTILE_SCRIPT = (
    PRELUDE
    + r"""
from genops import context

def hold(team, micros, project=""):
    request = pb.CheckBudgetRequest(scope=pb.Scope(team=team, project=project),
                                    requested_micros=micros)
    return stub.CheckBudget(request, timeout=10).hold_id

out = {}
theirs = hold("other", 5_000_000)  # another team's experiment: $5 of its $10
closed = hold("lab", 900_000, "p")  # a lab experiment's $0.90, given back
stub.ReleaseHold(pb.ReleaseHoldRequest(hold_id=closed), timeout=10)
instrument_wandb(team="lab", project="p", governance_policy="enforced", max_experiment_cost=5.0)
for name, parent in (("theirs", theirs), ("closed", closed), ("unknown", "f" * 32)):
    # Asking $1.50 of the lab's $1 budget: a usable parent holding $0.90 or more
    # would have made it fit. Named by hand, then by a real run in a block's stead.
    request = pb.CheckBudgetRequest(scope=pb.Scope(team="lab", project="p"),
                                    requested_micros=1_500_000, parent_hold_id=parent)
    answer = stub.CheckBudget(request, timeout=10)
    with context.funding(parent):
        run = refused(f"run-{name}")  # asks $1.80: one vCPU for half an hour
    out[name] = {"decision": pb.Decision.Name(answer.decision), "hold": answer.hold_id,
                 "message": answer.message, "run": run}
out["spent_lab"] = spent("lab")
out["spent_other"] = spent("other")
print(json.dumps(out))
"""
)


def test_a_hold_that_is_not_the_client_s_open_experiment_funds_nothing(
    start_processor_with, tmp_path
):
    processor, out, _ = run_script(
        start_processor_with,
        tmp_path,
        HOSTILE,
        HOSTILE_SCRIPT,
        GENOPS_GPU_COUNT="0",
        GENOPS_CPU_COUNT="1",
        GENOPS_RESERVATION_HOURS="0.5",
    )
    why = {
        "theirs": "of another scope",
        "closed": "unknown or no longer open",
        "unknown": "unknown or no longer open",
    }
    for name, reason in why.items():
        answer = out[name]
        assert answer["decision"] == "DECISION_DENY" and not answer["hold"], answer
        assert f"is not usable ({reason}): decided as a run of its own" in answer["message"]
        assert answer["run"] and "budget 'lab-daily'" in answer["run"], answer
        assert "requested $1.80" in answer["run"]  # all of it asked of the lab's budget
    assert out["spent_lab"] == 0  # nothing reserved, nothing spent
    assert out["spent_other"] == 5_000_000  # their hold as it was: nothing drawn on it
    assert processor.runs() == []
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        held = db.call(reservations.holds)
    assert len(held) == 2 and not any(h["parent_hold_id"] for h in held)
