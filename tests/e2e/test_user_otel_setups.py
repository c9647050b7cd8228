"""The user's own OpenTelemetry set-up stays theirs, and every run is still recorded.

Governance spans go through the instrumentation's own pipeline: the user's
sampler cannot drop a run, their exporters keep printing their spans, their
spans never reach the processor, and installing opentelemetry-distro beside
this package changes nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig

import pytest

from tests.helpers import BIN, SCRIPTS, Training, expected_cost_micros, governed_env, run_training


def user_spans_seen_by(processor) -> float:
    """Spans of kinds the processor does not know (the user's), as it counted them."""
    return sum(
        value
        for name, value in processor.metrics().items()
        if name.startswith("genops_spans_received_total") and 'kind="other"' in name
    )


def assert_two_exact_rows(processor, stdout: str) -> None:
    ids = {line.split()[1]: line.split()[2] for line in stdout.splitlines() if line[:4] == "run "}
    rows = {run.run_id: run for run in processor.runs()}
    assert sorted(rows) == sorted(ids.values()), (rows, stdout)
    for name, log_calls in (("run-a", 3), ("run-b", 7)):
        run = rows[ids[name]]
        assert (run.status, run.log_calls) == ("finished", log_calls)
        assert run.cost_micros == expected_cost_micros(run) > 0


@pytest.mark.parametrize(
    "sampler", [{"OTEL_TRACES_SAMPLER": "always_off"}, {"OTEL_TRACES_SAMPLER": "traceidratio"}]
)
def test_a_sampler_that_drops_every_trace_drops_no_run(processor, tmp_path, sampler):
    env = governed_env(processor.endpoint, LOG_CALLS="6", TRAIN_SECONDS="0.3", **sampler)
    if sampler["OTEL_TRACES_SAMPLER"] == "traceidratio":
        env["OTEL_TRACES_SAMPLER_ARG"] = "0"
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    [run] = processor.runs()
    assert (run.status, run.log_calls, run.artifact_bytes) == ("finished", 6, 12345)
    assert run.cost_micros == expected_cost_micros(run) > 0


def test_a_provider_set_in_code_keeps_its_spans_under_opentelemetry_instrument(processor, tmp_path):
    env = governed_env(processor.endpoint, USER_PROVIDER="console")
    training = run_training("user_span_two_runs.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    assert '"name": "job"' in training.result.stdout  # the user's exporter got their span
    assert "wandb.run" not in training.result.stdout  # and none of ours
    assert_two_exact_rows(processor, training.result.stdout)
    assert user_spans_seen_by(processor) == 0


def test_a_provider_set_in_code_before_auto_instrument_keeps_its_spans(processor, tmp_path):
    env = governed_env(
        processor.endpoint, GENOPS_ENDPOINT=processor.endpoint, USER_PROVIDER="console"
    )
    env["AUTO_INSTRUMENT"] = "1"
    training = run_training("user_span_two_runs.py", tmp_path / "job", env, instrumented=False)
    assert training.returncode == 0, training.result.stderr
    assert '"name": "job"' in training.result.stdout
    assert "wandb.run" not in training.result.stdout
    assert_two_exact_rows(processor, training.result.stdout)
    assert user_spans_seen_by(processor) == 0


@pytest.fixture(scope="module")
def distro_python(tmp_path_factory) -> str:
    """A throwaway venv: this repository's packages (its site-packages, by a .pth)
    plus opentelemetry-distro from PyPI, matching the installed instrumentation."""
    from importlib.metadata import version

    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("needs uv on PATH to make a venv with opentelemetry-distro")
    venv = tmp_path_factory.mktemp("distro") / "venv"
    made = subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if made.returncode:
        pytest.skip(f"uv venv failed: {made.stderr.strip()}")
    python = venv / "bin" / "python"
    wanted = f"opentelemetry-distro=={version('opentelemetry-instrumentation')}"
    installed = subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "--no-deps", wanted],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if installed.returncode:
        pytest.skip(f"cannot install {wanted} (no package index?): {installed.stderr.strip()}")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]  # processes its .pth files: editable installs too
    with open(f"{site}/genops_repo.pth", "w") as fh:
        fh.write(f"import site; site.addsitedir({ours!r})\n")
    return str(python)


def test_opentelemetry_distro_beside_us_changes_nothing(processor, tmp_path, distro_python):
    env = governed_env(
        processor.endpoint,
        GENOPS_ENDPOINT=processor.endpoint,
        USER_PROVIDER="distro",  # the script sets nothing: the distro configures the SDK
        OTEL_TRACES_EXPORTER="console",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    del env["OTEL_EXPORTER_OTLP_ENDPOINT"]  # nothing of the user's points at the processor
    cwd = tmp_path / "job"
    cwd.mkdir()
    result = subprocess.run(
        [
            str(BIN / "opentelemetry-instrument"),
            distro_python,
            str(SCRIPTS / "user_span_two_runs.py"),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    training = Training(result, 0.0, cwd)
    assert training.returncode == 0, result.stderr
    probe = subprocess.run(
        [distro_python, "-c", "import opentelemetry.distro"], capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr  # the distro really was there
    assert '"name": "job"' in result.stdout  # the distro's console exporter printed it
    assert "wandb.run" not in result.stdout
    assert_two_exact_rows(processor, result.stdout)
    assert user_spans_seen_by(processor) == 0
