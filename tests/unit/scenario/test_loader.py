"""The whole loader: a full scenario to dataclasses, file-level problems, all problems at once."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from xedgesim import registry
from xedgesim.scenario import Location, ScenarioError, limits, load_scenario, load_scenario_text
from xedgesim.scenario.model import (
    BrokerParams,
    CloudParams,
    Distribution,
    FaultSpec,
    GatewayParams,
    LinkOverride,
    LinkSpec,
    NetworkSpec,
    NodeSpec,
    Publishing,
    Scenario,
    SensorParams,
    Subscription,
)

from .helpers import FILE, load, messages, one, problems, scenario_text

REPO = Path(__file__).resolve().parents[3]

FULL = """\
name: full
seed: 7
duration: 2min
network:
  default: {latency: 5ms, jitter: {exponential: 2ms}, loss: 0.01, bandwidth: 10Mbit}
  links:
    - {between: [gw1, cloud], latency: 20ms, bandwidth: 1Mbit}
    - {from: sensors, to: gw1, jitter: {uniform: [0ms, 1ms]}, loss: 2%}
nodes:
  - id: sensors
    type: sensor
    implementation: python_model
    count: 100
    interval: 1s
    process: poisson
    phase: 0s
    value: {uniform: {low: -5, high: 35.5}}
    to: gw1
    topic: "site/{id}/temp"
    qos: 1
    retain: true
    payload: 1KiB
    retry_interval: 500ms
    max_retries: 3
  - id: gw1
    type: gateway
    aggregate_every: 5s
    to: cloud
    qos: 1
    subscribe: ["site/+/temp", "alarms/#"]
  - id: broker
    type: broker
    implementation: docker
    image: xedgesim/broker
    # a docker broker reads no 'docker:' options (see test_nodes)
    persistence: false
    retry_interval: 2s
    max_retries: 0
  - id: cloud
    type: cloud
    subscribe: {broker: broker, topics: ["agg/#"], qos: 1}
faults:
  - {at: 30s, node: gw1, action: crash, for: 5s}
  - {at: 40s, action: link_down, link: [gw1, cloud]}
  - {at: 42s, action: link_up, link: [cloud, gw1]}
  - {at: 45s, action: partition, groups: [[sensors, gw1], [cloud]], for: 5s}
  - {at: 60s, node: sensors-07, action: crash}
  - {at: 61s, node: sensors-07, action: restart}
  - {at: 70s, action: partition, groups: [[gw1], [cloud, broker]]}
  - {at: 80s, action: heal, groups: [[cloud, broker], [gw1]]}
"""


@pytest.fixture
def docker_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register a docker broker, as the container package will."""
    monkeypatch.setitem(registry.NODE_CLASSES, ("broker", "docker"), "tests:NoSuchClass")


def loc(line: int, column: int) -> Location:
    return Location(FILE, line, column)


def test_full_scenario_gives_the_expected_dataclasses(docker_broker: None) -> None:
    scenario = load(FULL)
    default = LinkSpec(5_000_000, Distribution("exponential", (2e6,)), 0.01, 10e6)
    assert scenario == Scenario(
        name="full",
        seed=7,
        duration_ns=120_000_000_000,
        network=NetworkSpec(
            default=default,
            links=(
                LinkOverride(
                    "gw1",
                    "cloud",
                    LinkSpec(20_000_000, default.jitter, 0.01, 1e6),
                    loc(7, 7),
                ),
                LinkOverride(
                    "sensors",
                    "gw1",
                    LinkSpec(5_000_000, Distribution("uniform", (0.0, 1e6)), 0.02, 10e6),
                    loc(8, 7),
                ),
            ),
        ),
        nodes=(
            NodeSpec(
                id="sensors",
                type="sensor",
                implementation="python_model",
                params=SensorParams(
                    publish=Publishing("gw1", "site/{id}/temp", 1, True, 1024, 500_000_000, 3),
                    interval_ns=1_000_000_000,
                    process="poisson",
                    phase=0,
                    value=Distribution("uniform", (-5.0, 35.5)),
                ),
                location=loc(10, 5),
                count=100,
            ),
            NodeSpec(
                id="gw1",
                type="gateway",
                implementation="python_model",
                params=GatewayParams(
                    publish=Publishing("cloud", "agg/{id}", 1, False, 128, 1_000_000_000, 5),
                    aggregate_every_ns=5_000_000_000,
                    subscription=Subscription("broker", ("site/+/temp", "alarms/#"), 0),
                ),
                location=loc(25, 5),
            ),
            NodeSpec(
                id="broker",
                type="broker",
                implementation="docker",
                params=BrokerParams(False, 2_000_000_000, 0),
                location=loc(31, 5),
                image="xedgesim/broker",
            ),
            NodeSpec(
                id="cloud",
                type="cloud",
                implementation="python_model",
                params=CloudParams(Subscription("broker", ("agg/#",), 1)),
                location=loc(39, 5),
            ),
        ),
        faults=(
            FaultSpec(30 * 10**9, "crash", loc(43, 5), node="gw1", duration_ns=5 * 10**9),
            FaultSpec(40 * 10**9, "link_down", loc(44, 5), link=("gw1", "cloud")),
            FaultSpec(42 * 10**9, "link_up", loc(45, 5), link=("cloud", "gw1")),
            FaultSpec(
                45 * 10**9,
                "partition",
                loc(46, 5),
                groups=(("sensors", "gw1"), ("cloud",)),
                duration_ns=5 * 10**9,
            ),
            FaultSpec(60 * 10**9, "crash", loc(47, 5), node="sensors-07"),
            FaultSpec(61 * 10**9, "restart", loc(48, 5), node="sensors-07"),
            FaultSpec(70 * 10**9, "partition", loc(49, 5), groups=(("gw1",), ("cloud", "broker"))),
            FaultSpec(80 * 10**9, "heal", loc(50, 5), groups=(("cloud", "broker"), ("gw1",))),
        ),
        source=FILE,
        notices=(),
    )
    assert scenario.node("sensors").instance_ids[0] == "sensors-00"


def test_defaults() -> None:
    scenario = load_scenario_text(
        "duration: 10s\nnodes:\n"
        "  - {id: s, type: sensor, interval: 1s, to: g}\n"
        "  - {id: g, type: gateway}\n",
        "dir/my-run.yaml",
    )
    assert scenario.name == "my-run"
    assert scenario.seed == 1
    assert scenario.network == NetworkSpec()
    assert scenario.faults == ()
    sensor = scenario.node("s")
    assert sensor.implementation == "python_model" and sensor.count == 1
    assert sensor.params == SensorParams(
        publish=Publishing("g", "{id}/data", 0, False, 64, 1_000_000_000, 5),
        interval_ns=1_000_000_000,
        process="periodic",
        phase="random",
        value=Distribution("normal", (20.0, 2.0)),
    )
    gateway = scenario.node("g")
    assert gateway.params == GatewayParams(None, 10_000_000_000, None)
    assert scenario.notices == ("line 4: gateway 'g' has no 'to': its aggregates are not sent on",)


def test_the_repository_scenarios_load() -> None:
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        scenario = load_scenario(path)
        assert scenario.nodes, path


def test_load_scenario_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("duration: 1s\nnodes: [{id: c, type: cloud}]\n", encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.name == "mine" and scenario.source == str(path)


def test_missing_file_is_a_problem_located_at_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (problem,) = info.value.problems
    assert problem.location == Location(str(path), 0, 0)
    assert str(problem) == f"{path}: cannot read the scenario: No such file or directory"


def test_directory_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path)
    assert str(info.value.problems[0]).startswith(f"{tmp_path}: cannot read the scenario: it is")


@pytest.mark.parametrize("make", ["fifo", "device"])
def test_a_fifo_or_a_device_is_refused_unread(tmp_path: Path, make: str) -> None:
    """A FIFO with no writer would block a plain open; /dev/zero would fill the memory."""
    path = Path("/dev/zero")
    if make == "fifo":
        path = tmp_path / "pipe.yaml"
        os.mkfifo(path)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.report() == f"{path}: the scenario is not a regular file"


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * limits.MAX_FILE_BYTES + b"\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.report() == (
        f"{path}: the scenario is larger than 10 MiB (see 'Limits' in docs/scenario.md)"
    )


def test_non_utf8_file_points_at_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"duration: 1s\nname: caf\xe9\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (problem,) = info.value.problems
    assert problem.location == Location(str(path), 2, 10)
    assert problem.message == "the file is not UTF-8 text"


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfduration: 1s\nnodes: [{id: c, type: cloud}]\n")
    assert load_scenario(path).duration_ns == 10**9


def test_empty_file() -> None:
    for text in ("", "\n# nothing yet\n"):
        problem = one(text)
        assert problem.location == loc(1, 1)
        assert problem.message == "the scenario is empty"


@pytest.mark.parametrize(
    ("text", "found"), [("- a\n- b\n", "a list"), ("just text\n", "'just text'")]
)
def test_top_level_must_be_a_mapping(text: str, found: str) -> None:
    assert one(text).message == (
        f"a scenario must be a mapping (duration: 60s, nodes: [...]), found {found}"
    )


def test_yaml_syntax_error_is_one_problem() -> None:
    problem = one("duration: 60s\nnodes: [\n  {id: a, type: cloud\n")
    assert problem.message.startswith("invalid YAML:")
    assert problem.location is not None and problem.location.line == 4


def test_duplicate_yaml_key_in_a_scenario() -> None:
    problem = one(scenario_text(head="duration: 60s\nseed: 1\nseed: 2\n"))
    assert str(problem).startswith("s.yaml:3:1: duplicate key 'seed' (already given at line 2")


def test_unknown_top_level_key() -> None:
    assert messages(scenario_text(head="duration: 60s\nnodez: []\n")) == [
        "s.yaml:2:1: unknown key 'nodez' in the scenario (did you mean 'nodes'?)"
    ]


def test_missing_duration() -> None:
    assert messages(scenario_text(head="")) == [
        "s.yaml:1:1: missing required key 'duration' in the scenario"
    ]


def test_missing_or_empty_nodes() -> None:
    assert messages("duration: 1s\n") == [
        "s.yaml:1:1: missing required key 'nodes' in the scenario"
    ]
    assert messages("duration: 1s\nnodes: []\n") == [
        "s.yaml:2:8: 'nodes' is empty (a scenario needs at least one node)"
    ]
    assert messages("duration: 1s\nnodes: {a: 1}\n") == [
        "s.yaml:2:8: 'nodes' must be a list ([{id: s1, type: sensor, ...}]), found a mapping"
    ]


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ("seed: x\n", "'seed' in the scenario must be a whole number, found 'x'"),
        ("seed: -3\n", "'seed' in the scenario must be at least 0, found -3"),
        ("seed: 1.5\n", "'seed' in the scenario must be a whole number, found 1.5"),
        ("name: [a]\n", "'name' in the scenario must be text, found a list"),
        ("name: ''\n", "'name' in the scenario must be text, found an empty text"),
    ],
)
def test_wrong_types_at_the_top(head: str, message: str) -> None:
    assert one(scenario_text(head="duration: 60s\n" + head)).message == message


def test_duration_must_be_positive_and_have_a_unit() -> None:
    assert one(scenario_text(head="duration: 0s\n")).message == (
        "'duration' in the scenario must be greater than zero, found '0s'"
    )
    bare = one(scenario_text(head="duration: 60\n"))
    assert bare.message == "'duration' in the scenario needs a unit: found the bare number 60"
    assert bare.hint is not None and "'60s'" in bare.hint and "ns, us, ms, s, min, h" in bare.hint
    assert "cannot be negative" in one(scenario_text(head="duration: -1s\n")).message


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = textwrap.dedent(
        """\
        seed: -1
        duration: 60s
        network:
          default: {latncy: 5ms, loss: 1.5}
          links:
            - {between: [gw1, clod]}
        nodes:
          - {id: sensors, type: sensor, count: 0, interval: 1, to: gw2, qos: 2}
          - {id: gw1, type: gateway, interval: 1s, subscribe: ["a/#/b"]}
          - {id: gw1, type: sensr}
          - {id: cloud, type: cloud}
        faults:
          - {at: 70s, node: gw1, action: crash}
          - {at: 10s, node: gw1, action: restart}
          - {at: 10s, action: explode}
        """
    )
    found = problems(text)
    lines = [problem.location.line for problem in found if problem.location is not None]
    assert lines == sorted(lines) and len(lines) == len(found)
    expected = [
        (1, "'seed' in the scenario must be at least 0"),
        (4, "unknown key 'latncy' in the default link"),
        (4, "'loss' in the default link must be between 0 and 1"),
        (6, "'between' in link #1 names an unknown node 'clod'"),
        (8, "'count' in node 'sensors' must be at least 1"),
        (8, "'interval' in node 'sensors' needs a unit"),
        (8, "'to' in node 'sensors' names an unknown node 'gw2'"),
        (8, "'qos' in node 'sensors': QoS 2 is not supported"),
        (9, "'interval' is not a key of a gateway node; it belongs to sensor"),
        (9, "'subscribe' in node 'gw1' needs a broker, and the scenario has none"),
        (9, "invalid topic filter 'a/#/b'"),
        (10, "duplicate node id 'gw1'"),
        (10, "'type' in node 'gw1' must be one of sensor, gateway, broker or cloud"),
        (13, "fault #1 happens at 70s, after the scenario ends (1min)"),
        (14, "restart of node 'gw1' at 10s, but it is not down then"),
        (15, "'action' in fault #3 must be one of crash"),
    ]
    assert len(found) == len(expected), "\n".join(map(str, found))
    for (line, start), problem in zip(expected, found, strict=True):
        assert problem.location is not None and problem.location.line == line, problem
        assert problem.message.startswith(start), problem


def test_loading_imports_no_node_code() -> None:
    """``xedge validate`` must stay light: no node classes, no numpy, no docker SDK."""
    import subprocess
    import sys

    code = (
        "import sys, xedgesim.scenario as s\n"
        "s.load_scenario('scenarios/quickstart.yaml')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('xedgesim.models.', 'xedgesim.sim',"
        " 'numpy', 'docker'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "['xedgesim.models.topics']"


def test_the_first_example_of_the_reference_page_loads() -> None:
    page = (REPO / "docs" / "scenario.md").read_text(encoding="utf-8")
    example = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert load_scenario_text(example, "docs/scenario.md").name == "quickstart"


@pytest.mark.parametrize(
    ("name", "shown", "suggestion"),
    [
        ("../../escape", "'../../escape'", "escape"),
        ("/tmp/x", "'/tmp/x'", "tmp-x"),
        ('"a\\0b"', "'a\\x00b'", "a-b"),
        ("my run", "'my run'", "my-run"),
        ("a" * 65, "'" + "a" * 40 + "…'", "a" * 64),
        (".hidden", "'.hidden'", "hidden"),
        ("a..b", "'a..b'", "a-b"),
    ],
)
def test_name_must_be_a_safe_directory_name(name: str, shown: str, suggestion: str) -> None:
    """The name becomes runs/<name>-<seed>: it must not leave runs/ or break the file system."""
    problem = one(scenario_text(head=f"name: {name}\nduration: 60s\n"))
    assert problem.location == loc(1, 7)
    assert problem.message == (
        "'name' in the scenario must be at most 64 letters, digits, '_', '.' and '-', "
        f"start with a letter or digit and not contain '..', found {shown}"
    )
    assert problem.hint == f"it names the run's directory; did you mean '{suggestion}'?"


@pytest.mark.parametrize("name", ["quickstart", "edge.v2-run_3", "a" * 64])
def test_safe_names_are_kept(name: str) -> None:
    assert load(scenario_text(head=f"name: {name}\nduration: 60s\n")).name == name


def test_a_name_taken_from_the_file_name_is_made_safe(tmp_path: Path) -> None:
    path = tmp_path / "my first..scenario.yaml"
    path.write_text("duration: 1s\nnodes: [{id: c, type: cloud}]\n", encoding="utf-8")
    assert load_scenario(path).name == "my-first-scenario"
