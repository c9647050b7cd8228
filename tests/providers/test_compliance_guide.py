"""The guide's compliance, residency, production and security samples on real wandb
(offline) against real processors, as written (with the prelude's imports and the
stand-ins the samples leave undefined).

Two samples (Production Configuration; Security and Compliance) ask for
``enable_encryption_at_rest=True``: a processor whose ledger is neither on a detected
encrypted volume nor attested as such by its operator (``--ledger-on-encrypted-volume``)
refuses them before any run, naming that keyword alone; with that one keyword set to
False they run. (tests/guide runs them as written against an attesting processor.)
"""

from __future__ import annotations

import yaml

from tests.docs.test_guide_doc import PRELUDE
from tests.e2e.test_tls import Ca
from tests.guide.guide_blocks import python_blocks
from tests.helpers import ROUND_CATALOG, adapter_env, last_json_line, run_python, start_processor

SEED_PRELUDE = (
    PRELUDE
    + """
import wandb
from datetime import datetime
from genops.providers.wandb import instrument_wandb
"""
)
STAND_INS = """
def process_data(data):
    return len(data)
def train_financial_model():
    return {"auc": 0.9}
"""
# Calls the Security sample's decorated functions (it only defines them).
SECURITY_EPILOGUE = """
import json as _json
_out = {"handled": handle_sensitive_data("customer record")}
_out["trained"] = financial_model_training()
generate_compliance_report()
security_manager.flush_events()
print(_json.dumps(_out))
"""


def block(seed_guide, heading: str) -> str:
    [code] = [b.code for b in python_blocks(seed_guide) if b.heading == heading]
    return code


def _run(code, processor, tmp_path, **env):
    environment = adapter_env(processor.endpoint, tmp_path)
    if env:  # TLS: the https endpoint for both the API and the spans
        environment.update(env)
        environment.pop("OTEL_EXPORTER_OTLP_ENDPOINT")
    return run_python(SEED_PRELUDE + STAND_INS + code, tmp_path / "job", environment)


def test_policy_enforcement_sample_prints_the_score_and_violations(seed_guide, processor, tmp_path):
    result = _run(block(seed_guide, "Policy Enforcement"), processor, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Policy compliance: 100.0%" in result.stdout


def test_multi_region_sample_records_each_region(seed_guide, processor, tmp_path):
    result = _run(block(seed_guide, "Multi-Region Deployment"), processor, tmp_path)
    assert result.returncode == 0, result.stderr
    [run] = processor.runs()
    assert (run.run_name, run.region) == ("eu-customer-model", "eu-west-1")


def _secure_processor(tmp_path):
    ca = Ca("guide-ca")
    cert, key = ca.issue("localhost", server=True)
    paths = {}
    for name, data in {"ca": ca.pem(), "cert": cert, "key": key}.items():
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(data)
    (tmp_path / "p").mkdir()
    proc = start_processor(
        tmp_path / "p",
        "--catalog",
        str(ROUND_CATALOG),
        "--tls-cert",
        str(paths["cert"]),
        "--tls-key",
        str(paths["key"]),
    )
    data = yaml.safe_load(proc.credentials.read_text())
    data["require_mfa_for_admin"] = True
    proc.credentials.write_text(yaml.safe_dump(data))
    env = {"GENOPS_ENDPOINT": f"https://{proc.endpoint}", "GENOPS_CA": str(paths["ca"])}
    return proc, env


def _wait_for_mfa(proc, env, tmp_path):
    """The processor re-reads its credentials file within a second: ask until it says so."""
    probe = (
        "from genops.providers.wandb import instrument_wandb\n"
        "import time\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        instrument_wandb(team='secure-ml', project='p', require_mfa=True)\n"
        "        break\n"
        "    except Exception:\n"
        "        time.sleep(0.1)\n"
        "else:\n"
        "    raise SystemExit('mfa never required')\n"
    )
    result = _run(probe, proc, tmp_path / "probe", **env)
    assert result.returncode == 0, result.stderr


def test_production_and_security_samples_need_only_encryption_at_rest(seed_guide, tmp_path):
    proc, env = _secure_processor(tmp_path)
    try:
        (tmp_path / "probe").mkdir()
        _wait_for_mfa(proc, env, tmp_path)
        production = block(seed_guide, "Production Configuration")
        security = block(seed_guide, "3. Security and Compliance") + SECURITY_EPILOGUE
        for code in (production, security):
            result = _run(code, proc, tmp_path / "as-written", **env)
            assert result.returncode != 0
            last = result.stderr.strip().splitlines()[-1]
            assert last.startswith("genops.errors.SecurityRequirementError: ")
            assert "enable_encryption_at_rest=True" in last and "require_mfa" not in last
        flipped = production.replace(
            "enable_encryption_at_rest=True", "enable_encryption_at_rest=False"
        )
        result = _run(flipped, proc, tmp_path / "production", **env)
        assert result.returncode == 0, result.stderr
        flipped = security.replace(
            "enable_encryption_at_rest=True", "enable_encryption_at_rest=False"
        )
        result = _run(flipped, proc, tmp_path / "security", **env)
        assert result.returncode == 0, result.stderr
        out = last_json_line(result.stdout)
        assert out == {"handled": len("customer record"), "trained": {"auc": 0.9}}
    finally:
        proc.stop()
