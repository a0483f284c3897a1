"""xedgesim/scenario/placement.py: the ``placement:`` section, and what a fleet cannot run,
each refused at the place that asks for it."""

from __future__ import annotations

import pytest

from xedgesim.scenario import ScenarioError, load_scenario_text
from xedgesim.scenario.placement import ALL_HOSTS, from_options, host_problems

FILE = "f.yaml"
# Lines: 1 duration, 2 nodes:, 3 sensors, 4 broker, 5 gw1, 6 cloud, 7 broker2, 8 gw2, 9 model
GW = "implementation: docker, image: xedgesim/gateway, docker: {mode: service}"
NODES = """\
duration: 20s
nodes:
  - {id: sensors, type: sensor, count: 2, interval: 1s, to: broker, topic: "site/{id}/t"}
  - {id: broker, type: broker, implementation: docker, image: xedgesim/broker}
  - {id: gw1, type: gateway, GW, subscribe: {broker: broker, topics: ["site/+/t"], qos: 1}, \
to: cloud, qos: 1}
  - {id: cloud, type: cloud}
  - {id: broker2, type: broker, implementation: docker, image: xedgesim/broker}
  - {id: gw2, type: gateway, GW, subscribe: {broker: broker2, topics: ["x/+"], qos: 1}, \
to: cloud, qos: 1}
  - {id: model, type: gateway, subscribe: {broker: broker, topics: ["site/+/t"]}, to: cloud}
""".replace("GW", GW)


def problems(placement: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(NODES + placement, FILE)
    return [str(problem) for problem in caught.value.problems]


def test_a_placement_loads_with_its_hosts_and_places() -> None:
    scenario = load_scenario_text(NODES.replace(
        '  - {id: model, type: gateway, subscribe: {broker: broker, topics: ["site/+/t"]}, '
        'to: cloud}\n', "") + 'placement:\n  edge-1: [broker, gw1]\n  "*": [broker2, gw2]\n',
        FILE)
    placement = scenario.placement
    assert placement is not None
    assert [entry.host for entry in placement.entries] == ["edge-1", ALL_HOSTS]
    assert [p.node for p in placement.for_host("edge-1").nodes] == ["broker", "gw1"]
    assert [p.node for p in placement.for_host("edge-7").nodes] == ["broker2", "gw2"]
    assert placement.for_host("edge-1").nodes[1].location == (FILE, 10, 20)


@pytest.mark.parametrize(("placement", "expected"), [
    ('placement:\n  "*": [broker, gw1, brokr]\n  e: [broker2, gw2]\n',
     "f.yaml:10:22: host '*' in 'placement' names an unknown node 'brokr' (did you mean "
     "'broker'?)"),
    ('placement:\n  "*": [broker, gw1, sensors]\n  e: [broker2, gw2]\n',
     "f.yaml:10:22: 'placement' places the sensor 'sensors' on every host (sensors and the "
     "cloud are driven from this machine, not run on hosts)"),
    ('placement:\n  "*": [broker, gw1, broker2]\n  e: [broker2, gw2]\n',
     "f.yaml:10:22: 'placement' places two brokers on every host ('broker', 'broker2') (a "
     "host runs one broker: place the others on other hosts)"),
    ('placement:\n  "*": [broker, gw1]\n  e: [broker2, gw2, gw1]\n',
     "f.yaml:11:21: 'placement' places two gateways on host 'e' ('gw2', 'gw1') (the "
     "edge_gateway role runs one gateway per host)"),
    ('placement:\n  "*": [broker, gw1]\n  e: [gw2]\n',
     "f.yaml:11:7: 'placement' places gateway 'gw2' on host 'e', which runs no broker (a "
     "gateway talks to the broker of its own host: place 'broker2' there too)"),
    ('placement:\n  "*": [broker, gw1]\n  e: [broker, gw2]\n',
     "f.yaml:11:15: gateway 'gw2' subscribes at broker 'broker2', but host 'e' runs broker "
     "'broker' (a gateway talks to the broker of its own host)"),
    ('placement:\n  "*": [broker, gw1]\n',
     "f.yaml:7:5: broker 'broker2' is placed on no host by 'placement' (add it under a host "
     "(or '*') in 'placement')"),
    ('placement:\n  "*": [broker, gw1]\n  e: []\n  f: [broker2, gw2]\n',
     "f.yaml:11:6: host 'e' in 'placement' lists no node (a host runs a broker and its "
     "gateway; leave out a host that runs none)"),
    ('placement:\n  "*": [broker, gw1]\n  "a b": [broker2, gw2]\n',
     "f.yaml:11:3: host 'a b' in 'placement' is not a host name (an inventory host name, or "
     "'*' for every host; no white space, '#', '+', '/' or ':')"),
    ('placement: [broker]\n',
     "f.yaml:9:12: 'placement' must be a mapping ({edge-1: [broker, gw1]} or {'*': [broker, "
     "gw1]}), found a list"),
])
def test_each_mistake_is_refused_at_its_place(placement: str, expected: str) -> None:
    text = NODES.replace('  - {id: model, type: gateway, subscribe: {broker: broker, topics: '
                         '["site/+/t"]}, to: cloud}\n', "")
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text + placement, FILE)
    assert expected in [str(problem) for problem in caught.value.problems]


def test_a_model_on_a_host_is_refused_at_its_definition() -> None:
    found = problems('placement:\n  "*": [broker, gw1]\n  e: [broker2, gw2]\n  m: [broker, '
                     'model]\n')
    assert ("f.yaml:9:5: gateway 'model' runs as python_model, a model of the simulation, and "
            "cannot be placed on a host (a host runs the gateway image: write implementation: "
            "docker, image: xedgesim/gateway:…, docker: {mode: service})") in found


def test_the_lockstep_gateway_is_refused_on_a_host() -> None:
    text = NODES.replace("docker: {mode: service}, subscribe: {broker: broker,",
                         "subscribe: {broker: broker,")
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text + 'placement:\n  "*": [broker, gw1]\n  e: [broker2, gw2]\n'
                           '  m: [broker, model]\n', FILE)
    assert any(str(p).startswith("f.yaml:5:5: gateway 'gw1' speaks the lockstep protocol")
               for p in caught.value.problems)


def test_place_options() -> None:
    placement = from_options(["edge-1=broker,gw1", "*=broker2,gw2"])
    assert [(e.host, [p.node for p in e.nodes]) for e in placement.entries] == [
        ("edge-1", ["broker", "gw1"]), ("*", ["broker2", "gw2"])]
    for bad in ("edge-1", "edge-1=", "a b=broker"):
        with pytest.raises(ValueError, match="expected HOST=NODE"):
            from_options([bad])
    with pytest.raises(ValueError, match="placed twice"):
        from_options(["e=broker", "e=gw1"])


def test_hosts_are_checked_against_the_inventory() -> None:
    placement = from_options(["edge-1=broker,gw1", "edge-9=broker,gw1"])
    found = [str(p) for p in host_problems(placement, ["edge-1", "edge-2"])]
    assert found == [
        "--place names host 'edge-9', which the inventory does not have (did you mean "
        "'edge-2'?)",
        "--place gives no site to host(s) edge-2 (every host of the inventory runs a broker "
        "and a gateway: name them, or add '*')",
    ]
