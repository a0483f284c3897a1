"""xedgesim/deploy/runner.py against a fake ansible_runner: what it is asked to do, what the
result says, what stays on disk, and how Ctrl-C ends a run."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from xedgesim.deploy.errors import DeployError, Interrupted
from xedgesim.deploy.events import TaskDone
from xedgesim.deploy.runner import PlaybookRun, run_playbook

SECRET = "s3cr3t-value-never-logged"


class FakeApi:
    """Stands in for the ``ansible_runner`` module: replays events through the handler."""

    def __init__(self, events: list[dict[str, Any]], status: str = "successful", rc: int = 0,
                 interrupt: bool = False, stdout: str = "") -> None:
        self.events = events
        self.status = status
        self.rc = rc
        self.interrupt = interrupt
        self.stdout = stdout
        self.calls: list[dict[str, Any]] = []

    def run(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        artifact_dir = Path(kwargs["private_data_dir"]) / "artifacts" / kwargs["ident"]
        artifact_dir.mkdir(parents=True)
        env = {**kwargs["envvars"], "AWS_SECRET_ACCESS_KEY": SECRET, "PATH": "/usr/bin",
               "ANSIBLE_STDOUT_CALLBACK": "awx_display"}
        (artifact_dir / "command").write_text(json.dumps({"command": ["ansible-playbook"],
                                                          "env": env}))
        (artifact_dir / "stdout").write_text(self.stdout)
        status = self.status
        for event in self.events:
            kwargs["event_handler"](event)
            if self.interrupt:
                os.kill(os.getpid(), signal.SIGINT)
                if kwargs["cancel_callback"]():
                    status = "canceled"
                    break
        stats = next((e["event_data"] for e in self.events
                      if e["event"] == "playbook_on_stats"), None)
        return SimpleNamespace(status=status, rc=self.rc if status != "canceled" else 254,
                               stats=stats, config=SimpleNamespace(artifact_dir=artifact_dir))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "playbooks").mkdir(parents=True)
    (root / "playbooks" / "site.yml").write_text("---\n")
    (root / "ansible.cfg").write_text("[defaults]\n")
    return root


def secrets_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "secrets.yml"
    path.write_text(f"xedgesim_mqtt_users: [{{name: probe, password: {SECRET}}}]\n")
    path.chmod(mode)
    return path


def a_run(tmp_path: Path, project: Path, **overrides: Any) -> PlaybookRun:
    fields: dict[str, Any] = {
        "playbook": project / "playbooks" / "site.yml",
        "inventories": (tmp_path / "overlay.yml", tmp_path / "hosts.yml"),
        "run_dir": tmp_path / "run", "name": "deploy",
        "extravars": {"xedgesim_release": {"id": "r1"}, "xedgesim_serial": [1, "50%"]},
        "project_dir": project,
    }
    return PlaybookRun(**{**fields, **overrides})


def test_a_run_gets_its_own_absolute_private_dir_and_no_secret_in_env(
        tmp_path: Path, project: Path, failed_canary_events) -> None:
    api = FakeApi(failed_canary_events, status="failed", rc=2)
    secret = secrets_file(tmp_path)
    run = a_run(tmp_path, project, secret_vars=(secret,))
    first = run_playbook(run, runner_api=api)
    second = run_playbook(run, runner_api=api)
    dirs = [Path(call["private_data_dir"]) for call in api.calls]
    assert all(d.is_absolute() for d in dirs)
    assert [d.name for d in dirs] == ["01-deploy", "02-deploy"]
    assert all(d.parent == (tmp_path / "run" / "ansible").resolve() for d in dirs)
    assert oct(dirs[0].stat().st_mode & 0o777) == "0o700"
    call = api.calls[0]
    assert call["suppress_env_files"] is True and call["quiet"] is True
    assert call["cmdline"] == f"-e @{secret.resolve()}"
    assert call["extravars"] == run.extravars
    assert call["inventory"] == [str(p.resolve()) for p in run.inventories]
    assert SECRET not in json.dumps(call["envvars"])
    assert call["envvars"]["ANSIBLE_CONFIG"] == str(project / "ansible.cfg")
    assert call["envvars"]["ANSIBLE_HOST_KEY_CHECKING"] in ("True", os.environ.get(
        "ANSIBLE_HOST_KEY_CHECKING"))
    assert first.artifact_dir != second.artifact_dir
    assert not (dirs[0] / "env").exists()


def test_result_reads_per_host_stats_and_failures(tmp_path: Path, project: Path,
                                                  failed_canary_events) -> None:
    records: list[Any] = []
    result = run_playbook(a_run(tmp_path, project),
                          progress=records.append,
                          runner_api=FakeApi(failed_canary_events, status="failed", rc=2))
    assert not result.passed
    assert result.failed_hosts == ["edge-1"]
    assert result.hosts["edge-1"].rescued == 1
    assert result.copied_bytes == 176_000_000
    assert any(isinstance(r, TaskDone) for r in records)
    problem = result.problem()
    assert "deploy: site.yml failed (rc 2)" in problem
    assert "edge-1 · Stop the deployment · edge-1 failed at the gate" in problem
    assert "edge-1  ok=65 changed=11 failed=1 unreachable=0 rescued=1" in result.recap()


def test_command_artifact_keeps_only_what_the_run_set(tmp_path: Path, project: Path,
                                                      failed_canary_events) -> None:
    result = run_playbook(a_run(tmp_path, project), runner_api=FakeApi(failed_canary_events))
    saved = json.loads((result.artifact_dir / "command").read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in saved["env"]
    assert saved["env_redacted"] == ["AWS_SECRET_ACCESS_KEY"]
    assert saved["env"]["ANSIBLE_STDOUT_CALLBACK"] == "awx_display"
    assert oct((result.artifact_dir / "command").stat().st_mode & 0o777) == "0o600"
    assert SECRET not in (result.artifact_dir / "command").read_text()


def test_a_secrets_file_others_can_read_is_refused(tmp_path: Path, project: Path) -> None:
    loose = secrets_file(tmp_path, 0o644)
    with pytest.raises(DeployError, match=r"readable by others.*chmod 600"):
        run_playbook(a_run(tmp_path, project, secret_vars=(loose,)), runner_api=FakeApi([]))


def test_ctrl_c_cancels_the_run_and_raises_interrupted(tmp_path: Path, project: Path,
                                                      failed_canary_events) -> None:
    before = signal.getsignal(signal.SIGINT)
    api = FakeApi(failed_canary_events, interrupt=True)
    with pytest.raises(Interrupted, match="cancelled"):
        run_playbook(a_run(tmp_path, project), runner_api=api)
    assert signal.getsignal(signal.SIGINT) is before
    assert api.calls[0]["cancel_callback"]() is True


def test_a_run_without_recap_keeps_ansibles_last_words(tmp_path: Path, project: Path) -> None:
    said = "ERROR! the role 'nope' was not found in roles"
    result = run_playbook(a_run(tmp_path, project),
                          runner_api=FakeApi([], status="failed", rc=1, stdout=said + "\n"))
    assert not result.passed and result.hosts == {}
    assert said in result.problem()
    assert "no recap" in result.recap()


def test_check_mode_is_on_the_command_line(tmp_path: Path, project: Path) -> None:
    api = FakeApi([])
    run_playbook(a_run(tmp_path, project, check=True), runner_api=api)
    assert api.calls[0]["cmdline"] == "--check"
