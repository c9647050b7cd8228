"""``genops report --format html``: a self-contained page whose charts a real browser draws.

The page comes from a real processor (the ledger of ``test_report_cli``: four teams, one
of them named ``<script>alert(1)</script>``, and two budgets), is rendered by headless
Chromium (the Debian package ``chromium``; ``make test`` installs it, and a missing
browser fails this test rather than skipping it), and is checked three ways: the
screenshot is not blank and holds the charts' colours (decoded here with zlib: no
imaging library), the rendered DOM holds every chart's SVG shapes, and Chromium logged no
console message (a canary page with a script error proves the check sees one).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.e2e.test_report_cli import HOSTILE_TEAM, RUNS, genops, ledger  # noqa: F401
from tests.helpers import BIN, token_of

BLUE, ORANGE = (0x4E, 0x79, 0xA7), (0xF2, 0x8E, 0x2B)  # report_svg.PALETTE[0], [1]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("headless Chromium is missing: `make test-deps` (Debian package chromium)")
    return found


def browse(page: Path, *args: str) -> subprocess.CompletedProcess:
    """Chromium, headless, on ``page``; console messages go to stderr."""
    return subprocess.run(
        [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--enable-logging=stderr", "--v=0",
            f"--user-data-dir={page.parent / 'chromium-profile'}", *args, page.as_uri(),
        ],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def pixels(png: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, data, header = 8, b"", None
    while at < len(png):
        (length,), kind = struct.unpack(">I", png[at : at + 4]), png[at + 4 : at + 8]
        body = png[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            data += body
        at += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    size = 3 if colour == 2 else 4
    raw, stride, out, previous = zlib.decompress(data), width * size, [], bytearray(width * size)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up, corner = previous[i], previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + guess) & 0xFF
        out += [tuple(line[i : i + 3]) for i in range(0, stride, size)]
        previous = line
    return out


@pytest.fixture(scope="module")
def page(ledger, tmp_path_factory) -> Path:  # noqa: F811 (the imported module fixture)
    out = tmp_path_factory.mktemp("html") / "report.html"
    result = genops("report", "--endpoint", ledger.endpoint, "--format", "html", "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_the_page_is_self_contained_and_shows_names_literally(page):
    html = page.read_text()
    assert not re.search(r"https?:|src=|href=|url\(|@import|<script|<link", html, re.I)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and HOSTILE_TEAM not in html
    for chart in ("cost over time by team", "burn-down of budget nlp-monthly",
                  "burn-down of budget all-weekly", "costliest runs"):  # fmt: skip
        assert f'aria-label="{chart}"' in html


def test_chromium_draws_the_charts_without_console_errors(page):
    shot = page.parent / "report.png"
    result = browse(page, "--window-size=1000,1600", f"--screenshot={shot}")
    assert result.returncode == 0 and shot.stat().st_size > 0, result.stderr
    assert console_messages(result.stderr) == []
    image = pixels(shot.read_bytes())
    assert len(image) == 1000 * 1600
    ink = sum(1 for p in image if p != (255, 255, 255))
    assert ink > 0.03 * len(image), f"nearly blank screenshot: {ink} non-white pixels"
    assert image.count(BLUE) > 5_000, "no vision bars or run bars drawn"
    assert image.count(ORANGE) > 1_000, "no nlp bars drawn"
    dom = browse(page, "--dump-dom")
    assert dom.returncode == 0 and console_messages(dom.stderr) == []
    assert dom.stdout.count('<svg class="chart"') == 4
    assert dom.stdout.count('<polygon class="band"') == 2  # one interval per budget
    assert dom.stdout.count('<polyline class="forecast"') == 2
    assert dom.stdout.count('<rect class="bar"') == 2 * len(RUNS)  # a day each; one bar each


def test_the_console_check_sees_a_script_error(tmp_path):
    canary = tmp_path / "canary.html"
    canary.write_text("<!DOCTYPE html><p>x</p><script>console.error('canary'); nope();</script>")
    seen = console_messages(browse(canary, "--dump-dom").stderr)
    assert any("canary" in line for line in seen) and any("nope" in line for line in seen)


def test_a_page_of_no_runs_says_so(ledger, tmp_path):  # noqa: F811
    out = tmp_path / "empty.html"
    result = genops(
        "report", "--endpoint", ledger.endpoint, "--format", "html", "-o", str(out),
        "--team", "nlp", "--since", "2026-01-01", "--until", "2026-01-02",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "No runs of team nlp, since 2026-01-01 00:00 UTC" in out.read_text()


def test_a_client_sees_the_budgets_it_may_forecast(ledger, tmp_path):  # noqa: F811
    """The trainer acts for several teams: the all-teams budget's forecast is refused to
    it (GetForecast needs a team), so that budget is named, not drawn."""
    out = tmp_path / "client.html"
    result = subprocess.run(
        [str(BIN / "genops"), "report", "--endpoint", ledger.endpoint, "--format", "html",
         "-o", str(out), "--team", "nlp"],
        capture_output=True, text=True, timeout=180,
        env=dict(os.environ, GENOPS_TOKEN=token_of("trainer")),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert 'aria-label="burn-down of budget nlp-monthly"' in html
    assert "no forecast for you of budget(s) all-weekly (not drawn)" in html
    assert "vision" not in html  # only the team asked for
