"""Problems found in a scenario file, and the one exception that carries all of them.

A user fixing a scenario wants every mistake at once, each with the place to look, so the loader
gathers ``Problem`` values instead of raising on the first one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xedgesim.errors import BadInput
from xedgesim.scenario.model import Location


@dataclass(frozen=True)
class Problem:
    """One mistake: where it is, what is wrong, and (if we can tell) how to fix it."""

    location: Location | None
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = self.message if self.hint is None else f"{self.message} ({self.hint})"
        return text if self.location is None else f"{self.location}: {text}"

    def sort_key(self) -> tuple[int, str, int, int, str]:
        """Problems without a place (e.g. an unreadable file) come first, then by position."""
        if self.location is None:
            return (0, "", 0, 0, self.message)
        loc = self.location
        return (1, loc.file, loc.line, loc.column, self.message)


class ScenarioError(BadInput):
    """A scenario could not be loaded; ``problems`` holds every problem that was found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems, key=Problem.sort_key))
        super().__init__(self.report())

    def report(self) -> str:
        """All problems, one per line, in file order: the text ``xedge validate`` prints."""
        return "\n".join(str(problem) for problem in self.problems)
