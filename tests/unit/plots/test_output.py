"""xedge plot and xedge report on real runs and sweeps: the files, the marker, the pixels."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from xedgesim.cli import main
from xedgesim.plots.rundata import FaultWindow, read_run
from xedgesim.rundir import RunIdentity, run_directory

from .conftest import SCENARIO, invoke, simulate

RUN_FIGURES = ["delivery.png", "latency_cdf.png", "queue.png"]


def pixels(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    return imread(path)


def test_plot_draws_every_run_figure_into_plots_and_the_run_stays_replaceable(
        run: Path, scenario_text: str) -> None:
    output = invoke("plot", str(run))
    assert sorted(p.name for p in (run / "plots").iterdir()) == RUN_FIGURES
    assert output.split() == [str(run / "plots" / name) for name in
                              ["latency_cdf.png", "delivery.png", "queue.png"]]
    for name in RUN_FIGURES:
        image = pixels(run / "plots" / name)
        assert image.shape[1] == 900 and image.shape[0] >= 350  # 9 in at 100 dpi
        assert image[..., :3].std() > 0.05  # not a blank canvas
    marker = json.loads((run / ".xedgesim-run.json").read_text())
    assert {f"plots/{name}" for name in RUN_FIGURES} <= set(marker["files"])
    assert "plots" in marker["folders"]
    # xedge made everything in the directory, so a new run may replace it whole.
    scenario = run.parent / "again.yaml"
    scenario.write_text(scenario_text)
    invoke("simulate", str(scenario), "--out", str(run), "-q")
    assert not (run / "plots").exists()


def test_the_same_run_gives_the_same_png_bytes(tmp_path: Path) -> None:
    first, second = simulate(tmp_path, "a"), simulate(tmp_path, "b")
    invoke("plot", str(first))
    invoke("plot", str(second))
    for name in RUN_FIGURES:
        data = (first / "plots" / name).read_bytes()
        assert data == (second / "plots" / name).read_bytes(), name
        assert b"Software" not in data and b"tIME" not in data  # no version, no timestamp
    other = simulate(tmp_path, "c", "--seed", "4")
    invoke("plot", str(other))
    assert (other / "plots" / "delivery.png").read_bytes() != \
        (first / "plots" / "delivery.png").read_bytes()


def test_fault_windows_come_from_the_run_s_scenario(run: Path) -> None:
    data = read_run(run)
    assert data.faults == [FaultWindow(2.0, 3.0, "gw1 down"),
                           FaultWindow(4.0, 5.0, "link cloud–gw1 down"),
                           FaultWindow(6.0, 6.5, "partition")]
    assert list(data.series) == list(data.summary["flows"])
    queue = data.series["gw1->cloud"]["queue"]
    assert not np.isnan(queue).any() and queue.max() > 0
    assert np.isnan(data.series["sensors->broker"]["queue"]).all()


def test_fault_windows_of_a_run_whose_link_replays_a_trace(tmp_path: Path,
                                                          scenario_text: str) -> None:
    """The run keeps a copy of its scenario, whose trace path (relative to the original)
    names nothing there: the faults are read all the same."""
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "t.csv").write_text("time,latency\n1s,9ms\n")
    text = scenario_text.replace("bandwidth: 20kbit}", "bandwidth: 20kbit, trace: traces/t.csv}")
    data = read_run(simulate(tmp_path, "traced", text=text))
    assert [window.label for window in data.faults] == ["gw1 down", "link cloud–gw1 down",
                                                        "partition"]
    assert not data.notes


def test_a_warmup_is_marked_where_it_ends_and_only_when_there_is_one(run: Path,
                                                                     tmp_path: Path) -> None:
    """The series cover the whole run; a dashed line says where the summary starts counting.
    Without a warmup nothing is drawn: the figures keep their bytes."""
    warm = simulate(tmp_path, "warm", text=SCENARIO.replace("duration: 8s", "duration: 8s\n"
                                                                               "warmup: 1500ms"))
    assert read_run(warm).warmup_s == 1.5 and read_run(run).warmup_s == 0.0
    invoke("plot", str(run))
    invoke("plot", str(warm))
    for name in ("delivery.png", "queue.png"):
        assert not np.array_equal(pixels(run / "plots" / name), pixels(warm / "plots" / name))


def test_report_is_one_self_contained_html_file(run: Path, tmp_path: Path) -> None:
    output = invoke("report", str(run))
    page = (run / "report.html").read_text()
    assert output.strip() == str(run / "report.html")
    assert page.count('src="data:image/png;base64,') == 3
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page)
    assert "sensors-&gt;broker" in page and "aggregate_every: 20ms" in page
    assert "scenario sha256" in page
    assert "report.html" in json.loads((run / ".xedgesim-run.json").read_text())["files"]
    elsewhere = tmp_path / "elsewhere.html"
    invoke("report", str(run), "--out", str(elsewhere))
    assert elsewhere.read_text().count("data:image/png") == 3
    assert "elsewhere.html" not in (run / ".xedgesim-run.json").read_text()


@pytest.mark.parametrize("case", ["not a run", "missing file", "sweep of stage"])
def test_what_is_not_a_run_is_refused_with_exit_2(tmp_path: Path, run: Path, case: str) -> None:
    if case == "not a run":
        target = tmp_path / "mine"
        target.mkdir()
        expected = "not an xedge run directory"
    elif case == "missing file":
        (run / "timeseries.csv").unlink()
        target, expected = run, "older xedge"
    else:
        target = tmp_path / "staged"
        target.mkdir()
        (target / ".xedgesim-run.json").write_text(json.dumps(
            {"kind": "stage", "files": [], "folders": [], "runs": []}))
        expected = "run of `xedge stage`"
    for command in ("plot", "report"):
        result = CliRunner().invoke(main, [command, str(target)])
        assert result.exit_code == 2, result.output
        assert expected in result.output and "Traceback" not in result.output
        assert not (target / "plots").exists() and not (target / "report.html").exists()


def test_a_replication_sweep_is_drawn_against_the_seed(tmp_path: Path) -> None:
    sweep = simulate(tmp_path, "sweep", "--seeds", "1..3", "--jobs", "1")
    invoke("plot", str(sweep))
    assert [p.name for p in (sweep / "plots").iterdir()] == ["sweep_seeds.png"]
    assert pixels(sweep / "plots" / "sweep_seeds.png")[..., :3].std() > 0.05
    invoke("report", str(sweep))
    page = (sweep / "report.html").read_text()
    assert page.count("data:image/png") == 1 and "1..3 (3)" in page
    assert "messages.delivered" in page


def test_a_grid_table_gives_one_figure_per_parameter(tmp_path: Path) -> None:
    out = tmp_path / "grid"
    with run_directory(out, RunIdentity("sweep", "grid", seeds=(1, 2))) as staging:
        (staging / "sweep.json").write_text(json.dumps({"scenario": "grid", "seeds": [1, 2]}))
        lines = ["network.default.loss,nodes.sensors.count,metric,mean,ci_low,ci_high"]
        for loss in (0.0, 0.01, 0.05):
            for count in (100, 1000):
                for metric, mean in (("messages.delivered", count * (1 - loss) * 60),
                                     ("flows.sensors->gw1.latency_ms.p95", 5 + 100 * loss)):
                    lines.append(f"{loss},{count},{metric},{mean},{mean * 0.95},{mean * 1.05}")
        (staging / "points.csv").write_text("\n".join(lines) + "\n")
    printed = invoke("plot", str(out)).split()
    assert [Path(p).name for p in printed] == ["sweep_network.default.loss.png",
                                               "sweep_nodes.sensors.count.png"]
    first, second = (pixels(Path(p)) for p in printed)
    assert first[..., :3].std() > 0.05 and second[..., :3].std() > 0.05
    assert first.shape != second.shape or not np.array_equal(first, second)
    invoke("report", str(out))
    page = (out / "report.html").read_text()
    assert page.count("data:image/png") == 2 and "network.default.loss" in page


def test_simulate_validate_and_help_never_import_matplotlib(tmp_path: Path,
                                                            scenario_text: str) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(scenario_text)
    code = (
        "import sys\n"
        "from xedgesim.cli import main\n"
        "for args in (['simulate', sys.argv[1], '--out', sys.argv[2], '-q'],\n"
        "             ['validate', sys.argv[1]], ['--help'], ['plot', '--help']):\n"
        "    try:\n        main(args)\n"
        "    except SystemExit as done:\n        assert not done.code, (args, done.code)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(scenario), str(tmp_path / "r")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr
    assert (tmp_path / "r" / "timeseries.csv").is_file()


def test_a_real_grid_sweep_is_read_from_its_points_table(tmp_path: Path,
                                                         scenario_text: str) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(scenario_text)
    out = tmp_path / "grid"
    invoke("sweep", str(scenario), "--set", "network.default.loss=0,0.1", "--set",
           "nodes.sensors.count=5,10", "--seeds", "1..2", "--jobs", "1", "--out", str(out))
    printed = invoke("plot", str(out)).split()
    assert [Path(p).name for p in printed] == ["sweep_network.default.loss.png",
                                               "sweep_nodes.sensors.count.png"]
    invoke("report", str(out))
    page = (out / "report.html").read_text()
    assert page.count("data:image/png") == 2
    assert "<title>xedgesim sweep: pictures</title>" in page
    assert "aggregate_every: 20ms" in page  # the scenario, found by its recorded digest
