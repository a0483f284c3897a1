"""Ctrl-C to a real ``xedge sweep``: every worker (local processes, a Dask LocalCluster)
stops within 2 s, only complete results stay, and the same command resumes from them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ci import require_dask
from tests.processes import default_sigint, session

MID = """\
name: mid
seed: 1
duration: 1min
network:
  default: {latency: 5ms, jitter: {exponential: 1ms}, loss: 0.05}
nodes:
  - {id: sensors, type: sensor, count: 50, interval: 100ms, to: gw}
  - {id: gw, type: gateway, aggregate_every: 1s, to: cloud}
  - {id: cloud, type: cloud}
"""
SWEEP = ["sweep", "mid.yaml", "--set", "network.default.loss=0,0.1", "--seeds", "1..6",
         "--out", "out"]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the workers")
@pytest.mark.parametrize("executor", [["--jobs", "2"], ["--cluster", "local:2"]],
                         ids=["processes", "local-dask"])
def test_ctrl_c_stops_every_worker_and_keeps_complete_results(tmp_path: Path,
                                                              executor: list[str]) -> None:
    if "--cluster" in executor:
        require_dask()
    (tmp_path / "mid.yaml").write_text(MID)
    command = [sys.executable, "-m", "xedgesim", *SWEEP]
    child = subprocess.Popen([*command, *executor], cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             preexec_fn=default_sigint)
    store = tmp_path / ".out.xedge-partial"
    deadline = time.monotonic() + 300
    try:
        while not list(store.glob("p*-seed-*.json")):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no run finished in 300 s"
            time.sleep(0.05)
        assert len(session(child.pid)) >= 3  # the sweep and its two workers at least
        started = time.monotonic()
        os.killpg(child.pid, signal.SIGINT)  # what the terminal's Ctrl-C does
        _, stderr = child.communicate(timeout=60)
        seconds = time.monotonic() - started
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 130, stderr
    assert seconds < 2, f"stopped after {seconds:.1f}s"
    time.sleep(0.2)
    assert session(child.pid) == []
    kept = sorted(p.name for p in store.iterdir())
    assert "plan.json" in kept and len(kept) < 13
    results = {name: (store / name).read_bytes() for name in kept if name != "plan.json"}
    for text in results.values():
        assert json.loads(text)["messages"]["sent"] > 0  # each one whole
    assert stderr.splitlines()[-1] == (f"interrupted (SIGINT): {len(results)} of 12 runs are "
                                       "kept in .out.xedge-partial/; the same command resumes "
                                       "the sweep")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.xedge-partial", "mid.yaml"]

    done = subprocess.run([*command, "--jobs", "2"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"({12 - len(results)} run now)" in done.stdout
    assert not store.exists()
    for name, text in results.items():
        point, _, seed = name.removesuffix(".json").partition("-seed-")
        assert (tmp_path / "out" / "summaries" / point / f"seed-{seed}.json").read_bytes() == text
