"""``xedge report``: one HTML file that holds everything and opens offline.

The figures are embedded as ``data:`` URIs, the style sheet is inline, nothing is fetched: the
file can be mailed or archived as it is. It shows the figures, the summary (per flow for a
run; each headline metric's mean and 95 % CI for a sweep), the scenario text and where the
results come from (versions, seed, scenario digest). A short script marks on ``<body>`` how
many images decoded (``data-images``), which a headless browser can read back.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import platform
from pathlib import Path

from xedgesim.plots import FIGURES
from xedgesim.plots.rundata import RunData
from xedgesim.plots.sweepdata import SweepData

STYLE = """
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 2em auto; max-width: 60em;
       color: #222; background: #fff; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child, table.facts td { text-align: left; }
img { max-width: 100%; display: block; margin: 0.5em 0 1.5em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
.note { color: #666; font-size: 0.85em; }
"""
SCRIPT = """
window.addEventListener("load", function () {
  var images = document.images, loaded = 0;
  for (var i = 0; i < images.length; i++) {
    if (images[i].complete && images[i].naturalWidth > 0) { loaded++; }
  }
  document.body.setAttribute("data-images", loaded + "/" + images.length);
});
"""


def render_report(data: RunData | SweepData, images: list[tuple[str, str, bytes]]) -> str:
    """The whole report as text; ``images`` as :func:`xedgesim.plots.output.draw_all` gives."""
    is_run = isinstance(data, RunData)
    name = data.summary["scenario"] if isinstance(data, RunData) else _sweep_name(data)
    title = f"xedgesim {'run' if is_run else 'sweep'}: {name}"
    parts = [f"<h1>{_e(title)}</h1>", "<h2>Provenance</h2>",
             _table(_provenance(data), css="facts")]
    parts += ["<h2>Summary</h2>", _run_summary(data) if isinstance(data, RunData)
              else _sweep_summary(data)]
    parts.append("<h2>Figures</h2>")
    for kind, file_name, png in images:
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(f"<h3>{_e(FIGURES[kind].title)}</h3>")
        parts.append(f'<img alt="{_e(file_name)}" src="data:image/png;base64,{encoded}">')
    notes = data.notes if isinstance(data, RunData) else []
    parts += [f'<p class="note">{_e(note)}</p>' for note in notes]
    text = data.scenario_text if isinstance(data, RunData) else _sweep_scenario(data)
    if text is not None:
        parts += ["<h2>Scenario</h2>", f"<pre>{_e(text)}</pre>"]
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n"
            f"<script>{SCRIPT}</script>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _provenance(data: RunData | SweepData) -> list[tuple[str, str]]:
    import matplotlib
    import numpy

    from xedgesim import __version__

    marker = data.marker
    rows = [("directory", str(data.directory)), ("kind", marker["kind"]),
            ("written by", f"xedgesim {marker.get('xedgesim_version', '?')}")]
    if isinstance(data, RunData):
        summary = data.summary
        rows += [("seed", str(summary.get("seed"))), ("mode", str(summary.get("mode"))),
                 ("virtual duration", f"{summary['duration_s']:g} s"),
                 ("events processed", f"{summary.get('events_processed', 0):,}")]
        if data.scenario_text is not None:
            digest = hashlib.sha256(data.scenario_text.encode("utf-8")).hexdigest()
            rows.append(("scenario sha256", digest))
        overlay = summary.get("network_overlay")
        if isinstance(overlay, dict):
            rows.append(("network overlay", ", ".join(f"{k} {v}" for k, v in overlay.items())))
    else:
        seeds = data.sweep.get("seeds", [])
        rows += [("seeds", _seeds_text(seeds)), ("parameters", ", ".join(data.parameters)
                                                 or "none (replications over seeds)")]
        if data.table is not None:
            rows.append(("points table", data.table.name))
        scenario = data.sweep.get("scenario")
        if isinstance(scenario, dict):
            rows += [("scenario file", str(scenario.get("file"))),
                     ("scenario sha256", str(scenario.get("sha256")))]
        for parameter in data.sweep.get("grid", []):
            if isinstance(parameter, dict):
                values = ", ".join(str(v) for v in parameter.get("values", []))
                rows.append((f"grid: {parameter.get('path')}", values))
    rows.append(("report drawn with", f"xedgesim {__version__}, numpy {numpy.__version__}, "
                 f"matplotlib {matplotlib.__version__}, Python {platform.python_version()}"))
    return rows


def _run_summary(data: RunData) -> str:
    rows = [("flow", "sent", "delivered", "lost", "in flight", "p50 ms", "p95 ms", "p99 ms",
             "max ms")]
    for name, flow in data.summary["flows"].items():
        latency = flow.get("latency_ms", {})
        rows.append((name, f"{flow['sent']:,}", f"{flow['delivered']:,}",
                     f"{sum(flow['lost'].values()):,}", f"{flow.get('in_flight', 0):,}",
                     *(f"{latency.get(q, 0):.3f}" for q in ("p50", "p95", "p99", "max"))))
    for node, latency in data.summary.get("end_to_end_ms", {}).items():
        rows.append((f"end to end at {node}", "", f"{latency['count']:,}", "", "",
                     *(f"{latency.get(q, 0):.3f}" for q in ("p50", "p95", "p99", "max"))))
    return _table(rows, header=True)


def _sweep_summary(data: SweepData) -> str:
    wanted = set(data.metrics())
    rows = [(*data.parameters, "metric", "mean", "95 % CI")]
    for row in data.rows:
        if row["metric"] not in wanted:
            continue
        band = ("n/a" if math.isnan(row["ci_low"])
                else f"{row['ci_low']:,.3f} … {row['ci_high']:,.3f}")
        rows.append((*(str(row[p]) for p in data.parameters), row["metric"],
                     f"{row['mean']:,.3f}", band))
    return _table(rows, header=True)


def _sweep_name(data: SweepData) -> str:
    scenario = data.sweep.get("scenario")
    if isinstance(scenario, dict):
        return str(scenario.get("name", data.directory.name))
    return str(scenario or data.directory.name)


def _sweep_scenario(data: SweepData) -> str | None:
    """The scenario the sweep varied: its file when it still has the digest the sweep
    recorded, else the first point's scenario, or a replication's copy in its first seed."""
    from xedgesim.plots.rundata import read_text

    scenario = data.sweep.get("scenario")
    if isinstance(scenario, dict) and isinstance(scenario.get("file"), str):
        from xedgesim.bounded import Unreadable, read_bounded
        from xedgesim.scenario.limits import MAX_FILE_BYTES

        try:
            text = read_bounded(scenario["file"], MAX_FILE_BYTES)
        except Unreadable:
            text = b""
        if hashlib.sha256(text).hexdigest() == scenario.get("sha256"):
            return text.decode("utf-8", errors="replace")
    candidates = [*sorted(data.directory.glob("points/*.yaml"))[:1],
                  *sorted(data.directory.glob("seed-*/scenario.yaml"))[:1]]
    return read_text(candidates[0]) if candidates else None


def _seeds_text(seeds: list) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}..{seeds[-1]} ({len(seeds)})"
    return ", ".join(str(seed) for seed in seeds)


def _table(rows: list[tuple[str, ...]], *, header: bool = False, css: str = "") -> str:
    lines = [f'<table class="{css}">' if css else "<table>"]
    for number, row in enumerate(rows):
        cell = "th" if header and number == 0 else "td"
        lines.append("<tr>" + "".join(f"<{cell}>{_e(str(v))}</{cell}>" for v in row) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def default_path(directory: Path) -> Path:
    return Path(directory) / "report.html"
