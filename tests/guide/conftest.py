"""Prints the seed guide's block count at the end of a run that collected its tests."""

from __future__ import annotations

_RUN_TEST = "test_guide_block_runs"
_LISTING_TEST = "test_signature_listing_matches_the_real_objects"


def pytest_terminal_summary(terminalreporter):
    from tests.guide.test_seed_guide import BLOCKS, LISTINGS, RUN

    outcomes: dict[str, list[str]] = {}
    for status in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(status, []):
            if report.when == "call" or status != "passed":
                outcomes.setdefault(status, []).append(report.nodeid)
    ran = {
        status: [n for n in ids if _RUN_TEST in n or _LISTING_TEST in n]
        for status, ids in outcomes.items()
    }
    if not any(ran.values()):
        return
    terminalreporter.write_line(
        f"guide blocks: {len(RUN)} run, {len(LISTINGS)} signature listings, {len(BLOCKS)} total"
    )
    failed = ran.get("failed", []) + ran.get("error", [])
    passed = [n for n in ran.get("passed", []) if _RUN_TEST in n]
    terminalreporter.write_line(
        f"guide blocks run here: {len(passed)} passed, "
        f"{len([n for n in failed if _RUN_TEST in n])} failed"
        + "".join(f"\n  failed: {n}" for n in failed)
    )
