"""xedge report's HTML in a real browser: headless Chromium, offline, renders the figures.

Chromium is Debian's ``chromium`` package (scripts/setup-host installs it). Without it the
test skips locally and fails under CI=true, like the tests that need a Docker engine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.ci import missing
from xedgesim.cli import main

SCENARIO = """\
name: browser
seed: 2
duration: 6s
network:
  default: {latency: 5ms, jitter: {exponential: 2ms}, loss: 0.02}
  links:
    - {between: [gw1, cloud], latency: 20ms, bandwidth: 20kbit}
nodes:
  - {id: sensors, type: sensor, count: 20, interval: 100ms, to: gw1}
  - {id: gw1, type: gateway, aggregate_every: 20ms, to: cloud, payload: 200B}
  - {id: cloud, type: cloud}
faults:
  - {at: 2s, node: gw1, action: crash, for: 1s}
"""
# Offline and quiet: no first-run setup, no update or sync traffic, a fresh profile.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=10000")


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium is not installed: run scripts/setup-host (apt-get install chromium)"
        missing(message)
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("report")
    scenario = directory / "s.yaml"
    scenario.write_text(SCENARIO)
    run = directory / "run"
    for args in (["simulate", str(scenario), "--out", str(run), "-q"], ["report", str(run)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    return run / "report.html"


def browse(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    done = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_every_embedded_figure_decodes(chromium: str, report: Path, tmp_path: Path) -> None:
    """The report's own script counts the images that decoded (complete, naturalWidth > 0)."""
    dom = browse(chromium, tmp_path, "--dump-dom", report.as_uri()).stdout
    body = re.search(r'<body data-images="(\d+)/(\d+)"', dom)
    assert body is not None, dom[:2000]
    assert body.group(1) == body.group(2) == "3"


def test_the_screenshot_shows_the_figures(chromium: str, report: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    browse(chromium, tmp_path, "--window-size=1000,2400", f"--screenshot={shot}",
           report.as_uri())
    image = imread(shot)[..., :3]
    assert image.shape[:2] == (2400, 1000)
    ink = (image < 0.9).any(axis=2).mean()
    assert ink > 0.03, f"only {ink:.1%} of the page is not white: blank"
    # The figures' blue lines (#1f77b4) are on the page: text alone is grey and black.
    blue = (image[..., 2] > 0.55) & (image[..., 0] < 0.3) & (image[..., 2] - image[..., 0] > 0.3)
    assert blue.sum() > 500, f"{int(blue.sum())} blue pixels: the figures did not render"
