"""What every node has: the counters of ``NODE_COUNTERS`` and its model's own, from the start."""

from __future__ import annotations

import io

from xedgesim.metrics import NODE_COUNTERS
from xedgesim.report import write_node_counters

_NODES = """
        duration: 5s
        network:
          default: {{latency: 5ms, loss: {loss}}}
        nodes:
          - {{id: s, type: sensor, count: 3, interval: 1s, to: broker, topic: "t/{{id}}",
              qos: 1}}
          - {{id: broker, type: broker}}
          - {{id: gw, type: gateway, subscribe: ["t/#"], aggregate_every: 2s, to: cloud}}
          - {{id: cloud, type: cloud}}
        """


def test_a_quiet_run_and_an_eventful_one_have_the_same_counters_and_nodes_csv_header(
    sim,
) -> None:
    """Nothing lost, retried or crashed in one run, all of it in the other: nodes.csv has the
    same columns, so runs (and seeds) can be read side by side."""
    quiet = sim.run_yaml(_NODES.format(loss=0))
    eventful = sim.run_yaml(_NODES.format(loss=0.3) + """
        faults:
          - {at: 1s, node: gw, action: crash, for: 1500ms}
        """)
    assert eventful.counter("s", "retransmissions") > 0
    assert eventful.counter("gw", "crashes") == 1
    for node in ("s", "broker", "gw", "cloud"):
        names = set(quiet.result.counters[node].values)
        assert names == set(eventful.result.counters[node].values), node
        assert set(NODE_COUNTERS) <= names, node
    assert quiet.counter("s", "lost") == quiet.counter("gw", "crashes") == 0
    assert set(quiet.summary["nodes"]["cloud"]) == {*NODE_COUNTERS, "readings_in"}

    def header(run) -> str:
        out = io.StringIO()
        write_node_counters(out, run.result)
        return out.getvalue().splitlines()[0]

    assert header(quiet) == header(eventful)


def test_a_broker_counts_what_it_sends_like_any_other_node(sim) -> None:
    run = sim.run_yaml(_NODES.format(loss=0))
    assert run.counter("broker", "sent") == run.counter("broker", "forwarded") == 15
    assert run.counter("cloud", "sent") == 0
