"""Grid paths address the scenario as written; bad paths and values are refused before
anything runs, located in the grid file or naming the --set option."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from xedgesim.limits import MAX_GRID_BYTES, MAX_SWEEP_TASKS
from xedgesim.scenario import load_scenario, load_scenario_text
from xedgesim.scenario.yaml_tree import parse_yaml
from xedgesim.sweep.grid import GridError, build_points, option_parameter, read_grid, resolve

SCENARIO = """\
name: grid-test
seed: 3
duration: 2s
network:
  default: {latency: 5ms, loss: 0.01}
  links:
    - {between: [gw1, cloud], latency: 20ms, bandwidth: 10Mbit}
    - {from: edge.a, to: gw1, latency: 1ms}
nodes:
  - {id: sensors, type: sensor, count: 5, interval: 100ms, to: gw1}
  - {id: edge.a, type: sensor, count: 2, interval: 100ms, to: gw1}
  - {id: gw1, type: gateway, aggregate_every: 1s, to: cloud}
  - {id: cloud, type: cloud}
faults:
  - {at: 1s, node: gw1, action: crash, for: 100ms}
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    return path


def tree():
    root, problems = parse_yaml(SCENARIO, "s.yaml")
    assert not problems
    return root


@pytest.mark.parametrize(("path", "steps"), [
    ("network.default.loss", ["network", "default", "loss"]),
    ("network.default.bandwidth", ["network", "default", "bandwidth"]),  # added, judged later
    ("nodes.sensors.count", ["nodes", 0, "count"]),
    ("nodes[edge.a].count", ["nodes", 1, "count"]),
    ("nodes.edge.a.count", ["nodes", 1, "count"]),  # the longest id that fits
    ("nodes.2.aggregate_every", ["nodes", 2, "aggregate_every"]),
    ("network.links[gw1,cloud].latency", ["network", "links", 0, "latency"]),
    ("network.links[cloud, gw1].latency", ["network", "links", 0, "latency"]),
    ("network.links.gw1,edge.a.latency", ["network", "links", 1, "latency"]),
    ("faults.0.at", ["faults", 0, "at"]),
    ("faults[0].for", ["faults", 0, "for"]),
    ("duration", ["duration"]),
])
def test_paths_name_what_the_user_wrote(path: str, steps: list) -> None:
    assert resolve(tree(), path) == steps


@pytest.mark.parametrize(("path", "message"), [
    ("nodes.sensorz.count", "no entry 'sensorz' (it has: sensors, edge.a, gw1, cloud)"),
    ("faults.3.at", "'faults' has 1 entries (0 to 0), not 3"),
    ("network.defualt.loss", "'network' has no 'defualt' (it has: default, links)"),
    ("network.links[gw1,sensors].latency", "no entry 'gw1,sensors'"),
    ("network.default.loss.x", "'network.default.loss' is a single value"),
    ("seed", "the seed is not a parameter"),
    ("network..loss", "expected a key"),
    ("nodes[sensors.count", "'[' without ']'"),
])
def test_a_path_that_does_not_exist_is_refused(path: str, message: str) -> None:
    with pytest.raises(LookupError, match=_re(message)):
        resolve(tree(), path)


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_points_are_the_product_and_each_loads_as_a_scenario(scenario: Path) -> None:
    parameters = [option_parameter("network.default.loss=0,1%"),
                  option_parameter("nodes.sensors.count=1,2,3")]
    grid = build_points(scenario, parameters, seeds=2)
    assert [p.id for p in grid.points] == ["p0", "p1", "p2", "p3", "p4", "p5"]
    assert grid.points[4].parameters == {"network.default.loss": "1%", "nodes.sensors.count": 2}
    assert grid.scenario == "grid-test" and len(grid.sha256) == 64
    loaded = load_scenario_text(grid.points[4].text, "p4.yaml")
    base = load_scenario(scenario)
    assert loaded.network.default.loss == 0.01 and loaded.nodes[0].count == 2
    assert loaded.name == base.name and loaded.seed == base.seed
    assert [n.id for n in loaded.nodes] == [n.id for n in base.nodes]


def test_a_scenario_without_a_name_keeps_the_one_from_its_file(tmp_path: Path) -> None:
    path = tmp_path / "my-site.yaml"
    path.write_text(SCENARIO.replace("name: grid-test\n", ""))
    grid = build_points(path, [option_parameter("duration=1s,2s")], seeds=1)
    assert load_scenario_text(grid.points[0].text, "points/p0.yaml").name == "my-site"


def test_bad_values_are_located_in_the_grid_file(scenario: Path, tmp_path: Path) -> None:
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text("network.default.loss: [0, 1.5]\n"
                         "nodes.sensors.interval: [1s, 5]\n")
    with pytest.raises(GridError) as caught:
        build_points(scenario, read_grid(grid_file), seeds=1)
    text = str(caught.value)
    assert f"{grid_file}:1:27: 'loss' in the default link must be between 0 and 1" in text
    assert f"{grid_file}:2:30: 'interval' in node 'sensors' needs a unit" in text
    assert "(point p2: network.default.loss=1.5, nodes.sensors.interval=1s)" in text
    assert text.endswith("nothing was run")


def test_bad_values_of_an_option_name_the_option(scenario: Path) -> None:
    with pytest.raises(GridError) as caught:
        build_points(scenario, [option_parameter("nodes.sensors.count=10,ten")], seeds=1)
    assert "--set nodes.sensors.count=10,ten: 'count' in node 'sensors'" in str(caught.value)


def test_an_unknown_key_at_the_end_is_judged_by_the_loader(scenario: Path) -> None:
    with pytest.raises(GridError, match=r"--set network.default.lose=0.1: unknown key 'lose'"):
        build_points(scenario, [option_parameter("network.default.lose=0.1")], seeds=1)


def test_a_missing_path_in_a_grid_file_is_located_at_its_key(scenario: Path,
                                                             tmp_path: Path) -> None:
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text("# loss\n\nnodes.gw2.aggregate_every: [1s]\n")
    with pytest.raises(GridError, match=_re(f"{grid_file}:3:1: 'nodes' has no entry 'gw2'")):
        build_points(scenario, read_grid(grid_file), seeds=1)


@pytest.mark.parametrize(("option", "message"), [
    ("network.default.loss", "expected PATH=VALUE"),
    ("=1,2", "expected PATH=VALUE"),
    ("network.default.loss=", "no value after '='"),
    ("network.default.loss=[1,", "not YAML separated by commas"),
])
def test_bad_options_are_refused(option: str, message: str) -> None:
    with pytest.raises(GridError, match=_re(message)):
        option_parameter(option)


def test_overlapping_parameters_are_refused(scenario: Path) -> None:
    parameters = [option_parameter("network.default={latency: 1ms}"),
                  option_parameter("network.default.loss=0.1")]
    with pytest.raises(GridError, match=_re("overlaps 'network.default'")):
        build_points(scenario, parameters, seeds=1)


def test_points_times_seeds_is_bounded_before_anything_is_built(scenario: Path) -> None:
    values = ",".join(str(n) for n in range(1, 101))
    parameters = [option_parameter(f"nodes.sensors.count={values}"),
                  option_parameter(f"nodes.edge.a.count={values}")]
    with pytest.raises(GridError, match=f"100 × 100 points × 2 seeds = 20,000 runs; at most "
                                        f"{MAX_SWEEP_TASKS:,}"):
        build_points(scenario, parameters, seeds=2)


@pytest.mark.parametrize(("content", "message"), [
    (b"- a\n- b\n", "a grid is a mapping of scenario paths"),
    (b"1: [2]\n", "a grid key is a path into the scenario"),
    (b"duration: []\n", "'duration' has no values"),
    (b"a: [1\n", "grid.yaml:2:1"),
    (b"\xff\xfe", "not UTF-8"),
    (b"x" * (MAX_GRID_BYTES + 1), "larger than 1024 KiB"),
])
def test_bad_grid_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "grid.yaml"
    path.write_bytes(content)
    with pytest.raises(GridError, match=_re(message)):
        read_grid(path)


def test_a_grid_file_reads_lists_and_single_values(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text("network.default.loss: [0, 0.01]\nduration: 5s\n"
                    "network.default.jitter: [{exponential: 2ms}]\n")
    parameters = read_grid(path)
    assert [(p.path, p.plain_values()) for p in parameters] == [
        ("network.default.loss", [0, 0.01]), ("duration", ["5s"]),
        ("network.default.jitter", [{"exponential": "2ms"}])]
    assert str(parameters[1].where) == f"{path}:2:1"
    assert yaml.safe_load(path.read_text())  # the file is plain YAML


def test_a_trace_driven_scenario_is_refused_at_its_node(tmp_path: Path) -> None:
    """A point runs from its text alone (on any worker): the trace is another file."""
    (tmp_path / "a.csv").write_text("time_s\n0\n")
    path = tmp_path / "t.yaml"
    path.write_text("duration: 5s\nnodes:\n"
                    "  - {id: s, type: sensor, to: c, process: {trace: a.csv}}\n"
                    "  - {id: c, type: cloud}\n")
    with pytest.raises(GridError) as info:
        build_points(path, [option_parameter("duration=1s,2s")], seeds=1)
    assert info.value.problems == [
        f"{path}:3:5: node 's' replays a trace file, and a sweep runs each point from its "
        "scenario text alone (use xedge simulate --seeds)"]


def test_a_link_replaying_a_trace_is_refused_at_its_trace(tmp_path: Path) -> None:
    """As a node's trace: a point runs from its text alone, and the trace is another file; a
    schedule written in the scenario is part of the text and sweeps like any key."""
    (tmp_path / "t.csv").write_text("time,latency\n1s,9ms\n")
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("{latency: 5ms, loss: 0.01}",
                                     "{latency: 5ms, loss: 0.01, trace: t.csv}"))
    with pytest.raises(GridError) as info:
        build_points(path, [option_parameter("network.default.loss=0,0.1")], seeds=1)
    assert info.value.problems == [
        f"{path}:5:46: a link replays a trace file, and a sweep runs each point from its "
        "scenario text alone (write its changes as a 'schedule:', or use xedge simulate "
        "--seeds)"]
    path.write_text(SCENARIO.replace("{latency: 5ms, loss: 0.01}",
                                     "{latency: 5ms, loss: 0.01, schedule: [{at: 1s, "
                                     "latency: 9ms}]}"))
    grid = build_points(path, [option_parameter("network.default.loss=0,0.1")], seeds=1)
    schedule = load_scenario_text(grid.points[1].text, "p1").network.default.schedule
    assert schedule is not None and schedule.latency_ns.tolist() == [9_000_000]
