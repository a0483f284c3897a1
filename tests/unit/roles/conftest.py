"""Running a role's tasks for real: ansible-playbook on local hosts, its JSON report read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[3]


Outcome = tuple[dict[str, dict[str, Any]], str]


def run_play(work: Path, inventory: dict[str, Any], play: str) -> Outcome:
    """Run ``play`` against ``inventory`` in ``work``: (host -> {"failed": the first task that
    failed there or None, "msg": its message} for every host that ran a task, all it printed).

    Ansible comes from next to this interpreter (the venv), its roles from the project; the
    json callback makes the result data, so nothing is read from Ansible's wording.
    """
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (work / "play.yml").write_text(play)
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_ROLES_PATH":
           str(PROJECT / "roles"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["ansible-playbook", "-i", str(work / "inventory.yml"),
                           str(work / "play.yml")], capture_output=True, text=True, env=env,
                          cwd=work, timeout=300, check=False)
    start = done.stdout.find("{")
    assert start >= 0, "ansible-playbook printed no report; stderr: " + done.stderr[-2000:]
    report = json.loads(done.stdout[start:])
    hosts: dict[str, dict[str, Any]] = {}
    for play_report in report["plays"]:
        for task in play_report["tasks"]:
            for host, result in task["hosts"].items():
                hosts.setdefault(host, {"failed": None, "msg": ""})
                if result.get("failed") and hosts[host]["failed"] is None:
                    hosts[host] = {"failed": task["task"]["name"], "msg": str(result.get("msg"))}
    return hosts, done.stdout + done.stderr


@pytest.fixture(scope="session")
def playbook() -> Callable[[Path, dict[str, Any], str], Outcome]:
    """``run_play``, for the module-scoped fixtures that run each role's cases once."""
    return run_play
