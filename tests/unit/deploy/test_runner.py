"""xedgesim/deploy/runner.py against a fake ansible_runner: what it is asked to do, what the
result says, what stays on disk, and how Ctrl-C ends a run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.processes import default_sigint, descendants
from xedgesim.deploy.errors import DeployError, Interrupted
from xedgesim.deploy.events import TaskDone
from xedgesim.deploy.runner import PlaybookRun, run_playbook

SECRET = "s3cr3t-value-never-logged"


class FakeApi:
    """Stands in for ``ansible_runner.interface``: ``init_runner`` prepares a runner whose
    environment is the caller's plus what runner adds, as the real one does; ``run`` writes
    the ``command`` artifact from that environment and replays events through the handler."""

    def __init__(self, events: list[dict[str, Any]], status: str = "successful", rc: int = 0,
                 interrupt: bool = False, stdout: str = "") -> None:
        self.events = events
        self.status = status
        self.rc = rc
        self.interrupt = interrupt
        self.stdout = stdout
        self.calls: list[dict[str, Any]] = []

    def init_runner(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        artifact_dir = Path(kwargs["private_data_dir"]) / "artifacts" / kwargs["ident"]
        env = {**os.environ, **kwargs["envvars"], "ANSIBLE_STDOUT_CALLBACK": "awx_display",
               "AWX_ISOLATED_DATA_DIR": str(artifact_dir)}
        fake = SimpleNamespace(config=SimpleNamespace(artifact_dir=artifact_dir, env=env),
                               status=None, rc=None, stats=None)
        fake.run = lambda: self._run(fake, kwargs)
        return fake

    def _run(self, fake: Any, kwargs: dict[str, Any]) -> None:
        artifact_dir = fake.config.artifact_dir
        artifact_dir.mkdir(parents=True)
        (artifact_dir / "command").write_text(json.dumps({"command": ["ansible-playbook"],
                                                          "env": fake.config.env}))
        (artifact_dir / "stdout").write_text(self.stdout)
        status = self.status
        for event in self.events:
            kwargs["event_handler"](event)
            if self.interrupt:
                os.kill(os.getpid(), signal.SIGINT)
                if kwargs["cancel_callback"]():
                    status = "canceled"
                    break
        fake.stats = next((e["event_data"] for e in self.events
                           if e["event"] == "playbook_on_stats"), None)
        fake.status, fake.rc = status, self.rc if status != "canceled" else 254


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


# variables of the caller's environment that hold (or name) secrets, and harmless ones
SECRET_ENV = {"ANSIBLE_BECOME_PASS": SECRET + "-become", "ANSIBLE_PRIVATE_KEY": SECRET + "-key",
              "AWS_SECRET_ACCESS_KEY": SECRET + "-aws", "GITHUB_TOKEN": SECRET + "-gh",
              "ANSIBLE_VAULT_PASSWORD": SECRET + "-vault", "MQTT_PASSWORD": SECRET + "-mqtt"}


def test_command_artifact_holds_only_the_allowlist(tmp_path: Path, project: Path,
                                                    failed_canary_events,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SECRET_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ANSIBLE_REMOTE_USER", "pi")
    monkeypatch.setenv("SOME_UNRELATED_SETTING", "x")
    result = run_playbook(a_run(tmp_path, project), runner_api=FakeApi(failed_canary_events))
    text = (result.artifact_dir / "command").read_text()
    saved = json.loads(text)["env"]
    leaked = [key for key, value in SECRET_ENV.items() if value in text or key in saved]
    assert not leaked, f"the command artifact holds {leaked}"
    assert saved["ANSIBLE_STDOUT_CALLBACK"] == "awx_display"  # runner's own settings pass
    assert saved["ANSIBLE_REMOTE_USER"] == "pi"  # so do the caller's Ansible settings
    assert "SOME_UNRELATED_SETTING" not in saved
    assert set(SECRET_ENV) <= set(result.withheld_env)
    assert set(SECRET_ENV) <= set(result.as_dict()["withheld_env"])


def test_secret_files_named_by_the_environment_become_options(
        tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", "/home/op/.vault-pass")
    monkeypatch.setenv("ANSIBLE_PRIVATE_KEY_FILE", "/home/op/.ssh/id_pi")
    api = FakeApi([])
    result = run_playbook(a_run(tmp_path, project), runner_api=api)
    assert api.calls[0]["cmdline"] == ("--vault-password-file /home/op/.vault-pass "
                                       "--private-key /home/op/.ssh/id_pi")
    saved = json.loads((result.artifact_dir / "command").read_text())["env"]
    assert "ANSIBLE_VAULT_PASSWORD_FILE" not in saved
    assert "ANSIBLE_PRIVATE_KEY_FILE" not in saved


def test_ansible_is_found_next_to_the_interpreter(tmp_path: Path, project: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    api = FakeApi([])
    result = run_playbook(a_run(tmp_path, project), runner_api=api)
    saved = json.loads((result.artifact_dir / "command").read_text())["env"]
    assert saved["PATH"].split(os.pathsep) == [str(Path(sys.executable).parent), "/usr/bin",
                                               "/bin"]


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


# A real ansible-playbook run through ansible-runner, against this machine only.
LOCAL_PLAY = """\
- name: A local play that waits
  hosts: all
  gather_facts: false
  tasks:
    - name: Wait
      ansible.builtin.command: sleep {seconds}
      changed_when: false
"""
RUN_SCRIPT = """\
import sys
from pathlib import Path
from xedgesim.deploy.runner import PlaybookRun, run_playbook
root = Path(sys.argv[1])
result = run_playbook(PlaybookRun(playbook=root / "play.yml", inventories=(root / "hosts",),
                                  run_dir=root / "run", name="local", project_dir=root))
print(result.status, result.rc, flush=True)
"""


def local_project(tmp_path: Path, seconds: int) -> Path:
    (tmp_path / "play.yml").write_text(LOCAL_PLAY.format(seconds=seconds))
    (tmp_path / "hosts").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    return tmp_path


def start_local_run(root: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN_SCRIPT, str(root)], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=default_sigint)


def bare_environment(**extra: str) -> dict[str, str]:
    """The environment of a shell where the venv is not activated: its bin is not on PATH."""
    keep = {key: os.environ[key] for key in ("HOME", "LANG") if key in os.environ}
    return {**keep, "PATH": "/usr/bin:/bin", **extra}


@pytest.mark.slow
def test_ansible_playbook_runs_without_the_venv_on_path(tmp_path: Path) -> None:
    root = local_project(tmp_path, seconds=0)
    done = subprocess.run([sys.executable, "-c", RUN_SCRIPT, str(root)], env=bare_environment(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == ["successful", "0"]


@pytest.mark.slow
def test_a_run_killed_midway_leaves_no_secret_on_disk(tmp_path: Path) -> None:
    root = local_project(tmp_path, seconds=60)
    process = start_local_run(root, bare_environment(**SECRET_ENV))
    events = root / "run" / "ansible" / "01-local" / "artifacts" / "local" / "job_events"
    try:
        deadline = time.monotonic() + 90
        while not any("runner_on_start" in path.name or '"runner_on_start"' in path.read_text()
                      for path in events.glob("*.json")):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the sleep task never started"
            time.sleep(0.2)
    finally:
        # ansible-playbook runs in a session of its own (runner's pty): a SIGKILL of xedge
        # cannot reach it, so the test ends it too, and leaves no orphan
        family = descendants(process.pid)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for pid in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    files = [path for path in (root / "run").rglob("*") if path.is_file()]
    assert any(path.name == "command" for path in files)
    leaked = sorted({f"{key} in {path.relative_to(root)}" for path in files
                     for key, value in SECRET_ENV.items() if value.encode() in path.read_bytes()})
    assert not leaked, f"secrets on disk after SIGKILL: {leaked}"


@pytest.mark.slow
def test_inventory_is_read_without_the_venv_on_path(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``ansible-inventory`` (stage, deploy, verify read the inventory through it) is found
    next to the interpreter too."""
    from xedgesim.deploy import inventory

    hosts = tmp_path / "hosts.yml"
    hosts.write_text("edge:\n  hosts:\n    pi-1: {ansible_host: 192.0.2.1, xedgesim_arch: arm64}\n")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    loaded = inventory.load(hosts)
    assert [host.name for host in loaded.hosts] == ["pi-1"]


@pytest.mark.slow
def test_idempotence_snapshots_find_ansible_without_the_venv_on_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """testinfra (the idempotence step's snapshots) runs ``ansible-inventory`` in-process."""
    from xedgesim.deploy import snapshot
    from xedgesim.deploy.fleet_view import FleetView
    from xedgesim.deploy.inventory import InventoryHost

    hosts = tmp_path / "hosts.yml"
    hosts.write_text("edge:\n  hosts:\n    pi-1: {ansible_connection: local}\n")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    found = snapshot.hosts_of(FleetView(hosts, (), (InventoryHost("pi-1", {}),)))
    assert [host.backend.get_hostname() for host in found] == ["pi-1"]


def test_the_cancel_flag_records_which_signal_stopped_the_playbook() -> None:
    import signal

    from xedgesim.deploy.runner import cancel_on_signals

    with cancel_on_signals() as cancelled:
        os.kill(os.getpid(), signal.SIGTERM)
        assert cancelled.wait(5)
    assert cancelled.signum == signal.SIGTERM
