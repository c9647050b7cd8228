"""Everything the guide's samples leave to the reader, in one place.

A block runs as ``imports + stand-ins + the block``, where the imports and stand-ins are
exactly the names that block reads without defining (``guide_blocks.undefined_names``;
the test fails when NEEDS below and the block disagree, either way). Nothing else is added
to a block's text. The stand-ins are the reader's own code (their training functions and
data); they are cheap and deterministic, never a genops or wandb double.
"""

from __future__ import annotations

from pathlib import Path

# What an undefined name is replaced by: an import (the block forgot it) ...
IMPORTS = {
    "wandb": "import wandb",
    "time": "import time",
    "datetime": "from datetime import datetime",
    "instrument_wandb": "from genops.providers.wandb import instrument_wandb",
}
# ... or the reader's own code.
STANDINS = {
    "train_epoch": "def train_epoch():\n    return {'loss': 0.25}\n",
    "calculate_epoch_cost": "def calculate_epoch_cost():\n    return 0.5\n",
    "prepare_data": "def prepare_data():\n    return 1.25\n",
    "train_model": (
        "class _Model:\n    score = 0.91\n"
        "def train_model(*args, **kwargs):\n    return _Model(), 2.5\n"
    ),
    "evaluate_model": "def evaluate_model(model):\n    return {'accuracy': 0.9}, 0.25\n",
    "save_checkpoint": "def save_checkpoint(epoch):\n    pass\n",
    "process_data": "def process_data(data):\n    return data\n",
    "train_financial_model": "def train_financial_model():\n    return {'auc': 0.8}\n",
    # process_experiment_batch's documented configuration: a callable and its parameters
    "large_experiment_list": (
        "def _fit(learning_rate):\n    return {'learning_rate': learning_rate}\n"
        "large_experiment_list = [\n"
        "    {'function': _fit, 'name': f'batch-exp-{i}',\n"
        "     'parameters': {'learning_rate': i / 100}}\n"
        "    for i in range(11)\n"
        "]\n"
    ),
}

# block key (its heading; "heading [k]" when headings repeat) -> the names it leaves undefined
NEEDS: dict[str, set[str]] = {
    "Pattern 2: Manual Adapter (Full Control)": {"wandb", "train_epoch", "calculate_epoch_cost"},
    "Pattern 3: Context Manager (Granular Control)": {
        "wandb",
        "prepare_data",
        "train_model",
        "evaluate_model",
    },
    "Automatic Cost Tracking": {"wandb"},
    "Audit Trail Generation": {"wandb"},
    "Team and Customer Attribution": {"wandb"},
    "Data Lineage and Compliance": {"wandb"},
    "Multi-Region Deployment": {"wandb"},
    "Custom Cost Models": {"instrument_wandb"},
    "Workflow Integration [1]": {"train_model"},  # Airflow
    "Workflow Integration [2]": {"train_model"},  # Kubeflow
    "High memory usage": {"instrument_wandb"},
    "Network timeouts": {"instrument_wandb"},
    "1. Environment-Specific Configuration": {"instrument_wandb"},
    "2. Cost-Conscious Development": {"instrument_wandb", "train_model"},
    "3. Team Collaboration Patterns": {"wandb", "instrument_wandb", "datetime"},
    "1. Robust Error Handling": {"wandb", "train_epoch", "save_checkpoint"},
    "3. Security and Compliance": {"train_financial_model", "process_data"},
    "1. Efficient Resource Usage": {"instrument_wandb", "time", "large_experiment_list"},
    "2. Scaling Patterns": {"train_model"},
}

# Files a block opens that the reader would already have.
FILES = {
    "Automatic Cost Tracking": {"model.pkl": b"pickled model"},
    "Pattern 4: Artifact Governance": {"model.pkl": b"pickled model"},
    "Data Lineage and Compliance": {"model.pkl": b"pickled model"},
}

# The Airflow and Kubeflow samples import their orchestrator: minimal stand-in modules
# (tests/guide/standin_modules) stand for them, as neither can be installed here.
STANDIN_MODULES = Path(__file__).parent / "standin_modules"
ORCHESTRATED = {"Workflow Integration [1]": "airflow", "Workflow Integration [2]": "kfp"}

# Samples that only define functions: after the block, the calls its reader makes (the
# orchestrator's call for the Airflow and Kubeflow ones), so that their bodies run too.
CALLS = {
    # As written it asks max_cost=100.0 under "enforced" of an adapter left at the
    # reference's max_experiment_cost default (50.0): the experiment is refused before it
    # starts, as documented, and the sample's handler logs it, reports and re-raises.
    "1. Robust Error Handling": (
        "from genops.providers.wandb import BudgetExceededError as _Refused\n"
        "try:\n    train_with_error_handling()\n"
        "except _Refused as refused:\n"
        "    assert 'above max_experiment_cost $50.00' in str(refused), refused\n"
        "else:\n    raise AssertionError('max_cost 100 > max_experiment_cost 50 ran')\n"
    ),
    "Workflow Integration [1]": "train_task.execute({'ds': '2026-12-04'})\n",
    "Workflow Integration [2]": "ml_pipeline()\n",
    "3. Security and Compliance": (
        "handle_sensitive_data({'email': 'a@example.com'})\n"
        "financial_model_training()\n"
        "generate_compliance_report()\n"
    ),
}


def script_for(key: str, code: str) -> str:
    """The text run for a block: its imports and stand-ins, the block, then its calls."""
    names = NEEDS.get(key, set())
    head = [IMPORTS[n] + "\n" for n in sorted(names) if n in IMPORTS]
    head += [STANDINS[n] for n in sorted(names) if n in STANDINS]
    return "".join(head) + code + CALLS.get(key, "")
