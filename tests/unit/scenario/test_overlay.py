"""Network overlays (``simulate --network``): the merge rules, located errors, provenance."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from xedgesim.scenario import ScenarioError, load_scenario

MS = 1_000_000
SCENARIO = """\
duration: 10s
network:
  default: {latency: 5ms, jitter: {exponential: 2ms}, loss: 0.01}
  links:
    - {between: [gw1, cloud], latency: 20ms, bandwidth: 10Mbit}
nodes:
  - {id: sensors, type: sensor, count: 2, interval: 1s, to: gw1, topic: t}
  - {id: gw1, type: gateway, to: cloud, topic: agg}
  - {id: cloud, type: cloud}
"""


def load(tmp_path: Path, overlay: str, scenario: str = SCENARIO):
    (tmp_path / "s.yaml").write_text(scenario)
    (tmp_path / "o.yaml").write_text(overlay)
    return load_scenario(tmp_path / "s.yaml", tmp_path / "o.yaml")


def links(scenario) -> dict[frozenset[str], object]:
    return {frozenset((link.a, link.b)): link.spec for link in scenario.network.links}


def test_overlay_keys_replace_the_scenarios_and_the_rest_is_kept(tmp_path: Path) -> None:
    scenario = load(tmp_path, """\
network:
  default: {loss: 0.2}
  links:
    - {from: cloud, to: gw1, jitter: {exponential: 3ms}}
    - {between: [sensors, gw1], latency: 1ms}
""")
    default = scenario.network.default
    assert (default.latency_ns, default.loss) == (5 * MS, 0.2)  # latency kept, loss replaced
    cloud, sensors = links(scenario)[frozenset(("gw1", "cloud"))], \
        links(scenario)[frozenset(("sensors", "gw1"))]
    # The scenario's gw1-cloud keeps its latency and bandwidth, takes the overlay's jitter and
    # the merged default's loss (neither link entry gives one).
    assert (cloud.latency_ns, cloud.bandwidth_bps, cloud.jitter.params, cloud.loss) == \
        (20 * MS, 10e6, (3.0 * MS,), 0.2)
    assert (sensors.latency_ns, sensors.jitter.params, sensors.loss) == (1 * MS, (2.0 * MS,), 0.2)


def test_an_overlay_on_a_scenario_without_network_is_its_network(tmp_path: Path) -> None:
    scenario = load(tmp_path, "network: {default: {latency: 7ms}}\n",
                    SCENARIO.split("network:")[0] + "nodes:" + SCENARIO.split("nodes:")[1])
    assert scenario.network.default.latency_ns == 7 * MS


def test_problems_point_into_the_overlay_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, """\
network:
  links:
    - {between: [gw1, clud], latency: 5ms}
    - {between: [cloud, gw1], latency: fast}
  defualt: {loss: 0}
""")
    report = caught.value.report().splitlines()
    overlay = tmp_path / "o.yaml"
    assert report == [
        f"{overlay}:3:23: 'between' in link #2 names an unknown node 'clud' "
        "(did you mean 'cloud'?)",
        f"{overlay}:4:40: 'latency' in the link cloud–gw1 must be written like '5ms': found "
        "'fast'",
        f"{overlay}:5:3: unknown key 'defualt' in 'network' (did you mean 'default'?)",
    ]


def test_the_same_pair_twice_in_an_overlay_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"o\.yaml:4:7: the link gw1–sensors is given "
                                            r"twice \(first at line 3"):
        load(tmp_path, "network:\n  links:\n    - {between: [sensors, gw1], loss: 0}\n"
                       "    - {between: [gw1, sensors], loss: 0.5}\n")


@pytest.mark.parametrize(("text", "message"), [
    ("", "o.yaml:1:1: the network overlay is empty"),
    ("nodes: []\n", "o.yaml:1:1: unknown key 'nodes' in a network overlay"),
    ("network: fast\n", "o.yaml:1:10: 'network' in the overlay must be a mapping"),
    ("[1]\n", "o.yaml:1:1: a network overlay must be a mapping"),
    ("network: {links: [\n", "o.yaml:2:1: invalid YAML"),
])
def test_an_overlay_that_is_not_one_is_refused_before_the_scenario_is_read(
        tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load(tmp_path, text)
    assert message in caught.value.report()


def test_an_unreadable_overlay_is_one_message(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SCENARIO)
    for path, message in ((tmp_path, "it is a directory"),
                          (tmp_path / "none.yaml", "No such file")):
        with pytest.raises(ScenarioError, match=f"cannot read the network overlay: {message}"):
            load_scenario(tmp_path / "s.yaml", path)


def test_the_scenario_records_which_overlay_it_was_loaded_with(tmp_path: Path) -> None:
    text = "network: {default: {loss: 0}}\n"
    scenario = load(tmp_path, text)
    assert scenario.network_overlay == {
        "path": str(tmp_path / "o.yaml"), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    assert load_scenario(tmp_path / "s.yaml").network_overlay is None
