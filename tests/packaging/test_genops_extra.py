"""Installation by the guide's name: ``pip install "genops[wandb]"`` from wheels built here.

The three wheels (the ``genops`` meta-package of packaging/genops, the instrumentation and
the processor) are built offline with ``uv build``, then installed into a new virtual
environment with ``pip install --no-index --find-links DIST "genops[wandb]"``: nothing of
ours can come from anywhere but the wheels (the PyPI name ``genops`` is another project's).

The third-party dependencies (grpcio, duckdb, wandb, ...) cannot be downloaded here, so
the new environment sees those already installed in the project's .venv through a
``.pth`` file naming a directory of links to them, with our own two distributions and
their editable hooks left out: pip counts the dependencies as satisfied and installs our
packages from the wheels only (the test checks the imported files come from the new
environment)."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+


ROOT = Path(__file__).resolve().parents[2]
OURS = ("genops_processor-", "opentelemetry_instrumentation_wandb-", "genops-")
PACKAGES = {
    "opentelemetry-instrumentation-wandb": ROOT / "instrumentation",
    "genops-processor": ROOT / "processor",
    "genops": ROOT / "packaging" / "genops",
}


def _uv() -> list[str]:
    if found := shutil.which("uv"):
        return [found]
    try:
        import uv  # noqa: F401

        return [sys.executable, "-m", "uv"]
    except ImportError:
        pytest.skip("uv is not installed here (make setup installs it): cannot build wheels")


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    for source in PACKAGES.values():
        result = subprocess.run(
            [*_uv(), "build", "--wheel", "--offline", "--out-dir", str(out), str(source)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr
    return out


def _wheel(dist: Path, prefix: str) -> Path:
    [wheel] = dist.glob(f"{prefix}-*.whl")
    return wheel


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(archive.read(name))


def _version(source: Path) -> str:
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    if "version" in project:
        return project["version"]
    text = (source / "src/opentelemetry/instrumentation/wandb/version.py").read_text()
    return text.split('"')[1]


def test_the_genops_wheel_is_metadata_whose_wandb_extra_pins_our_packages(dist):
    wheel = _wheel(dist, "genops")
    metadata = _metadata(wheel)
    assert metadata["Name"] == "genops"
    assert metadata.get_all("Provides-Extra") == ["wandb"]
    requires = sorted(metadata.get_all("Requires-Dist"))
    assert requires == sorted(
        [
            f"genops-processor=={_version(PACKAGES['genops-processor'])}; extra == 'wandb'",
            "opentelemetry-instrumentation-wandb[instruments]=="
            f"{_version(PACKAGES['opentelemetry-instrumentation-wandb'])}; extra == 'wandb'",
        ]
    )
    # no module of its own: it cannot shadow the instrumentation's `genops` package
    with zipfile.ZipFile(wheel) as archive:
        assert all(".dist-info/" in name for name in archive.namelist()), archive.namelist()


def _dependencies_dir(tmp_path: Path) -> Path:
    """Links to everything installed in the project's .venv but our own distributions."""
    site = Path(sysconfig.get_paths()["purelib"])
    links = tmp_path / "third-party"
    links.mkdir()
    for entry in site.iterdir():
        name = entry.name
        if name.endswith(".pth") or name.startswith(OURS) or name.startswith("__editable__"):
            continue
        if name.startswith(("_editable_impl", "__pycache__")):
            continue
        (links / name).symlink_to(entry)
    return links


def _pip(venv_python: Path) -> list[str]:
    """pip for the new environment: the base interpreter's (``--python``), else its own."""
    base = Path(getattr(sys, "_base_executable", sys.executable))
    probe = subprocess.run([str(base), "-m", "pip", "--version"], capture_output=True, text=True)
    if probe.returncode == 0 and tuple(map(int, probe.stdout.split()[1].split(".")[:2])) >= (22, 3):
        return [str(base), "-m", "pip", "--python", str(venv_python)]
    ensure = subprocess.run([str(venv_python), "-m", "ensurepip"], capture_output=True, text=True)
    if ensure.returncode != 0:
        pytest.skip(f"no pip for a new environment here (ensurepip: {ensure.stderr.strip()})")
    return [str(venv_python), "-m", "pip"]


def test_pip_install_genops_wandb_from_the_wheels_alone(dist, tmp_path):
    base = Path(getattr(sys, "_base_executable", sys.executable))
    venv = tmp_path / "venv"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "zz_third_party.pth").write_text(f"{_dependencies_dir(tmp_path)}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    install = subprocess.run(
        [*_pip(python), "install", "--no-index", "--find-links", str(dist), "genops[wandb]"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    check = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as md, json\n"
            "import genops.providers.wandb, genops_processor\n"
            "import opentelemetry.instrumentation.wandb as instrumentation\n"
            "from genops.providers.wandb_governance import create_data_lineage\n"
            "eps = md.entry_points(group='opentelemetry_instrumentor')\n"
            "print(json.dumps({'files': [genops.providers.wandb.__file__, "
            "genops_processor.__file__, instrumentation.__file__], "
            "'genops': md.version('genops'), 'wandb_entry_point': 'wandb' in eps.names, "
            "'lineage': create_data_lineage(['a.csv'])['data_sources']}))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert check.returncode == 0, check.stderr
    import json

    facts = json.loads(check.stdout.strip().splitlines()[-1])
    assert all(f.startswith(str(venv)) for f in facts["files"]), facts["files"]
    assert facts["genops"] == _version(PACKAGES["genops"])
    assert facts["wandb_entry_point"] and facts["lineage"] == ["a.csv"]
    for command in ("genops", "genops-processor"):
        shown = subprocess.run(
            [str(venv / "bin" / command), "--help"], capture_output=True, text=True, timeout=120
        )
        assert shown.returncode == 0 and "Usage:" in shown.stdout, shown.stderr
