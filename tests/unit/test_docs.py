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
