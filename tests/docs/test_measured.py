"""The README's fleet-scale figures are the ones in ``bench/results/*.json``.

The table is generated (``bench/_readme.py``, run by ``make bench`` and
``make bench-quick``); a hand edit, or results committed without the README, fails here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_module():
    spec = importlib.util.spec_from_file_location("bench_readme", ROOT / "bench" / "_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_quotes_the_fleet_scale_results_as_they_are() -> None:
    readme = _readme_module()
    block = readme.current((ROOT / "README.md").read_text())
    assert block is not None, "README.md has no fleet-scale table: run `python bench/_readme.py`"
    assert block == readme.render(), (
        "README.md's fleet-scale table differs from bench/results: run `python bench/_readme.py`"
    )


def test_every_fleet_scale_result_names_its_mode() -> None:
    for name in _readme_module().FLEET_BENCHES:
        path = ROOT / "bench" / "results" / f"{name}.json"
        if path.exists():
            assert json.loads(path.read_text())["mode"] in ("quick", "full"), path


def test_the_log_row_shows_how_far_single_processes_land() -> None:
    """A ratio of medians below 1 reads as "instrumented is faster" unless the row also
    shows the spread between single processes, which is wider than the difference."""
    readme = _readme_module()
    sides = {
        "bare": {"us_per_call": 120.0, "samples_us_per_call": [100.06, 147.44, 121.0]},
        "instrumented": {"us_per_call": 110.0, "samples_us_per_call": [100.62, 136.98]},
    }
    assert readme._spread(sides["bare"], sides["instrumented"]) == (
        " (single processes: 101–137 µs instrumented, 100–147 µs bare)"
    )
    assert readme._spread({"us_per_call": 1.0}, sides["instrumented"]) == ""  # older results
    one = {"us_per_call": 110.0, "samples_us_per_call": [110.0]}
    assert readme._spread(sides["bare"], one) == ""  # either side with a single sample
