"""``xedge calibrate RUN --scenario S.yaml -o links.yaml``: parse options, fit, write.

Every input is read and checked, and every output path checked, before anything is written;
the overlay (and the JSON report) are written whole or not at all (``xedgesim.atomic``).
Bad input is one located message and exit 2 (``LazyGroup``); Ctrl-C or SIGTERM stops at once.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from xedgesim import __version__
from xedgesim.calibrate.estimators import MIN_DELAY_SAMPLES, fit_delay, fit_loss
from xedgesim.calibrate.output import LinkFit, link_delay, overlay_yaml, report_table
from xedgesim.calibrate.records import read_records
from xedgesim.calibrate.samples import link_samples
from xedgesim.compare.report import check_outputs, write_whole
from xedgesim.compare.runs import CompareInputError, read_run
from xedgesim.interrupts import exit_code, signal_name, signals_as_interrupt
from xedgesim.scenario import load_scenario

RECORDS = "records.csv"


@dataclass(frozen=True)
class Calibration:
    """What ``calibrate`` fitted, and the notes it has for the user."""

    fits: list[LinkFit]
    notes: list[str]
    overlay: str  # the overlay file's text


def calibrate(run_dir: Path, scenario_path: Path) -> Calibration:
    """Fit every link the run's records show; nothing is written here."""
    scenario = load_scenario(scenario_path)
    run = read_run(run_dir)
    if run.sweep:
        raise CompareInputError(
            f"{run_dir}: a sweep; calibrate from one run directory (it holds {RECORDS})")
    records_path = Path(run_dir) / RECORDS
    if not records_path.exists():
        raise CompareInputError(
            f"{records_path}: no such file; calibration needs per-message records "
            f"(xedge simulate S.yaml --records, or a fleet run)")
    notes = []
    if run.scenario != scenario.name:
        notes.append(f"note: {run_dir} is a run of scenario {run.scenario!r}, "
                     f"{scenario_path} is {scenario.name!r}")
    flows, digest = read_records(records_path, {spec.id for spec in scenario.nodes})
    metrics = run.samples[0]
    sizes = {}
    for name in flows:
        rate = metrics.get(f"flows.{name}.throughput.bytes_per_s")
        if rate is not None and rate.value > 0:
            sizes[name] = rate.quantum
    duration_ns = round(run.duration_s * 1e9)
    fits = []
    for samples in link_samples(flows, scenario, sizes, duration_ns):
        delay = fit_delay(samples.delays_ns) if len(samples.delays_ns) >= MIN_DELAY_SAMPLES \
            else None
        loss = fit_loss(samples.failures, samples.trials) if samples.trials else None
        fits.append(LinkFit(samples, delay, loss))
        for share in samples.flows:
            if share.utilisation is not None and share.utilisation > 0.5:
                notes.append(f"note: {share.name} used {share.utilisation:.0%} of the link's "
                             "bandwidth: queueing is inside its delays, and in the fitted "
                             "latency and jitter")
    seed = run.seeds[0]
    header = [
        f"Network overlay written by xedge calibrate (xedgesim {__version__}).",
        f"Fitted from {records_path} (sha256 {digest[:16]}…): scenario {run.scenario}, "
        f"seed {seed}, mode {run.mode}.",
        f"Use it with: xedge simulate {scenario_path} --network <this file>",
        "Estimators, goodness of fit and how to read them: docs/parity.md, 'Calibration'.",
        "",
    ]
    return Calibration(fits, notes, overlay_yaml(fits, header))


def json_report(calibration: Calibration, run_dir: Path, scenario_path: Path) -> bytes:
    """The fits with their numbers, for tools: one object per link."""
    links = []
    for fit in calibration.fits:
        s = fit.samples
        entry: dict[str, object] = {
            "link": [s.a, s.b],
            "flows": [{"flow": share.name, "delay_samples": share.delays,
                       "trials": share.trials, "failures": share.failures,
                       "serialisation_ns": share.serialisation_ns,
                       "utilisation": share.utilisation, "left_out": share.left_out}
                      for share in s.flows],
            "written": fit.values(),
        }
        if fit.delay is not None:
            latency, _ = link_delay(fit.delay)
            entry["delay"] = {
                "chosen": fit.delay.chosen.family,
                "reason": fit.delay.reason,
                "latency_ns": latency,
                "candidates": [{"family": c.family, "params_ns": c.params, "n": c.n,
                                "log_likelihood": _finite(c.log_likelihood),
                                "ks_d": c.ks_d, "ks_p": c.ks_p}
                               for c in fit.delay.candidates],
            }
        if fit.loss is not None:
            entry["loss"] = {"failures": fit.loss.failures, "trials": fit.loss.trials,
                             "p": fit.loss.p, "wilson_95": [fit.loss.low, fit.loss.high]}
        links.append(entry)
    document = {"run": str(run_dir), "scenario": str(scenario_path), "links": links}
    return (json.dumps(document, indent=2, allow_nan=False) + "\n").encode()


def _finite(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


@click.command("calibrate")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option("--scenario", "scenario_path", required=True, type=click.Path(path_type=Path),
              metavar="S.yaml", help="The scenario the run ran.")
@click.option("--out", "-o", "out", required=True, type=click.Path(path_type=Path),
              metavar="FILE", help="Where to write the network overlay (YAML).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), metavar="FILE",
              help="Also write the fits and their statistics as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="Print no table.")
def calibrate_command(run_dir: Path, scenario_path: Path, out: Path, json_path: Path | None,
                      quiet: bool) -> None:
    """Fit the scenario's links (latency, jitter, loss) to a run's records.

    RUN is a run directory with records.csv: a fleet run, or xedge simulate --records.
    The overlay it writes is read by xedge simulate --network; docs/parity.md explains
    the estimators and the goodness-of-fit figures.

    \b
    Example:
      xedge calibrate runs/fleet --scenario scenarios/quickstart.yaml -o links.yaml
      xedge simulate scenarios/quickstart.yaml --network links.yaml
    """
    inputs = [Path(run_dir) / RECORDS, Path(run_dir) / "summary.json", scenario_path]
    check_outputs({"--out": out, "--json": json_path}, inputs)
    written: list[Path] = []
    with signals_as_interrupt():
        try:
            result = calibrate(run_dir, scenario_path)
            write_whole(out, result.overlay.encode("utf-8"), "--out")
            written.append(out)
            if json_path is not None:
                write_whole(json_path, json_report(result, run_dir, scenario_path), "--json")
                written.append(json_path)
        except KeyboardInterrupt as error:
            done = f"{' and '.join(map(str, written))} written whole, nothing else" if written \
                else "nothing was written"
            click.echo(f"interrupted ({signal_name(error)}): {done}", err=True)
            sys.exit(exit_code(error))
    for note in result.notes:
        click.echo(note, err=True)
    if not quiet:
        click.echo(report_table(result.fits))
    fitted = sum(1 for fit in result.fits if fit.values())
    click.echo(f"{fitted} of {len(result.fits)} links fitted; overlay in {out}")
