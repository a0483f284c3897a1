"""A misbehaving fleet, for real: faults injected into a staged three-host fleet (the package's
``kept_fleet``) in the middle of ``xedge deploy`` (real sshd, real engines, real Ansible over
SSH).

Each fault hits the canary (edge-1). For each, the deploy exits 1 naming the host, and
``deploy.json`` says what became of it; the canary ends on one release whole, its record
(``current.json``) naming the images its containers run; the hosts of later batches are not
touched (no container of theirs restarted, recreated or removed); a QoS 1 message the canary's
broker queued before the deploy is still delivered; and the same deploy run again completes
(exit 0, every host on the new release). Then the failure budget across batches, with a host
that cannot be reached: ``--max-fail 1`` rolls on past it, ``--max-fail 0`` stops and
``--rollback-on-abort`` puts back the host it had updated.

The faults are triggered by what the deploy does, never by a sleep: by the runner events the
deploy streams (a wrapper around ``deploy.run_playbook``, the one seam through which every
playbook run goes), or by a watcher inside the device that acts the moment the device shows the
step under way (the copy's temporary file, the engine's import directory).

Every deploy here names a gateway image built for the test (the staged gateway plus a layer of
random bytes, so that there is something to copy and load) and passes ``--force``: only a
passing ``xedge stage`` vouches for an image, and staging each test's image would take a
fleet of its own per image (staging onto this fleet would put the image on the very hosts the
fault is to catch mid-update). Vouching is tested in test_deploy.py; what is tested here is
the rollout under faults.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    assert_still_queued,
    derived_gateway,
    hosts_by_name,
    probe_target,
    queue_a_message,
)
from xedgesim.deploy import commands, snapshot, state
from xedgesim.deploy import deploy as deploy_module
from xedgesim.deploy.events import Record, TaskStarted
from xedgesim.deploy.fleet import wait_for_ssh
from xedgesim.deploy.inventory import StagingHost
from xedgesim.engine import read_in_container

pytestmark = pytest.mark.e2e

CANARY, OTHERS = "edge-1", ("edge-2", "edge-3")
RELEASE_DIR = "/var/lib/xedgesim/release"
ARCHIVE_DIR = "/var/lib/xedgesim/images"
BLOB_BYTES = 32 * 1024 * 1024  # the test images' own layer: something to copy and load
# where the device's engine unpacks an archive it loads (dockerd's TMPDIR, <data-root>/tmp)
ENGINE_TMP = "/var/lib/docker/tmp"
WATCH_RESULT = "/run/xedgesim-chaos.json"
WATCH_STOP = "/run/xedgesim-chaos.stop"


@dataclass
class Fleet:
    run_dir: Path
    inventory: Path
    containers: dict[str, Any]  # host name -> the edge-host container (outer engine)
    hosts: dict[str, Any]  # host name -> testinfra host (the inventory's SSH)

    def ssh_host(self, name: str) -> StagingHost:
        self.containers[name].reload()
        port = self.containers[name].attrs["NetworkSettings"]["Ports"]["22/tcp"][0]["HostPort"]
        return StagingHost(name, int(port), 0, "amd64")


@pytest.fixture(scope="module")
def fleet(kept_fleet: Path, docker_client: Any) -> Fleet:
    """The package's staged three-host fleet (``kept_fleet``): every test leaves each host on
    one whole release, sshd up, the engines' disks as they were."""
    run = state.load(kept_fleet)
    prefix = f"xedgesim-{run.run_id}-"
    containers = {name.removeprefix(prefix): docker_client.containers.get(name)
                  for name in run.containers}
    inventory = kept_fleet / "inventory" / "hosts.yml"
    return Fleet(kept_fleet, inventory, containers, hosts_by_name(inventory))


@pytest.fixture
def new_gateway(fleet: Fleet, docker_client: Any, request: pytest.FixtureRequest,
                ) -> Iterator[Callable[[], str]]:
    """``new_gateway()``: the tag of a gateway image no host has yet (the staged gateway and a
    layer of random bytes), removed after the test."""
    import docker

    made: list[Iterator[str]] = []
    staged = (state.load(fleet.run_dir).release or {})["amd64"]["gateway"]
    try:  # the staged image, unless a rebuild of the gateway has replaced it since
        base = docker_client.images.get(staged["id"]).id
    except docker.errors.ImageNotFound:
        base = staged["tag"]

    def build() -> str:
        tag = f"xedgesim/gateway:e2e-chaos-{request.node.name[5:40]}-{len(made)}-amd64"
        tag = tag.replace("_", "-")
        images = derived_gateway(docker_client, base, tag,
                                 f"LABEL org.xedgesim.test=e2e-chaos\n"
                                 f"RUN head -c {BLOB_BYTES} /dev/urandom > /tmp/xedgesim-chaos"
                                 f"-{secrets.token_hex(4)}\n")
        next(images)
        made.append(images)
        return tag

    try:
        yield build
    finally:
        for images in made:
            with contextlib.suppress(StopIteration):
                next(images)


def on_device(fleet: Fleet, name: str, *command: str) -> str:
    """Run a command on a device through the outer engine (no SSH: it may be the fault)."""
    result = fleet.containers[name].exec_run(list(command))
    output = result.output.decode(errors="replace")
    assert result.exit_code == 0, f"{name}: {' '.join(command)}: {output}"
    return output


def read_device(fleet: Fleet, name: str, *command: str) -> str:
    """``on_device`` for a command that only reads: its output, which the engine can lose
    (``read_in_container`` runs it again then)."""
    exit_code, output = read_in_container(fleet.containers[name], command)
    assert exit_code == 0, f"{name}: {' '.join(command)}: {output}"
    return output


def engine_back(fleet: Fleet, name: str, within_s: float = 90.0) -> None:
    """Wait until the device's engine answers again: the deploy reports the host as soon as
    its task fails, while the engine the fault restarted may still be starting (its own
    supervisor restarts it after 2 s)."""
    deadline = time.monotonic() + within_s
    while fleet.containers[name].exec_run(["docker", "info"]).exit_code != 0:
        assert time.monotonic() < deadline, f"{name}: its engine did not come back"
        time.sleep(1)


def deploy(run_xedge: Any, fleet: Fleet, tag: str, out: Path,
           *extra: str) -> tuple[Any, dict[str, Any], float]:
    """``xedge deploy`` of the staged broker and the gateway ``tag``; its result, its
    deploy.json and its wall time."""
    started = time.monotonic()
    result = run_xedge(commands.deploy, [
        "--inventory", str(fleet.inventory), "--image", f"gateway={tag}", "--force",
        "--no-verify", "--out", str(out), "--no-progress", *extra])
    seconds = time.monotonic() - started
    return result, json.loads((out / "deploy.json").read_text()), seconds


def whole_release(fleet: Fleet, name: str, timeout_s: float = 90) -> dict[str, Any]:
    """The one release the host runs whole: its record (current.json), checked against the
    image ids of its running broker and gateway. Waits for the containers to run (an engine
    that restarted brings them back by their restart policy)."""
    deadline = time.monotonic() + timeout_s
    while True:
        running: dict[str, list[str]] = {}
        for service in ("broker", "gateway"):
            ids = read_device(fleet, name, "docker", "ps", "-q", "--no-trunc", "--filter",
                              f"label=org.xedgesim.service={service}").split()
            running[service] = [read_device(fleet, name, "docker", "inspect", "--format",
                                            "{{.Image}}", cid).strip() for cid in ids]
        if all(len(ids) == 1 for ids in running.values()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    record = json.loads(read_device(fleet, name, "cat", f"{RELEASE_DIR}/current.json"))
    assert {service: ids for service, ids in running.items()} == {
        service: [image] for service, image in record["images"].items()}, (
        f"{name} is in a half state: its record names {record['id']} {record['images']}, "
        f"its running containers run {running}")
    return dict(record)


def stop_sshd(fleet: Fleet, name: str) -> None:
    """Cut the host off: every sshd process (the listener and each connection) killed."""
    on_device(fleet, name, "pkill", "-KILL", "-x", "sshd")


def start_sshd(fleet: Fleet, name: str) -> None:
    on_device(fleet, name, "/usr/sbin/sshd", "-e")
    wait_for_ssh(fleet.ssh_host(name), fleet.run_dir / "ssh" / "id_ed25519",
                 fleet.run_dir / "ssh" / "known_hosts")


@contextlib.contextmanager
def at_task(monkeypatch: pytest.MonkeyPatch, run_name: str, task_prefix: str,
            action: Callable[[], None]) -> Iterator[list[str]]:
    """Run ``action`` once, as soon as the playbook run ``run_name`` starts a task whose name
    begins with ``task_prefix`` (a runner event); yields the tasks it fired at."""
    real = deploy_module.run_playbook
    fired: list[str] = []

    def spy(run: Any, progress: Callable[[Record], None] | None = None, **kwargs: Any) -> Any:
        def tee(record: Record) -> None:
            if (not fired and run.name == run_name and isinstance(record, TaskStarted)
                    and record.task.startswith(task_prefix)):
                fired.append(record.task)
                action()
            if progress is not None:
                progress(record)

        return real(run, progress=tee, **kwargs)

    monkeypatch.setattr(deploy_module, "run_playbook", spy)
    yield fired
    monkeypatch.setattr(deploy_module, "run_playbook", real)


@contextlib.contextmanager
def watcher(fleet: Fleet, name: str, script: str) -> Iterator[Callable[[], dict[str, Any]]]:
    """A Python watcher inside the device (started before the deploy, stopped after it);
    yields a function reading what it recorded in WATCH_RESULT."""
    on_device(fleet, name, "rm", "-f", WATCH_RESULT, WATCH_STOP)
    fleet.containers[name].exec_run(["python3", "-c", WATCH_PRELUDE + script], detach=True)

    def result() -> dict[str, Any]:
        exit_code, output = read_in_container(fleet.containers[name], ["cat", WATCH_RESULT])
        return json.loads(output) if exit_code == 0 else {}

    try:
        yield result
    finally:
        on_device(fleet, name, "touch", WATCH_STOP)


WATCH_PRELUDE = f"""
import glob, json, os, signal, time
RESULT, STOP = {WATCH_RESULT!r}, {WATCH_STOP!r}
def processes(name):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{{pid}}/comm") as comm:
                if comm.read().strip() == name:
                    found.append(int(pid))
        except OSError:
            pass
    return found
def record(**facts):
    with open(RESULT + ".new", "w") as out:
        json.dump(facts, out)
    os.replace(RESULT + ".new", RESULT)
def watching():
    return not os.path.exists(STOP)
"""

# The copy of an archive lands in Ansible's temporary file first (".source.tar" in its remote
# temporary directory): as soon as it exists, freeze the transfer (sftp-server), note how much
# arrived, cut every SSH connection and stop the listener (the link stays down).
CUT_TRANSFER = """
while watching():
    copies = glob.glob("/root/.ansible/tmp/ansible-tmp-*/.source*")
    if copies:
        for pid in processes("sftp-server"):
            os.kill(pid, signal.SIGSTOP)
        size = os.path.getsize(copies[0])
        for pid in processes("sshd") + processes("sftp-server"):
            os.kill(pid, signal.SIGKILL)
        record(cut=True, size=size)
        break
    time.sleep(0.005)
"""

# Each time the engine starts unpacking an archive (its import directory appears), restart
# it: SIGTERM, as `systemctl restart docker` does; the device's supervisor starts it again.
RESTART_ENGINE_ON_LOAD = f"""
seen, restarts = set(), 0
while watching():
    imports = set(glob.glob("{ENGINE_TMP}/docker-import-*")) - seen
    if imports:
        seen |= imports
        with open("/var/run/docker.pid") as pidfile:
            engine = int(pidfile.read())
        os.kill(engine, signal.SIGTERM)
        restarts += 1
        record(restarts=restarts)
        while os.path.exists(f"/proc/{{engine}}"):
            time.sleep(0.05)
    time.sleep(0.005)
"""


@contextlib.contextmanager
def canary_checks(fleet: Fleet, client_id: str) -> Iterator[Callable[[], None]]:
    """Around a faulted deploy: a QoS 1 message queued on the canary's broker before, the
    other hosts' containers snapshotted. Yields ``untouched()``, which asserts no container
    of the other hosts restarted, was recreated or removed; after the block the message must
    still be delivered."""
    target = probe_target(fleet.run_dir, fleet.inventory, fleet.hosts[CANARY], CANARY)
    queued = queue_a_message(target, client_id)
    others = [fleet.hosts[name] for name in OTHERS]
    before = snapshot.take(others)

    def untouched() -> None:
        assert snapshot.restarted(before, snapshot.take(others)) == []

    yield untouched
    assert_still_queued(target, client_id, queued)


def resume(run_xedge: Any, fleet: Fleet, tag: str, out: Path, *extra: str) -> float:
    """The same deploy again: it completes, every host on the release of ``tag``."""
    result, record, seconds = deploy(run_xedge, fleet, tag, out, *extra)
    assert result.exit_code == 0, "the re-run did not complete the deploy"
    assert set(record["outcomes"].values()) <= {"updated", "unchanged"}
    releases = {name: whole_release(fleet, name)["id"] for name in fleet.containers}
    assert set(releases.values()) == {record["release"]}, releases
    return seconds


def failed_on_canary(result: Any, record: dict[str, Any], code: str) -> None:
    """The deploy failed on the canary alone and said so; the later batches never ran."""
    assert result.exit_code == 1
    assert f"{CANARY}: {deploy_module.OUTCOMES[code].text}" in result.output
    assert record["outcomes"] == {CANARY: code, **{name: "not_reached" for name in OTHERS}}
    assert record["failure_budget"]["spent"] and record["failure_budget"]["failed"] == [CANARY]


def test_a_host_cut_off_before_its_containers_switch(
        fleet: Fleet, new_gateway: Callable[[], str], run_xedge: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """sshd dies on the canary once its images arrived, as the broker's role starts: the host
    is unreachable; it keeps running (and recording) the release it ran before."""
    tag = new_gateway()
    before = whole_release(fleet, CANARY)
    with canary_checks(fleet, "xedgesim-chaos-a") as untouched:
        with at_task(monkeypatch, "deploy-1", "mqtt_broker :",
                     lambda: stop_sshd(fleet, CANARY)) as fired:
            result, record, seconds = deploy(run_xedge, fleet, tag, tmp_path / "fault",
                                             "--serial", "1,2")
        assert fired, "the deploy never reached the broker's role"
        failed_on_canary(result, record, "unreachable")
        untouched()
        start_sshd(fleet, CANARY)
        assert whole_release(fleet, CANARY)["id"] == before["id"]
        resumed = resume(run_xedge, fleet, tag, tmp_path / "resume", "--serial", "1,2")
    print(f"chaos (a) unreachable: faulted deploy {seconds:.1f}s, resume {resumed:.1f}s")


def test_an_ssh_connection_cut_during_the_image_transfer(
        fleet: Fleet, new_gateway: Callable[[], str], run_xedge: Any, tmp_path: Path) -> None:
    """The SSH connection dies while the gateway's archive is on its way (the device holds
    part of it) and the link stays down: the host is unreachable, still on its release."""
    tag = new_gateway()
    before = whole_release(fleet, CANARY)
    with canary_checks(fleet, "xedgesim-chaos-b") as untouched:
        with watcher(fleet, CANARY, CUT_TRANSFER) as watched:
            result, record, seconds = deploy(run_xedge, fleet, tag, tmp_path / "fault",
                                             "--serial", "1,2")
            cut = watched()
        assert cut.get("cut"), "the watcher never saw the archive arrive"
        assert cut["size"] < BLOB_BYTES, "the transfer had ended before the cut"
        failed_on_canary(result, record, "unreachable")
        untouched()
        start_sshd(fleet, CANARY)
        assert whole_release(fleet, CANARY)["id"] == before["id"]
        resumed = resume(run_xedge, fleet, tag, tmp_path / "resume", "--serial", "1,2")
    print(f"chaos (b) transfer cut after {cut['size']} bytes: faulted deploy {seconds:.1f}s, "
          f"resume {resumed:.1f}s")


def test_a_disk_that_fills_during_docker_load(
        fleet: Fleet, new_gateway: Callable[[], str], run_xedge: Any, tmp_path: Path) -> None:
    """The filesystem the canary's engine unpacks archives into has 16 MiB (a tmpfs over
    the engine's temporary directory), less than the image's new layer: `docker load` fails
    with ENOSPC, the whole archive too; the host stays on its release and keeps no archive."""
    tag = new_gateway()
    before = whole_release(fleet, CANARY)
    with canary_checks(fleet, "xedgesim-chaos-c") as untouched:
        on_device(fleet, CANARY, "mount", "-t", "tmpfs", "-o", "size=16m",
                  "xedgesim-chaos-full", ENGINE_TMP)
        try:
            result, record, seconds = deploy(run_xedge, fleet, tag, tmp_path / "fault",
                                             "--serial", "1,2")
        finally:
            on_device(fleet, CANARY, "umount", ENGINE_TMP)
        failed_on_canary(result, record, "failed_unchanged")
        assert "no space left on device" in record["outcome_details"][CANARY]["failure"]
        untouched()
        assert whole_release(fleet, CANARY)["id"] == before["id"]
        assert read_device(fleet, CANARY, "find", ARCHIVE_DIR, "-type", "f") == "", (
            "the archive that did not load is still on the full device")
        resumed = resume(run_xedge, fleet, tag, tmp_path / "resume", "--serial", "1,2")
    print(f"chaos (c) disk full: faulted deploy {seconds:.1f}s, resume {resumed:.1f}s")


def test_the_engine_restarting_during_docker_load(
        fleet: Fleet, new_gateway: Callable[[], str], run_xedge: Any, tmp_path: Path) -> None:
    """The canary's Docker engine restarts each time it starts loading an archive (as an
    engine killed by a load too big for its memory would): the load fails, the engine comes
    back with the containers it ran, and the host stays on its release. The broker was
    restarted with its engine: the QoS 1 message it had queued is still delivered."""
    tag = new_gateway()
    before = whole_release(fleet, CANARY)
    with canary_checks(fleet, "xedgesim-chaos-d") as untouched:
        with watcher(fleet, CANARY, RESTART_ENGINE_ON_LOAD) as watched:
            result, record, seconds = deploy(run_xedge, fleet, tag, tmp_path / "fault",
                                             "--serial", "1,2")
            restarts = watched().get("restarts", 0)
        assert restarts >= 1, "the engine was never restarted during a load"
        failed_on_canary(result, record, "failed_unchanged")
        untouched()
        engine_back(fleet, CANARY)
        assert whole_release(fleet, CANARY)["id"] == before["id"]
        resumed = resume(run_xedge, fleet, tag, tmp_path / "resume", "--serial", "1,2")
    print(f"chaos (d) engine restarted {restarts} time(s): faulted deploy {seconds:.1f}s, "
          f"resume {resumed:.1f}s")


def test_the_failure_budget_across_batches(
        fleet: Fleet, new_gateway: Callable[[], str], run_xedge: Any, tmp_path: Path) -> None:
    """Batches of one host; edge-2 cannot be reached. ``--max-fail 1``: the rollout goes on
    past it and updates edge-3, and still exits 1 naming edge-2. ``--max-fail 0
    --rollback-on-abort``: the rollout stops at edge-2, edge-3 is not touched, and edge-1,
    which it had updated, is put back on the release it ran before."""
    first, second = new_gateway(), new_gateway()
    stop_sshd(fleet, "edge-2")
    try:
        result, record, within = deploy(run_xedge, fleet, first, tmp_path / "within",
                                        "--serial", "1", "--max-fail", "1")
        assert result.exit_code == 1
        assert record["outcomes"] == {"edge-1": "updated", "edge-2": "unreachable",
                                      "edge-3": "updated"}
        assert record["failure_budget"] == {"allowed": 1, "spent": False,
                                            "failed": ["edge-2"], "rollback_on_abort": False}
        assert "1 failed within the failure budget (1 allowed)" in result.output
        released = record["release"]
        assert {whole_release(fleet, name)["id"] for name in ("edge-1", "edge-3")} == {released}

        edge3_before = snapshot.take([fleet.hosts["edge-3"]])
        result, record, spent = deploy(run_xedge, fleet, second, tmp_path / "spent",
                                       "--serial", "1", "--max-fail", "0",
                                       "--rollback-on-abort")
        assert result.exit_code == 1
        assert record["outcomes"] == {"edge-1": "rolled_back_on_abort",
                                      "edge-2": "unreachable", "edge-3": "not_reached"}
        assert record["failure_budget"] == {"allowed": 0, "spent": True,
                                            "failed": ["edge-2"], "rollback_on_abort": True}
        assert "updated, then rolled back after the stop: edge-1" in result.output
        assert whole_release(fleet, "edge-1")["id"] == released
        assert snapshot.restarted(edge3_before, snapshot.take([fleet.hosts["edge-3"]])) == []
        assert whole_release(fleet, "edge-3")["id"] == released
    finally:
        start_sshd(fleet, "edge-2")
    print(f"failure budget: --max-fail 1 {within:.1f}s, --max-fail 0 with rollback "
          f"{spent:.1f}s")
