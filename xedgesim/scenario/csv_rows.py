"""The rows of a CSV file a scenario names (a sensor's arrival trace, a link's trace), each
located at its line and column so that every mistake in it is reported where it is written.

Both files have the same shape: a header naming the columns, then one row per line, ``#``
lines and blank lines skipped. This reads that shape, and bounds it: at most ``most_rows``
rows, and at most ``MAX_PROBLEMS`` problems reported before the rest is left unread, so that a
file in the wrong format costs ten messages, not a million. What the cells mean is the
caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from xedgesim.scenario.model import Location
from xedgesim.scenario.reader import Reader

MAX_PROBLEMS = 10
"""Problems reported in one file before the rest is left unread."""

Field = tuple[int, str]
"""A cell: its 0-based column in the line and its text without surrounding blanks."""


def located_rows(reader: Reader, path: str, text: str, what: str, most_rows: int,
                 header: Callable[[int, list[Field]], list[str] | None],
                 example: str) -> Iterator[tuple[int, dict[str, Field]]]:
    """Each row of ``text`` (the file ``path``, called ``what`` in messages) as its line
    number and its cells by column name.

    ``header`` reads the first row, given its line number and cells: the column names, or
    None after reporting what is wrong with it. A row whose number of cells is not the
    header's, a file with no header (``example`` says what it should start with) and a file
    of more rows than ``most_rows`` are reported here; the iteration ends early after a
    problem that makes the rest meaningless, so a caller knows the file is good only if no
    problem was reported while it read it.
    """
    before = len(reader.problems)
    columns: list[str] | None = None
    rows = 0
    for number, line in enumerate(text.splitlines(), 1):
        if len(reader.problems) - before >= MAX_PROBLEMS:
            reader.report(Location(path, number, 1), f"the rest of {what} is not checked "
                                                     f"after {MAX_PROBLEMS} problems")
            return
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = _fields(line)
        if columns is None:
            columns = header(number, fields)
            if columns is None:
                return
            continue
        if rows == most_rows:
            reader.report(Location(path, number, 1), f"{what} has more than {most_rows:,} rows",
                          "see 'Limits' in docs/scenario.md")
            return
        rows += 1
        if len(fields) != len(columns):
            reader.report(Location(path, number, 1), f"a row of {what} has {len(fields)} "
                          f"fields, the header {len(columns)} ({','.join(columns)})")
            continue
        yield number, dict(zip(columns, fields, strict=True))
    if columns is None:
        reader.report(Location(path, 0, 0), f"{what} is empty", example)


def _fields(line: str) -> list[Field]:
    fields, start = [], 0
    for part in line.split(","):
        fields.append((start + len(part) - len(part.lstrip()), part.strip()))
        start += len(part) + 1
    return fields
