from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from xedgesim.compare import runs
from xedgesim.compare.runs import CompareInputError, read_run

from .helpers import flow, summary, write_run, write_sweep


def test_a_run_gives_every_metric_with_its_kind(tmp_path: Path) -> None:
    data = summary({"sensors->gw": flow(6000, 5940, lost={"random": 50, "node_down": 10})})
    run = read_run(write_run(tmp_path / "a", data))
    metrics = run.samples[0]
    assert not run.sweep and run.seeds == (1,) and run.duration_s == 60.0
    assert metrics["flows.sensors->gw.delivered"].kind == "count"
    ratio = metrics["flows.sensors->gw.delivery_ratio"]
    assert (ratio.kind, ratio.successes, ratio.trials) == ("ratio", 5940, 6000)
    random = metrics["flows.sensors->gw.loss_ratio.random"]
    assert (random.successes, random.trials) == (50, 6000)
    assert {f"flows.sensors->gw.loss_ratio.{c}" for c in ("link_down", "partition")} <= set(
        metrics)
    p99 = metrics["flows.sensors->gw.latency_ms.p99"]
    assert (p99.kind, p99.value, p99.trials) == ("quantile", 12.0, 5940)
    rate = metrics["flows.sensors->gw.throughput.bytes_per_s"]
    assert rate.kind == "rate" and rate.quantum == pytest.approx(64.0)
    assert metrics["cloud.cloud.aggregates"].value == 6
    assert metrics["cloud.cloud.end_to_end_ms.p50"].trials == 6
    assert run.window_s is None


def test_the_window_is_the_largest_a_run_records(tmp_path: Path) -> None:
    run = read_run(write_run(tmp_path / "a", summary(windows={"gw1": 10, "gw2": 30.0})))
    assert run.window_s == 30.0


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: None, "no such run directory"),
    (lambda p: p.write_text("x"), "not a directory"),
    (lambda p: p.mkdir(), "neither a run directory (no summary.json) nor a sweep"),
])
def test_what_is_not_a_run_is_named(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "run"
    make(path)
    with pytest.raises(CompareInputError, match=r"run: .*") as caught:
        read_run(path)
    assert message in str(caught.value)


@pytest.mark.parametrize(("text", "message"), [
    ('{"flows": ', "summary.json:1:11: invalid JSON"),
    ('{"duration_s": NaN}', "NaN is not a number JSON allows"),
    ("[1, 2]", "expected a JSON object, found list"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("1" * 5000, "invalid JSON"),
])
def test_a_summary_that_is_not_json_is_refused(tmp_path: Path, text: str, message: str) -> None:
    write_run(tmp_path / "a", text)
    with pytest.raises(CompareInputError) as caught:
        read_run(tmp_path / "a")
    assert message in str(caught.value)
    assert str(tmp_path / "a" / "summary.json") in str(caught.value)


def _broken(change) -> dict:
    data = summary()
    change(data)
    return data


@pytest.mark.parametrize(("data", "field"), [
    (_broken(lambda d: d["flows"]["sensors->gw"].update(delivered="6000")),
     "flows.sensors->gw.delivered: expected a count"),
    (_broken(lambda d: d["flows"]["sensors->gw"].update(sent=-1)),
     "flows.sensors->gw.sent: expected a count"),
    (_broken(lambda d: d["flows"]["sensors->gw"]["latency_ms"].update(p95=True)),
     "flows.sensors->gw.latency_ms.p95: expected a number >= 0"),
    (_broken(lambda d: d.update(duration_s=0)), "duration_s: expected a positive number"),
    (_broken(lambda d: d.update(flows=[])), "flows: expected an object"),
    (_broken(lambda d: d["flows"].update({"bad\x1b[2Jname": d["flows"]["gw->cloud"]})),
     "flows: expected names of at most 200 printable characters"),
    (_broken(lambda d: d.update(aggregation_windows_s={"gw": 0})),
     "aggregation_windows_s.gw: expected a positive number"),
    (_broken(lambda d: d.pop("scenario")), "scenario: expected a name"),
])
def test_a_wrong_field_is_named_with_its_file(tmp_path: Path, data: dict, field: str) -> None:
    write_run(tmp_path / "a", data)
    with pytest.raises(CompareInputError) as caught:
        read_run(tmp_path / "a")
    assert f"{tmp_path / 'a' / 'summary.json'}: {field}" in str(caught.value)


def test_a_summary_over_the_size_limit_is_not_read(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs, "MAX_FILE_BYTES", 2 * 2**20)
    write_run(tmp_path / "a", json.dumps(summary()) + " " * (2 * 2**20))
    with pytest.raises(CompareInputError, match="larger than 2 MiB"):
        read_run(tmp_path / "a")


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    os.mkfifo(tmp_path / "a" / "summary.json")
    with pytest.raises(CompareInputError, match="not a regular file"):
        read_run(tmp_path / "a")


def test_a_sweep_is_its_seed_directories_in_natural_order(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sw", [summary(seed=s) for s in (10, 2, 1)])
    (sweep / ".seed-11.tmp").mkdir()  # an unfinished seed of an interrupted sweep
    (sweep / "notes").mkdir()  # no summary.json: not a run
    run = read_run(sweep)
    assert run.sweep and run.seeds == (1, 2, 10) and len(run.samples) == 3


def test_a_sweep_is_found_by_its_summaries_without_sweep_json(tmp_path: Path) -> None:
    run = read_run(write_sweep(tmp_path / "sw", [summary(seed=1), summary(seed=2)],
                               marker=False))
    assert run.sweep and len(run.samples) == 2


def test_sweep_json_wins_over_a_summary_at_the_top(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sw", [summary(seed=1), summary(seed=2)])
    write_run(sweep, summary(seed=99))
    assert read_run(sweep).seeds == (1, 2)


def test_a_sweep_of_one_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CompareInputError, match="a sweep of 1 run gives no prediction interval"):
        read_run(write_sweep(tmp_path / "sw", [summary(seed=1)]))


def test_a_sweep_of_two_scenarios_is_refused(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sw", [summary(seed=1), summary(seed=2, scenario="other")])
    with pytest.raises(CompareInputError, match="must be of one scenario"):
        read_run(sweep)


def _grid_sweep(directory: Path, points: dict[str, list[dict]]) -> Path:
    """What ``xedge sweep`` writes: ``sweep.json`` and ``summaries/<point>/seed-<k>.json``."""
    for point, summaries in points.items():
        (directory / "summaries" / point).mkdir(parents=True)
        for data in summaries:
            (directory / "summaries" / point / f"seed-{data['seed']}.json").write_text(
                json.dumps(data))
    (directory / "sweep.json").write_text('{"grid": []}\n')
    return directory


def test_a_grid_sweep_is_refused_naming_the_points_to_compare(tmp_path: Path) -> None:
    sweep = _grid_sweep(tmp_path / "g", {f"p{n}": [summary(seed=1), summary(seed=2)]
                                         for n in (10, 2, 1)})
    with pytest.raises(CompareInputError) as info:
        read_run(sweep)
    message = str(info.value)
    assert message.startswith(f"{sweep}: a grid sweep (sweep.json has a grid)")
    assert f"'xedge compare {sweep / 'summaries' / 'p1'} RUN' (points: p1, p2, p10;" in message


def test_a_point_of_a_grid_sweep_is_a_distribution_in_seed_order(tmp_path: Path) -> None:
    sweep = _grid_sweep(tmp_path / "g", {"p1": [summary(seed=s) for s in (10, 2, 1)]})
    (sweep / "summaries" / "p1" / "seed-x.json").write_text("{}")  # not a run's summary
    run = read_run(sweep / "summaries" / "p1")
    assert run.sweep and run.seeds == (1, 2, 10) and len(run.samples) == 3
