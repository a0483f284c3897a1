"""The docs cannot drift from the tool: every command they show is checked against the CLI.

* Every ``xedge …`` line in a fenced block of README.md or docs/*.md must parse with the real
  command tree (subcommand, options and their values), without running it.
* Every ``xedge …`` in inline code must name a real command, and every ``--option`` it shows
  must exist on that command (inline spans use placeholders such as ``S.yaml`` or ``N``).
* A transcript (a fenced block whose first line is ``$ xedge …`` followed by output) of a
  command that needs neither Docker nor a fleet is run, and its output must match the block
  line by line; only the wall-clock line (``… events in 0.22s wall (88,058 events/s)``) may
  differ. Transcripts of commands that need an engine or a fleet are parsed, not run here.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from xedgesim.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = {"simulate", "validate"}  # pure Python: no engine, no fleet
WALL_CLOCK = re.compile(r"^[\d,]+ events in [\d.]+s wall \([\d,]+ events/s\)$")
FENCE = re.compile(r"^\s*```")


@dataclass(frozen=True)
class Example:
    where: str  # file:line, for the failure message
    args: list[str]
    output: list[str] | None = None  # the lines shown after a `$ xedge …` line, if any

    def __str__(self) -> str:
        return f"{self.where}: xedge {shlex.join(self.args)}"


def _command_args(line: str) -> list[str] | None:
    """The arguments of an ``xedge`` command line, or None when the line is not one."""
    text = line.strip()
    text = text.removeprefix("$ ")
    for prefix in (".venv/bin/xedge ", "xedge "):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    else:
        return None
    text = re.split(r"\s{2,}#|\s#\s", text)[0]  # a trailing shell comment
    return shlex.split(text)


def _fenced_blocks(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number of the first content line, lines) of every fenced block."""
    lines = path.read_text().splitlines()
    start = None
    for number, line in enumerate(lines, 1):
        if FENCE.match(line):
            if start is None:
                start = number
            else:
                yield start + 1, lines[start:number - 1]
                start = None


def fenced_examples() -> list[Example]:
    examples = []
    for path in DOC_FILES:
        name = path.relative_to(ROOT)
        for first, block in _fenced_blocks(path):
            transcript = bool(block) and block[0].lstrip().startswith("$ xedge ")
            for offset, line in enumerate(block):
                args = _command_args(line) if not line.lstrip().startswith("→") else None
                if args is None:
                    continue
                output = None
                if transcript and offset == 0 and len(block) > 1 \
                        and not block[1].lstrip().startswith("$ "):
                    output = [text.rstrip() for text in block[1:]]
                examples.append(Example(f"{name}:{first + offset}", args, output))
    return examples


def inline_examples() -> list[Example]:
    examples = []
    for path in DOC_FILES:
        name = path.relative_to(ROOT)
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for span in re.findall(r"`(?:\.venv/bin/)?xedge ([^`]+)`", line):
                words = span.replace("\\|", "|").split()
                examples.append(Example(f"{name}:{number}", words))
    return examples


def _leaf(args: list[str]) -> tuple[click.Command, list[str]]:
    """The subcommand an argument list reaches, and the arguments left for it."""
    command: click.Command = main
    ctx = click.Context(main, info_name="xedge")
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(ctx, args[0])
        assert sub is not None, f"no command {args[0]!r}"
        command, args = sub, args[1:]
    return command, args


@pytest.mark.parametrize("example", fenced_examples(), ids=str)
def test_fenced_command_parses(example: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    # Parse and convert every option as a real invocation would, but run nothing. Paths in
    # the docs are examples (runs/stage-<time>/…), so they are not required to exist here.
    monkeypatch.setattr(click.Command, "invoke", lambda self, ctx: None)
    monkeypatch.setattr(click.Path, "convert", lambda self, value, param, ctx: value)
    result = CliRunner().invoke(main, example.args, catch_exceptions=False)
    assert result.exit_code == 0, f"{example}\n{result.output}"


@pytest.mark.parametrize("example", inline_examples(), ids=str)
def test_inline_command_exists(example: Example) -> None:
    command, rest = _leaf(example.args)
    known = {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
    for word in rest:
        option = re.match(r"\[?(--?[a-z][\w-]*)", word)
        if option:
            assert option[1] in known, f"{example}: {command.name} has no option {option[1]}"


@pytest.mark.parametrize(
    "example",
    [e for e in fenced_examples() if e.output is not None and _leaf(e.args)[0].name in RUNNABLE],
    ids=str,
)
def test_transcript_output_is_what_the_tool_prints(example: Example, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, example.args)
    printed = [line.rstrip() for line in result.output.splitlines()]
    assert len(printed) == len(example.output), f"{example}\n{result.output}"
    for shown, actual in zip(example.output, printed, strict=True):
        if WALL_CLOCK.match(shown):
            assert WALL_CLOCK.match(actual), f"{example}: {actual!r}"
        else:
            assert actual == shown, f"{example}: the docs show\n{shown}\nthe tool prints\n{actual}"


# -- the problems docs/scenario.md shows ---------------------------------------------------------

S = "name: s\nduration: 1min\n"
SENSORS = "  - {id: sensors, type: sensor, count: 2, interval: 1s, to: gw1}\n"
GW = "  - {id: gw1, type: gateway, aggregate_every: 10s, to: cloud}\n"
CLOUD = "  - {id: cloud, type: cloud}\n"
NODES = "nodes:\n" + SENSORS + GW + CLOUD
BROKER_FLEET = ("nodes:\n  - {id: sensors, type: sensor, count: 2, interval: 1s, to: broker}\n"
                "  - {id: broker, type: broker}\n")

# The input that produces each example of the "Problems reported" table of docs/scenario.md.
# A row added to the table without an input here fails test_every_documented_problem_has_an_input.
PROBLEM_INPUTS: dict[str, str | None] = {
    "s.yaml:4:3: invalid YAML: mapping values are not allowed in this context":
        S + "nodes: a\n b: c\n",
    "s.yaml:1:1: the scenario is empty": "",
    "nope.yaml: cannot read the scenario: No such file or directory": None,
    "s.yaml:1:7: 'name' in the scenario must be at most 64 letters, digits, '_', '.' and '-', "
    "start with a letter or digit and not contain '..', found '../../escape' (it names the run's "
    "directory; did you mean 'escape'?)": "name: ../../escape\nduration: 1min\n" + NODES,
    "s.yaml:3:38: 'count' in node 's' must be at most 10000000, found 1000000000":
        S + "nodes: [{id: s, type: sensor, count: 1000000000, interval: 1s, to: c},\n"
        "        {id: c, type: cloud}]\n",
    "s.yaml:3:1: duplicate key 'seed' (already given at line 2; YAML would silently keep only "
    "the last one)": "name: s\nseed: 1\nseed: 2\nduration: 1min\n" + NODES,
    "s.yaml:12:5: unknown key 'latncy' in the default link (did you mean 'latency'?)":
        S + NODES + "network:\n  links: []\n  default:\n    loss: 0\n    bandwidth: 1Mbit\n"
        "    latncy: 5ms\n",
    "'interval' is not a key of a gateway node; it belongs to sensor":
        S + "nodes:\n" + SENSORS + "  - {id: gw1, type: gateway, interval: 1s, to: cloud}\n"
        + CLOUD,
    "missing required key 'interval' in node 'sensors'":
        S + "nodes:\n  - {id: sensors, type: sensor, to: gw1}\n" + GW + CLOUD,
    "'seed' in the scenario must be a whole number, found 'x'": "seed: x\n" + S + NODES,
    "'latency' in the default link needs a unit: found the bare number 5 (write the unit after "
    "the number, e.g. '5s' or '5ms'; duration units: ns, us, ms, s, min, h)":
        S + NODES + "network: {default: {latency: 5}}\n",
    "'latency' in the default link needs a duration unit, not the bandwidth unit 'Mbit': found "
    "'5Mbit'": S + NODES + "network: {default: {latency: 5Mbit}}\n",
    "… has an unknown unit 'sec': found '5sec' (did you mean 's'? …)":
        S + NODES + "network: {default: {latency: 5sec}}\n",
    "'latency' … cannot be negative": S + NODES + "network: {default: {latency: -5ms}}\n",
    "'interval' … must be greater than zero":
        S + "nodes:\n  - {id: sensors, type: sensor, interval: 0s, to: gw1}\n" + GW + CLOUD,
    "'loss' in the default link must be between 0 and 1, found 1.5":
        S + NODES + "network: {default: {loss: 1.5}}\n",
    "duplicate node id 'gw1' (first used at line 18)":
        S + "nodes:\n" + SENSORS + "\n" * 13 + GW + CLOUD + GW,
    "node id 'sensors-1' clashes with an instance of node 'sensors'":
        S + NODES + "  - {id: sensors-1, type: cloud}\n",
    "'to' in node 'sensors' names an unknown node 'gw2' (did you mean 'gw1'?)":
        S + "nodes:\n  - {id: sensors, type: sensor, interval: 1s, to: gw2}\n" + GW + CLOUD,
    "'to' in node 's2' names 'sensors', which is a sensor; it must be a gateway, broker or cloud":
        S + NODES + "  - {id: s2, type: sensor, interval: 1s, to: sensors}\n",
    "'to' in node 'g2' names the node itself":
        S + NODES + "  - {id: g2, type: gateway, aggregate_every: 10s, to: g2}\n",
    "link #1 joins node 'gw1' to itself":
        S + NODES + "network: {links: [{between: [gw1, gw1], latency: 1ms}]}\n",
    "implementation 'docker' is not available for cloud nodes (available: python_model)":
        S + "nodes:\n" + SENSORS + GW + "  - {id: cloud, type: cloud, implementation: docker}\n",
    "node 'b2' runs in docker and needs 'image'":
        S + BROKER_FLEET + "  - {id: b2, type: broker, implementation: docker}\n",
    "'qos' in node 's2': QoS 2 is not supported":
        S + BROKER_FLEET + "  - {id: s2, type: sensor, interval: 1s, to: broker, qos: 2}\n",
    "… must be 0 or 1":
        S + BROKER_FLEET + "  - {id: s2, type: sensor, interval: 1s, to: broker, qos: 7}\n",
    "invalid topic 'site/+/temp' in node 'sensors': a publish topic cannot contain wildcards …":
        S + "nodes:\n  - {id: sensors, type: sensor, interval: 1s, to: broker,\n"
        "     topic: site/+/temp}\n"
        "  - {id: broker, type: broker}\n",
    "invalid topic filter 'a/#/b' …":
        S + BROKER_FLEET + "  - {id: c, type: cloud, subscribe: ['a/#/b']}\n",
    "'subscribe' in node 'c' needs a broker, and the scenario has none":
        S + NODES + "  - {id: c, type: cloud, subscribe: ['a/#']}\n",
    "fault #1 happens at 70s, after the scenario ends (1min)":
        S + NODES + "faults: [{at: 70s, node: gw1, action: crash}]\n",
    "restart of node 'gw1' at 10s, but it is not down then":
        S + NODES + "faults: [{at: 10s, node: gw1, action: restart}]\n",
    "link_up of the link gw1–cloud at 12s, but it is not down then":
        S + NODES + "faults: [{at: 12s, action: link_up, link: [gw1, cloud]}]\n",
    "'payload' in node 's2' can draw 400,000,000 bytes, more than the 268,435,455 bytes of "
    "MQTT's largest message":
        S + NODES + "  - {id: s2, type: sensor, interval: 1s, to: gw1, "
        "payload: {exponential: 10MB}}\n",
    "missing required key 'off_time' in 'on_off' of 'process' in node 's2'":
        S + NODES + "  - {id: s2, type: sensor, interval: 1s, to: gw1, "
        "process: {on_off: {on_time: 2s}}}\n",
    "'action' in fault #3 must be one of crash, … (did you mean 'crash'?)":
        S + NODES + "faults:\n  - {at: 1s, node: gw1, action: crash}\n"
        "  - {at: 2s, node: gw1, action: restart}\n  - {at: 3s, node: gw1, action: crashh}\n",
}

UNDOCUMENTED_ROWS = {"distributions"}  # a row naming conditions, not quoting a message


def documented_problems() -> list[str]:
    """The quoted messages of the "Problems reported" table, in table order."""
    text = (ROOT / "docs" / "scenario.md").read_text()
    table = text.split("## Problems reported", 1)[1].split("\n## ", 1)[0]
    examples = []
    for row in table.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split(" | ")]
        if len(cells) == 2 and cells[0] not in ("kind", "---", *UNDOCUMENTED_ROWS):
            examples += re.findall(r"`([^`]+)`", cells[1])
    return examples


def test_every_documented_problem_has_an_input() -> None:
    documented = documented_problems()
    assert set(documented) == set(PROBLEM_INPUTS), (
        f"documented without an input: {sorted(set(documented) - set(PROBLEM_INPUTS))}; "
        f"inputs no longer documented: {sorted(set(PROBLEM_INPUTS) - set(documented))}")


@pytest.mark.parametrize("message", documented_problems())
def test_documented_problem_is_what_validate_prints(message: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    text = PROBLEM_INPUTS.get(message)
    name = "nope.yaml" if text is None else "s.yaml"
    if text is not None:
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", name])
    assert result.exit_code == 2, result.output
    position = 0
    for part in filter(None, (piece.strip() for piece in message.split("…"))):
        found = result.output.find(part, position)
        assert found >= 0, f"the docs show\n{message}\nvalidate prints\n{result.output}"
        position = found + len(part)


# -- docs/experiments.md: the sweep's files as the code writes them ------------------------------


def test_experiments_doc_names_every_column_and_key_a_sweep_writes(tmp_path: Path) -> None:
    """The columns of runs.csv and points.csv (besides the parameter and metric columns) and
    the keys of sweep.json are each named in the tables section, and the settings left out of
    the metrics and the --cluster schemes are each named on the page."""
    from xedgesim.sweep.executors import CLUSTERS
    from xedgesim.sweep.grid import Point, option_parameter
    from xedgesim.sweep.stats import NOT_METRIC_PREFIXES, NOT_METRICS
    from xedgesim.sweep.tables import write_tables

    text = (ROOT / "docs" / "experiments.md").read_text()
    tables = text.split("## The tables", 1)[1].split("\n## ", 1)[0]
    parameter = option_parameter("network.default.loss=0,0.1")
    points = [Point(f"p{n}", {"network.default.loss": loss}, "") for n, loss in enumerate((0, 0.1))]
    metrics = {(point.id, seed): {"messages.delivered": seed}
               for point in points for seed in (1, 2)}
    document = write_tables(tmp_path, [parameter], points, [1, 2], metrics,
                            {"name": "s", "file": "s.yaml", "sha256": "0" * 64})
    for table in ("runs", "points"):
        header = (tmp_path / f"{table}.csv").read_text().splitlines()[0].split(",")
        for column in header:
            if column not in ("network.default.loss", "messages.delivered"):
                assert f"`{column}`" in tables, f"{table}.csv column {column!r} not documented"
    for key in document:
        assert f"`{key}`" in tables, f"sweep.json key {key!r} not documented"
    for setting in [*NOT_METRICS, *NOT_METRIC_PREFIXES]:
        assert f"`{setting}" in tables, f"setting {setting!r} not documented"
    for scheme in CLUSTERS:
        assert f"--cluster {scheme}" in text, f"--cluster {scheme}… not documented"
