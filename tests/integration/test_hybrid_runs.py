"""Docker nodes in a run: a real Mosquitto in the loop, and no container left behind on
success, on failure, on Ctrl-C or on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.processes import default_sigint
from xedgesim.docker.containers import LABEL_MANAGED, LABEL_RUN
from xedgesim.errors import NodeFailure
from xedgesim.run import run_to_directory
from xedgesim.scenario import load_scenario_text

pytestmark = pytest.mark.integration

HYBRID = """\
name: hybrid
seed: 7
duration: {duration}
network:
  default: {{latency: 5ms, jitter: {{exponential: 2ms}}, loss: 0.02}}
nodes:
  - {{id: sensors, type: sensor, count: 20, interval: 500ms, to: broker, topic: "site/{{id}}/t",
     qos: 1}}
  - {{id: broker, type: broker, implementation: docker, image: "{image}"}}
  - {{id: gw1, type: gateway, subscribe: ["site/+/t"], aggregate_every: 2s, to: cloud}}
  - {{id: cloud, type: cloud}}
"""


def scenario_text(duration: str = "6s", image: str = "xedgesim/broker:latest") -> str:
    return HYBRID.format(duration=duration, image=image)


def leftovers(docker_client: Any) -> list[str]:
    """Containers and networks of runs of these tests' scenarios still on the engine.

    Filtered by this file's node ids, so containers that other work on the same engine starts
    meanwhile do not count.
    """
    label = {"label": [f"{LABEL_MANAGED}=true", LABEL_RUN]}
    containers = [c.name for c in docker_client.containers.list(all=True, filters=label)
                  if c.labels.get("org.xedgesim.node") in ("broker", "gw2")]
    runs = {name.split("-")[1] for name in containers}
    networks = [n.name for n in docker_client.networks.list(filters=label)
                if n.name.split("-")[-1] in runs]
    return containers + networks


@pytest.fixture
def broker_image(amd64_build: Any) -> str:
    return "xedgesim/broker:latest"


def test_python_sensors_publish_through_a_real_mosquitto(tmp_path: Path, docker_client: Any,
                                                         broker_image: str) -> None:
    before = leftovers(docker_client)
    scenario = load_scenario_text(scenario_text(image=broker_image), "hybrid.yaml")
    result = run_to_directory(scenario, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["mode"] == "statistical"
    assert summary["pacing"]["speed"] == 1.0
    assert summary["pacing"]["lag_ms"]["p95"] < 50
    inbound = summary["flows"]["sensors->broker"]
    assert inbound["sent"] == 20 * 12
    # Every message that reached the broker was published to Mosquitto, which delivered it to
    # the gateway's subscription (QoS 1 end to end; only the last few can still be in flight).
    assert summary["nodes"]["broker"]["published"] == inbound["delivered"]
    outbound = summary["flows"]["broker->gw1"]
    assert outbound["sent"] >= inbound["delivered"] - 5
    assert summary["flows"]["gw1->cloud"]["delivered"] >= 2
    assert summary["end_to_end_ms"]["cloud"]["count"] >= 2
    log = (tmp_path / "run" / "logs" / "broker.log").read_text()
    assert "mosquitto version" in log
    assert result.pacing is not None
    assert set(leftovers(docker_client)) <= set(before)


def test_a_node_that_cannot_start_fails_clearly_and_leaves_nothing(
        tmp_path: Path, docker_client: Any, broker_image: str) -> None:
    text = scenario_text(image=broker_image) + (
        "  - {id: gw2, type: gateway, implementation: docker, image: 'xedgesim/nope:none',"
        " aggregate_every: 2s, to: cloud}\n")
    scenario = load_scenario_text(text, "broken.yaml")
    before = leftovers(docker_client)
    with pytest.raises(NodeFailure, match=r"gw2.*not built locally"):
        run_to_directory(scenario, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    assert set(leftovers(docker_client)) <= set(before)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_run_removes_its_containers(tmp_path: Path, docker_client: Any,
                                                   broker_image: str, signum: int) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(scenario_text(duration="10min", image=broker_image))
    out = tmp_path / "run"
    before = set(leftovers(docker_client))
    child = subprocess.Popen([sys.executable, "-m", "xedgesim", "simulate", str(path),
                              "--out", str(out), "--no-progress"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 60
        while not set(leftovers(docker_client)) - before:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the broker container never appeared"
            time.sleep(0.2)
        time.sleep(2)  # let the run get going
        child.send_signal(signum)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode != 0
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    assert set(leftovers(docker_client)) <= before
    assert not out.exists()


def test_clean_removes_leftovers_of_a_killed_run(docker_client: Any, broker_image: str) -> None:
    import socket

    from click.testing import CliRunner

    from xedgesim.cli import main
    from xedgesim.docker.containers import LABEL_OWNER

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # the run's process, killed: this host's, gone
    labels = {LABEL_MANAGED: "true", LABEL_RUN: "killed-run",
              LABEL_OWNER: f"{socket.gethostname()}:{ended.pid}"}
    network = docker_client.networks.create("xedgesim-killed-run", labels=labels)
    container = docker_client.containers.create(broker_image, name="xedgesim-killed-run-broker",
                                                labels=labels, network=network.name)
    try:
        result = CliRunner().invoke(main, ["clean"])
        assert result.exit_code == 0, result.output
        assert "removed xedgesim-killed-run-broker" in result.output
        assert "removed network xedgesim-killed-run" in result.output
        import docker

        for thing in (container, network):
            with pytest.raises(docker.errors.NotFound):
                thing.reload()
    finally:
        for thing in (container, network):
            with contextlib.suppress(Exception):  # already removed by the command under test
                thing.remove()


def test_clean_spares_a_run_that_is_still_going(docker_client: Any, broker_image: str) -> None:
    import os
    import socket

    from click.testing import CliRunner

    from xedgesim.cli import main
    from xedgesim.docker.containers import LABEL_OWNER

    labels = {LABEL_MANAGED: "true", LABEL_RUN: "live-run",
              LABEL_OWNER: f"{socket.gethostname()}:{os.getpid()}"}
    container = docker_client.containers.create(broker_image, name="xedgesim-live-run-broker",
                                                labels=labels)
    try:
        assert "xedgesim-live-run-broker" not in CliRunner().invoke(main, ["clean"]).output
        container.reload()  # still there
        # --run: other runs on the engine (a developer's, a parallel job's) stay untouched
        result = CliRunner().invoke(main, ["clean", "--all", "--run", "live-run"])
        assert "removed xedgesim-live-run-broker" in result.output
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)
