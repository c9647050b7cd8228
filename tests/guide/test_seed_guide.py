"""Every Python block of the seed guide (../shared/seed/wandb-governance-guide.md) runs on
real wandb (offline) against a real processor started with credentials, or, for the API
reference's signature listings, matches the real objects' signatures.

A block runs in its own interpreter as written, preceded only by the imports and
stand-ins of the names it leaves undefined (tests/guide/standins.py, checked against the
block). The terminal summary prints "guide blocks: N run, M signature listings, K total".
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import inspect
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops.transport import ChannelSecurity, open_channel
from tests.e2e.test_tls import Ca
from tests.guide import standins
from tests.guide.guide_blocks import Block, python_blocks, starts_runs, undefined_names
from tests.guide.guide_names import REFERENCE_MODULES
from tests.helpers import (
    BIN,
    ROOT,
    SEED_GUIDE,
    adapter_env,
    run_python,
    session_credentials,
    token_of,
)

GUIDE_CHANNELS = ROOT / "tests" / "data" / "guide-channels.yaml"
# Where the listings' names live (the guide's reference names no module).
LISTED_IN = REFERENCE_MODULES


def _blocks() -> list[Block]:
    """The guide's blocks at collection time (none when it is absent: the tests that use
    ``seed_guide`` then skip, naming the missing file)."""
    shared = os.environ.get("GENOPS_SHARED_DIR") or str(ROOT.parent / "shared")
    path = os.path.join(shared, SEED_GUIDE)
    return python_blocks(Path(path)) if os.path.isfile(path) else []


BLOCKS = _blocks()
RUN = [b for b in BLOCKS if not b.is_listing]
LISTINGS = [b for b in BLOCKS if b.is_listing]


def _each(blocks: list[Block]) -> list:
    """One parameter per block; without the guide one that skips naming the file (an
    empty parameter set would skip without saying what is missing)."""
    if blocks:
        return [pytest.param(b, id=f"line{b.line}") for b in blocks]
    missing = f"needs ../shared/{SEED_GUIDE} (not beside this clone: its blocks are read from it)"
    return [pytest.param(None, id="no-guide", marks=pytest.mark.skip(reason=missing))]


def test_every_block_is_run_or_checked_as_a_listing(seed_guide):
    blocks = python_blocks(seed_guide)
    assert blocks and len(RUN) + len(LISTINGS) == len(blocks)
    assert len({b.key for b in blocks}) == len(blocks), "two blocks share a key"


def test_stand_ins_are_exactly_what_each_block_leaves_undefined(seed_guide):
    wrong = {}
    for block in RUN:
        needs = undefined_names(block.code)
        if needs != standins.NEEDS.get(block.key, set()):
            wrong[block.key] = sorted(needs)
    assert not wrong, f"update standins.NEEDS: {wrong}"
    keys = {b.key for b in RUN}
    for table in (standins.NEEDS, standins.FILES, standins.CALLS, standins.ORCHESTRATED):
        assert set(table) <= keys, f"a stand-in names a block that is gone: {set(table) - keys}"
    for names in standins.NEEDS.values():
        assert names <= set(standins.IMPORTS) | set(standins.STANDINS)


@pytest.fixture
def guide_processor(start_processor_with, tmp_path):
    """A processor as the guide's production samples require it, and how the blocks reach
    it: TLS (enable_encryption_in_transit=True), a second factor for admin actions
    (require_mfa=True), and an encrypted ledger (enable_encryption_at_rest=True). No
    dm-crypt device exists on this machine, so the ledger's encryption is the operator's
    attestation (--ledger-on-encrypted-volume, reported as attested, not detected)."""
    ca = Ca("guide-ca")
    cert, key = ca.issue("localhost", server=True)
    for name, data in {"ca.pem": ca.pem(), "cert.pem": cert, "key.pem": key}.items():
        (tmp_path / name).write_bytes(data)
    source, _ = session_credentials()
    credentials = yaml.safe_load(source.read_text())
    credentials["require_mfa_for_admin"] = True
    (tmp_path / "credentials.yaml").write_text(yaml.safe_dump(credentials))  # used at start
    (tmp_path / "credentials.yaml").chmod(0o600)
    processor = start_processor_with(
        "--policy",
        str(GUIDE_CHANNELS),
        "--tls-cert",
        str(tmp_path / "cert.pem"),
        "--tls-key",
        str(tmp_path / "key.pem"),
        "--ledger-on-encrypted-volume",
    )
    env = adapter_env(processor.endpoint, tmp_path, GENOPS_CA=str(tmp_path / "ca.pem"))
    env["GENOPS_ENDPOINT"] = f"https://{processor.endpoint}"
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT")  # governance spans go to GENOPS_ENDPOINT (TLS)
    return processor, env


@pytest.mark.parametrize("block", _each(RUN))
def test_guide_block_runs(block, seed_guide, guide_processor, tmp_path):
    processor, env = guide_processor
    cwd = tmp_path / "job"
    cwd.mkdir()
    for name, content in standins.FILES.get(block.key, {}).items():
        (cwd / name).write_bytes(content)
    if block.key in standins.ORCHESTRATED:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(standins.STANDIN_MODULES), env.get("PYTHONPATH", "")) if p
        )
    result = run_python(standins.script_for(block.key, block.code), cwd, env, timeout=300)
    where = f"guide block at line {block.line} ('{block.key}')"
    assert result.returncode == 0, f"{where}:\n{result.stdout}\n{result.stderr}"
    # nothing failed quietly either (an error logged with its traceback and swallowed)
    assert "Traceback" not in result.stderr, f"{where}:\n{result.stderr}"
    if starts_runs(block.code):  # its runs reached the processor over TLS, governed
        assert _runs(processor, tmp_path / "ca.pem"), f"{where}: no run recorded"


def _runs(processor, ca) -> list:
    security = ChannelSecurity(token=token_of("admin"), root_certificates=ca.read_bytes())
    with open_channel(processor.endpoint, True, security) as tls:
        stub = pb_grpc.GovernanceServiceStub(tls)
        return list(stub.ListRuns(pb.ListRunsRequest(), timeout=30).runs)


def test_quick_start_keywords_beat_the_environment(seed_guide, processor, tmp_path):
    code = python_blocks(seed_guide)[0].code
    env = adapter_env(
        processor.endpoint, tmp_path, GENOPS_TEAM="env-team", GENOPS_PROJECT="env-project"
    )
    result = run_python(code, tmp_path / "job", env)  # exactly the guide's text
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


# -- the API reference's signature listings ------------------------------------------
def _listing_tree(code: str) -> ast.Module:
    """The listing as Python: a bodiless ``def ...)`` or ``def ...) -> T`` gets ``: ...``."""
    fixed = re.sub(r"^(\s*\)(?:\s*->\s*[^:\n]+)?)[ \t]*$", r"\1: ...", code, flags=re.M)
    return ast.parse(fixed)


def _real(name: str):
    for module in LISTED_IN:
        found = getattr(importlib.import_module(module), name, None)
        if found is not None:
            return found
    raise AssertionError(f"{name}: in the guide's API reference, in none of {LISTED_IN}")


def _check_function(listed: ast.FunctionDef, real, skip_self: bool) -> None:
    parameters = list(inspect.signature(real).parameters.values())[1 if skip_self else 0 :]
    names = [a.arg for a in listed.args.args][1 if skip_self else 0 :]
    assert [p.name for p in parameters[: len(names)]] == names, (
        f"{listed.name}: the guide lists {names}"
    )
    if listed.args.kwarg:  # **kwargs listed: the real one takes keywords beyond the list
        rest = parameters[len(names) :]
        assert rest and all(p.kind is not inspect.Parameter.POSITIONAL_ONLY for p in rest)


def _check_class(listed: ast.ClassDef, real) -> None:
    assert inspect.isclass(real), listed.name
    for node in listed.body:
        if isinstance(node, ast.FunctionDef):
            _check_function(node, getattr(real, node.name), skip_self=True)
    bases = {b.id for b in listed.bases if isinstance(b, ast.Name)}
    if "Enum" in bases:
        listed_members = {
            t.id: ast.literal_eval(n.value)
            for n in listed.body
            if isinstance(n, ast.Assign)
            for t in n.targets
        }
        assert issubclass(real, enum.Enum)
        assert {m.name: m.value for m in real} == listed_members
    fields = [n.target.id for n in listed.body if isinstance(n, ast.AnnAssign)]
    if fields:
        assert dataclasses.is_dataclass(real), listed.name
        assert [f.name for f in dataclasses.fields(real)][: len(fields)] == fields


@pytest.mark.parametrize("block", _each(LISTINGS))
def test_signature_listing_matches_the_real_objects(block, seed_guide):
    checked = 0
    for node in _listing_tree(block.code).body:
        if isinstance(node, ast.ClassDef):
            _check_class(node, _real(node.name))
        elif isinstance(node, ast.FunctionDef):
            _check_function(node, _real(node.name), skip_self=False)
        else:
            continue
        checked += 1
    assert checked, f"no signature in the listing at line {block.line}"
