from __future__ import annotations

import math
from pathlib import Path

import pytest

from xedgesim.compare.runs import CompareInputError, read_run
from xedgesim.compare.stats import t_quantile
from xedgesim.compare.tolerances import parse_tolerances
from xedgesim.compare.verdicts import BREACH, PASS, SKIPPED, Comparison, Verdict, compare

from .helpers import flow, summary, write_run, write_sweep


def judge(tmp_path: Path, a: dict, b: dict, tolerances: str | None = None,
          window_s: float | None = 10.0) -> Comparison:
    rules = parse_tolerances(tolerances, "t.yaml") if tolerances else None
    return compare(read_run(write_run(tmp_path / "a", a)), read_run(write_run(tmp_path / "b", b)),
                   rules, window_s)


def one(comparison: Comparison, metric: str) -> Verdict:
    return next(v for v in comparison.verdicts if v.metric == metric)


def sensors(sent: int = 6000, delivered: int | None = None, **options) -> dict:
    return summary({"sensors->gw": flow(sent, delivered, **options)}, aggregates=None)


def test_identical_runs_agree_on_every_metric(tmp_path: Path) -> None:
    result = judge(tmp_path, summary(), summary(seed=2))
    assert result.passed and result.count(PASS) == len(result.verdicts) == 26


@pytest.mark.parametrize(("b_delivered", "verdict"), [(5000, PASS), (4999, BREACH)])
def test_a_count_may_differ_by_one_window(tmp_path: Path, b_delivered: int, verdict: str) -> None:
    # 6000 messages in 60 s is 100/s: one 10 s window carries 1000 of them.
    result = one(judge(tmp_path, sensors(6000), sensors(6000, b_delivered)),
                 "flows.sensors->gw.delivered")
    assert (result.allowed, result.verdict) == (1000.0, verdict)
    assert result.rule == "one 10s window"


@pytest.mark.parametrize(("b_count", "verdict"), [(5, PASS), (7, PASS), (4, BREACH)])
def test_aggregates_may_differ_by_one(tmp_path: Path, b_count: int, verdict: str) -> None:
    result = one(judge(tmp_path, summary(aggregates=6), summary(aggregates=b_count)),
                 "cloud.cloud.aggregates")
    assert (result.allowed, result.verdict) == (1.0, verdict)


@pytest.mark.parametrize(("b_delivered", "verdict"), [(5000, PASS), (4990, BREACH)])
def test_a_rate_may_differ_by_one_window_over_the_run(tmp_path: Path, b_delivered: int,
                                                     verdict: str) -> None:
    result = one(judge(tmp_path, sensors(6000), sensors(6000, b_delivered)),
                 "flows.sensors->gw.throughput.messages_per_s")
    assert result.allowed == pytest.approx(1000 / 60)
    assert result.verdict == verdict


def test_the_window_comes_from_the_runs_or_from_the_option(tmp_path: Path) -> None:
    a, b = summary(windows={"gw": 10}), summary(windows={"gw": 20})
    recorded = judge(tmp_path / "1", a, b, window_s=None)
    assert (recorded.window_s, recorded.window_source) == (20.0, "the runs' summary.json")
    given = judge(tmp_path / "2", a, b, window_s=5.0)
    assert (given.window_s, given.window_source) == (5.0, "--window")
    assert one(given, "flows.sensors->gw.delivered").allowed == 500.0


def test_without_a_window_counts_cannot_be_judged(tmp_path: Path) -> None:
    with pytest.raises(CompareInputError, match=r"record no aggregation window.*--window"):
        judge(tmp_path, summary(), summary(), window_s=None)


def test_overriding_every_count_and_rate_needs_no_window(tmp_path: Path) -> None:
    rules = 'metrics:\n  "*.delivered": {absolute: 0}\n  "*throughput*": {absolute: 0}\n' \
            '  "*.aggregates": {absolute: 0}\n'
    assert judge(tmp_path, summary(), summary(), rules, window_s=None).passed


def pooled_allowance(sa: int, na: int, sb: int, nb: int) -> float:
    p = (sa + sb) / (na + nb)
    return 2.5758293035489 * math.sqrt(p * (1 - p) * (1 / na + 1 / nb))


@pytest.mark.parametrize(("b_delivered", "verdict"), [(5910, PASS), (5880, BREACH)])
def test_a_ratio_is_held_to_a_pooled_two_proportion_test(tmp_path: Path, b_delivered: int,
                                                        verdict: str) -> None:
    result = one(judge(tmp_path, sensors(6000, 5940), sensors(6000, b_delivered)),
                 "flows.sensors->gw.delivery_ratio")
    assert result.allowed == pytest.approx(pooled_allowance(5940, 6000, b_delivered, 6000))
    assert (result.a, result.b) == (0.99, b_delivered / 6000)
    assert result.verdict == verdict
    assert result.detail == {"a_counts": [5940, 6000], "b_counts": [b_delivered, 6000]}


def test_a_loss_ratio_is_judged_per_cause(tmp_path: Path) -> None:
    a = sensors(6000, 5940, lost={"random": 60})
    b = sensors(6000, 5400, lost={"random": 60, "node_down": 540})
    result = judge(tmp_path, a, b)
    assert one(result, "flows.sensors->gw.loss_ratio.random").verdict == PASS
    breach = one(result, "flows.sensors->gw.loss_ratio.node_down")
    assert breach.verdict == BREACH and "outside" in breach.reason


def test_a_ratio_of_nothing_sent_is_skipped(tmp_path: Path) -> None:
    result = one(judge(tmp_path, sensors(0), sensors(0)), "flows.sensors->gw.delivery_ratio")
    assert result.verdict == SKIPPED and "no messages sent in either run" in result.reason


def test_a_tolerance_file_confidence_widens_the_ratio_test(tmp_path: Path) -> None:
    rules = 'metrics:\n  "*.delivery_ratio": {confidence: 0.9999}\n'
    a, b = sensors(6000, 5940), sensors(6000, 5895)
    assert one(judge(tmp_path / "1", a, b), "flows.sensors->gw.delivery_ratio").verdict == BREACH
    wider = one(judge(tmp_path / "2", a, b, rules), "flows.sensors->gw.delivery_ratio")
    assert (wider.verdict, wider.rule) == (PASS, "pooled two-proportion test at 0.9999")


@pytest.mark.parametrize(("a", "b", "allowed", "verdict"), [
    (100.0, 110.0, 11.0, PASS),  # 10 % of the larger
    (100.0, 111.2, 11.12, BREACH),
    (5.0, 7.0, 2.0, PASS),  # the 2 ms floor
    (5.0, 7.1, 2.0, BREACH),
])
def test_a_quantile_may_differ_by_10_percent_or_2_ms(tmp_path: Path, a: float, b: float,
                                                     allowed: float, verdict: str) -> None:
    result = one(judge(tmp_path, sensors(latency=(1.0, 2.0, a)), sensors(latency=(1.0, 2.0, b))),
                 "flows.sensors->gw.latency_ms.p99")
    assert result.allowed == pytest.approx(allowed)
    assert result.verdict == verdict


def test_a_quantile_without_samples(tmp_path: Path) -> None:
    one_side = judge(tmp_path / "1", sensors(), sensors(samples=0))
    assert one(one_side, "flows.sensors->gw.latency_ms.p50").reason == "no samples in B"
    assert one(one_side, "flows.sensors->gw.latency_ms.p50").verdict == BREACH
    neither = judge(tmp_path / "2", sensors(samples=0), sensors(samples=0))
    assert one(neither, "flows.sensors->gw.latency_ms.p50").verdict == SKIPPED


def test_a_flow_in_one_run_only_is_a_breach(tmp_path: Path) -> None:
    result = judge(tmp_path, summary(), sensors())
    missing = one(result, "flows.gw->cloud.delivered")
    assert (missing.verdict, missing.reason) == (BREACH, "only in A")
    assert one(result, "cloud.cloud.aggregates").reason == "only in A"


def test_a_tolerance_file_replaces_the_default_or_ignores(tmp_path: Path) -> None:
    rules = 'metrics:\n  "*.latency_ms.p99": {relative: 0.5}\n  "cloud.*": {ignore: true}\n'
    result = judge(tmp_path, sensors(latency=(1.0, 2.0, 100.0)) | {"end_to_end_ms": {}},
                   summary({"sensors->gw": flow(latency=(1.0, 2.0, 149.0))}), rules)
    p99 = one(result, "flows.sensors->gw.latency_ms.p99")
    assert (p99.verdict, p99.allowed, p99.rule) == (PASS, 74.5, "50% (t.yaml:2:3)")
    ignored = one(result, "cloud.cloud.aggregates")
    assert (ignored.verdict, ignored.reason) == (SKIPPED, "ignored by t.yaml:3:3")
    assert result.passed


def sweep_of(tmp_path: Path, delivered: list[int]) -> Path:
    return write_sweep(tmp_path / "sweep", [
        sensors(6000, d) | {"seed": seed} for seed, d in enumerate(delivered, 1)])


def test_a_run_is_judged_against_a_sweeps_prediction_interval(tmp_path: Path) -> None:
    delivered = [5000, 5200, 5400, 5600, 5800]
    sweep = read_run(sweep_of(tmp_path, delivered))
    mean, std, n = 5400.0, math.sqrt(sum((d - 5400) ** 2 for d in delivered) / 4), 5
    half = t_quantile(0.99, n - 1) * std * math.sqrt(1 + 1 / n)  # 4.604 * 316.2 * 1.095
    for value, verdict in ((round(mean + half) - 1, PASS), (round(mean + half) + 2, BREACH)):
        single = read_run(write_run(tmp_path / f"run-{value}", sensors(6000, value)))
        result = one(compare(sweep, single, window_s=10.0), "flows.sensors->gw.delivered")
        assert (result.a, result.b, result.verdict) == (mean, value, verdict)
        assert result.allowed == pytest.approx(half)
        assert result.detail["runs"] == 5 and result.detail["std"] == pytest.approx(std)
        reverse = one(compare(single, sweep, window_s=10.0), "flows.sensors->gw.delivered")
        assert (reverse.a, reverse.b, reverse.verdict) == (value, mean, verdict)


def test_a_metric_that_never_varies_falls_back_to_its_rule(tmp_path: Path) -> None:
    sweep = read_run(sweep_of(tmp_path, [6000, 6000, 6000]))
    single = read_run(write_run(tmp_path / "run", sensors(6000, 5999)))
    result = one(compare(sweep, single, window_s=10.0), "flows.sensors->gw.delivered")
    assert (result.verdict, result.allowed) == (PASS, 1000.0)
    assert "prediction interval of 3 runs (±0)" in result.rule


def test_a_ratio_against_a_sweep_uses_the_pooled_counts_as_floor(tmp_path: Path) -> None:
    sweep = read_run(sweep_of(tmp_path, [5940, 5940]))
    single = read_run(write_run(tmp_path / "run", sensors(6000, 5915)))
    result = one(compare(sweep, single, window_s=10.0), "flows.sensors->gw.delivery_ratio")
    assert result.allowed == pytest.approx(pooled_allowance(11880, 12000, 5915, 6000))
    assert result.verdict == PASS


def test_a_metric_in_one_run_of_the_sweep_is_skipped(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep", [summary(seed=1), sensors() | {"seed": 2}])
    result = compare(read_run(sweep), read_run(write_run(tmp_path / "run", summary())),
                     window_s=10.0)
    skipped = one(result, "flows.gw->cloud.delivered")
    assert skipped.verdict == SKIPPED and "in only 1 of the sweep's runs" in skipped.reason


def test_two_sweeps_are_refused(tmp_path: Path) -> None:
    sweep = read_run(sweep_of(tmp_path, [6000, 6000]))
    with pytest.raises(CompareInputError, match="both sweeps"):
        compare(sweep, sweep, window_s=10.0)
