"""Every python block of docs/guide.md runs, as written, against real wandb and a real processor.

Each block runs in its own interpreter (a tracer provider is set once per
process), after a prelude of stand-ins for the user's functions.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.helpers import ROOT, governed_env, token_of

GUIDE = ROOT / "docs" / "guide.md"
PRELUDE = """
import random, time
class _Model:
    score = 0.91
def train_epoch():
    time.sleep(0.01)
    return {"loss": random.random()}
def calculate_epoch_cost():
    return 0.5
def prepare_data():
    time.sleep(0.01)
    return 1.25
def train_model(*args, **kwargs):
    time.sleep(0.02)
    return _Model(), 2.5
def evaluate_model(model):
    return {"accuracy": 0.9}, 0.25
"""


def python_blocks() -> list[tuple[int, str]]:
    text = GUIDE.read_text()
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
        line = text[: match.start()].count("\n") + 1
        blocks.append((line, match.group(1)))
    return blocks


def test_the_guide_has_code_to_run():
    assert len(python_blocks()) >= 10


@pytest.mark.parametrize(
    "line,code", python_blocks(), ids=lambda v: f"line{v}" if isinstance(v, int) else ""
)
def test_guide_block_runs(processor, tmp_path, line, code):
    env = governed_env(processor.endpoint, GENOPS_ENDPOINT=processor.endpoint, HOME=str(tmp_path))
    # A block runs as the test client (trainer); registering a pricing model (a catalog)
    # is an admin's right, so a block that does it runs with the admin token.
    if "CustomPricingModel(" in code:
        env["GENOPS_TOKEN"] = token_of("admin")
    for key in (
        "GENOPS_TEAM",
        "GENOPS_PROJECT",
        "GENOPS_CUSTOMER_ID",
        "GENOPS_COST_CENTER",
        "GENOPS_ENVIRONMENT",
    ):
        env.pop(key)
    script = tmp_path / f"guide_line_{line}.py"
    script.write_text(PRELUDE + code)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"docs/guide.md line {line}:\n{result.stdout}\n{result.stderr}"
