"""The guide's own code samples of this scope run unchanged on real wandb (offline)
against a real processor. Samples of later work (audit, compliance, security, regions,
orchestrators, production reports) are left to their issues; the production
monitoring sample schedules its report daily, so its body does not run here.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.docs.test_guide_doc import PRELUDE
from tests.helpers import BIN, ROOT, adapter_env, run_python

GUIDE_CHANNELS = ROOT / "tests" / "data" / "guide-channels.yaml"

# block index -> heading it sits under (checked, so a reshuffled guide fails loudly)
IN_SCOPE = {
    0: "Zero-Code Integration",
    1: "Setup Validation",
    2: "Pattern 1: Auto-Instrumentation (Zero Code Changes)",
    3: "Pattern 2: Manual Adapter (Full Control)",
    4: "Pattern 3: Context Manager (Granular Control)",
    5: "Pattern 4: Artifact Governance",
    6: "Automatic Cost Tracking",
    7: "Cost Breakdown Analysis",
    8: "Budget Management",
    9: "Cost Optimization Recommendations",
    15: "Production Monitoring",
    17: "Custom Cost Models",
    18: "Advanced Analytics Integration",
    29: '❌ "GenOps validation failed"',
    30: '❌ "Cost tracking not working"',
    31: "Slow experiment initialization",
    32: "High memory usage",
    33: "Network timeouts",
    34: "Debug Mode",
    35: "1. Environment-Specific Configuration",
    36: "2. Cost-Conscious Development",
    37: "3. Team Collaboration Patterns",
    38: "1. Robust Error Handling",
    39: "2. Monitoring and Alerting",
    42: "2. Scaling Patterns",
}
# What the guide's samples assume the user already has: their own functions and
# files, and the imports of an earlier sample that a follow-up sample relies on.
SEED_PRELUDE = (
    PRELUDE
    + """
import wandb
from datetime import datetime
from genops.providers.wandb import instrument_wandb
with open("model.pkl", "wb") as _fh:
    _fh.write(b"pickled model")
"""
)


def guide_blocks(guide: Path) -> list[tuple[str, str]]:
    text = guide.read_text()
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
        headings = re.findall(r"^#+ (.*)$", text[: match.start()], flags=re.M)
        blocks.append((headings[-1].strip() if headings else "", match.group(1)))
    return blocks


@pytest.mark.parametrize("index", sorted(IN_SCOPE))
def test_guide_sample_runs_unchanged(index, seed_guide, start_processor_with, tmp_path):
    # the channels the samples name are defined in the policy, as a deployment would
    processor = start_processor_with("--policy", str(GUIDE_CHANNELS))
    heading, code = guide_blocks(seed_guide)[index]
    assert heading == IN_SCOPE[index], "the guide changed: update IN_SCOPE"
    result = run_python(
        SEED_PRELUDE + code, tmp_path / "job", adapter_env(processor.endpoint, tmp_path)
    )
    assert result.returncode == 0, f"guide sample under '{heading}':\n{result.stderr}"


def test_quick_start_keywords_beat_the_environment(seed_guide, processor, tmp_path):
    heading, code = guide_blocks(seed_guide)[0]
    env = adapter_env(
        processor.endpoint, tmp_path, GENOPS_TEAM="env-team", GENOPS_PROJECT="env-project"
    )
    result = run_python(code, tmp_path / "job", env)  # no prelude: exactly the guide's text
    assert result.returncode == 0, result.stderr
    report = subprocess.run(
        [str(BIN / "genops"), "report", "--endpoint", processor.endpoint, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    [run] = json.loads(report.stdout)
    assert (run["team"], run["project"]) == ("ml-team", "experiment-tracking")
    assert (run["wandb_project"], run["run_name"], run["log_calls"]) == (
        "my-project",
        "experiment-1",
        1,
    )
    assert run["status"] == "finished" and run["cost_micros"] > 0
