"""Benchmark of staging and re-deploying, measured from outside the process.

    python bench/stage.py [--hosts 3] [--arch amd64]

1. ``xedge stage --hosts N --keep``: wall time from nothing to verified (images already
   built: run ``xedge images build`` first), and each step's time from the run's state file;
2. the second converge (the idempotence step's playbook run, nothing to do);
3. ``xedge deploy`` of the same release to the kept fleet: bytes of image archives the
   playbook copied (from the copy results) and bytes the simulated Pis received on their
   network interface during the deploy (SSH and module traffic included);
4. the fleet is destroyed (``xedge stage --out … --step destroy``).

Aims: stage under 3 minutes for 3 hosts, second converge under 30 s, zero archive bytes on a
re-deploy. Manifests go to a temporary store, not ``runs/releases``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LAUNCH = ("import sys; from xedgesim.deploy import commands; "
          "getattr(commands, sys.argv[1])(sys.argv[2:], prog_name='xedge ' + sys.argv[1])")


def xedge(command: str, *args: str, env: dict[str, str]) -> tuple[float, int, str]:
    """Run ``xedge <command>`` in a new process; (wall seconds, exit code, output)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", LAUNCH, command, *args], env=env,
                          capture_output=True, text=True, check=False)
    return time.monotonic() - started, done.returncode, done.stdout + done.stderr


def received_bytes(client: Any, names: list[str]) -> int:
    """Bytes the fleet's containers have received on their network interfaces so far."""
    total = 0
    for name in names:
        stats = client.containers.get(name).stats(stream=False)
        total += sum(net.get("rx_bytes", 0) for net in (stats.get("networks") or {}).values())
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--arch", default="amd64", choices=("amd64", "arm64"))
    options = parser.parse_args()

    import docker

    client = docker.from_env()
    work = Path(tempfile.mkdtemp(prefix="xedgesim-bench-stage-"))
    env = {**os.environ, "XEDGESIM_RELEASES": str(work / "releases")}
    run_dir = work / "stage"
    wall, code, output = xedge("stage", "--hosts", str(options.hosts), "--arch", options.arch,
                               "--keep", "--out", str(run_dir), "--no-progress", env=env)
    if code != 0:
        print(output)
        print(f"stage failed (exit {code}); run directory {run_dir}")
        xedge("stage", "--out", str(run_dir), "--step", "destroy", env=env)
        return 1
    state = json.loads((run_dir / "state.json").read_text())
    steps = {name: record["seconds"] for name, record in state["steps"].items()}
    second = state["results"]["idempotence"]["seconds"]
    release = json.loads((run_dir / "manifest.json").read_text())["release"]
    try:
        before = received_bytes(client, state["containers"])
        deploy_wall, code, output = xedge(
            "deploy", "--inventory", str(run_dir / "inventory" / "hosts.yml"),
            "--release", release, "--no-verify", "--out", str(work / "deploy"),
            "--no-progress", env=env)
        after = received_bytes(client, state["containers"])
        if code != 0:
            print(output)
            print(f"deploy failed (exit {code})")
            return 1
        record = json.loads((work / "deploy" / "deploy.json").read_text())
    finally:
        xedge("stage", "--out", str(run_dir), "--step", "destroy", env=env)

    rows = [
        (f"xedge stage --hosts {options.hosts} ({options.arch}), nothing -> verified",
         f"{wall - steps.get('destroy', 0.0):.1f} s", "< 180 s"),
        ("  create / converge / idempotence / verify",
         " / ".join(f"{steps[s]:.1f}" for s in ("create", "converge", "idempotence", "verify"))
         + " s", ""),
        ("second converge (nothing to do)", f"{second:.1f} s", "< 30 s"),
        ("re-deploy, same release: image archive bytes copied",
         f"{record['playbook']['copied_bytes']:,} B", "0 B"),
        ("re-deploy: bytes the hosts received (SSH, modules)", f"{after - before:,} B", ""),
        ("re-deploy wall time (serial 1,50%)", f"{deploy_wall:.1f} s", ""),
    ]
    width = max(len(row[0]) for row in rows)
    for label, value, aim in rows:
        print(f"{label:<{width}}  {value:>16}  {aim}")
    print(f"runs in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
