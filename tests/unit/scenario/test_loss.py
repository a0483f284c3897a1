"""A link's bursty loss, ``loss: {gilbert: {p, r, loss_bad, loss_good}}``: read, merged over
the default link, and refused where written."""

from __future__ import annotations

import pytest

from xedgesim.scenario.model import Gilbert

from .helpers import load, messages, scenario_text


def test_gilbert_loss_is_read_with_its_defaults_and_a_link_may_replace_it() -> None:
    scenario = load(scenario_text(network="""
        default: {latency: 1ms, loss: {gilbert: {p: 0.01, r: 30%}}}
        links:
          - {between: [gw1, cloud], loss: 0.02}
          - {between: [sensors, gw1], loss: {gilbert: {p: 0.1, r: 0.5, loss_bad: 0.8,
                                                        loss_good: 0.01}}}
          - {between: [broker, cloud], latency: 3ms}
        """))
    network = scenario.network
    assert network.default.gilbert == Gilbert(0.01, 0.3, 1.0, 0.0)
    assert network.default.loss == 0.0
    by_pair = {(link.a, link.b): link.spec for link in network.links}
    assert by_pair["gw1", "cloud"].gilbert is None and by_pair["gw1", "cloud"].loss == 0.02
    assert by_pair["sensors", "gw1"].gilbert == Gilbert(0.1, 0.5, 0.8, 0.01)
    assert by_pair["broker", "cloud"].gilbert == Gilbert(0.01, 0.3, 1.0, 0.0)  # from default


@pytest.mark.parametrize(("loss", "at", "message"), [
    ("{gilbert: {p: 0.1}}", "{p", "missing required key 'r' in 'gilbert' of 'loss' in the "
                                  "default link"),
    ("{gilbert: {p: 1.5, r: 0.1}}", "1.5",
     "'p' of 'gilbert' of 'loss' in the default link must be between 0 and 1, found 1.5"),
    ("{gilbert: {p: 0.1, r: 0}}", "0}}",
     "'r' of 'gilbert' of 'loss' in the default link must be greater than zero when 'p' is"),
    ("{gilbert: {p: 0.1, r: 0.2, burst: 3}}", "burst",
     "unknown key 'burst' in 'gilbert' of 'loss' in the default link"),
    ("{markov: {p: 0.1}}", "markov", "unknown key 'markov' in 'loss' in the default link"),
    ("{gilbert: [0.1, 0.2]}", "[0.1", "'gilbert' of 'loss' in the default link must be a "
                                      "mapping"),
])
def test_a_wrong_bursty_loss_is_reported_where_it_is_written(loss: str, at: str,
                                                             message: str) -> None:
    text = scenario_text(network=f"default: {{loss: {loss}}}")
    line_number = next(n for n, line in enumerate(text.splitlines(), 1) if "loss:" in line)
    line = text.splitlines()[line_number - 1]
    found = messages(text)
    assert found, text
    column = line.index(at, line.index("loss:")) + 1
    assert any(f.startswith(f"s.yaml:{line_number}:{column}: {message}") for f in found), found
