"""Files written whole or not at all: the one way xedgesim replaces a file a reader may open.

A file is written to a temporary file in its own directory (a rename across filesystems is not
atomic), flushed to disk with ``fsync``, then renamed over its place with ``os.replace``. A
reader, a crash, SIGKILL or a full disk therefore leaves the old file or none, never half a
manifest or report; at worst a hidden ``.<name>.<random>.part`` stays behind after SIGKILL.
JSON is written with ``allow_nan=False``: ``NaN`` is not JSON and other tools refuse it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from xedgesim.interrupts import deferred

DEFAULT_MODE = 0o644


@contextmanager
def replacing(path: Path, mode: int = DEFAULT_MODE) -> Iterator[IO[bytes]]:
    """A binary handle whose bytes take ``path``'s place when the block ends without error.

    For output streamed in chunks (an image archive); an exception in the block leaves
    ``path`` as it was and removes the temporary file.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part",
                                         dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        with deferred():  # a signal lands after the rename, not between it and the cleanup
            os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_bytes(path: Path, data: bytes, mode: int = DEFAULT_MODE) -> Path:
    with replacing(path, mode) as stream:
        stream.write(data)
    return Path(path)


def write_text(path: Path, text: str, mode: int = DEFAULT_MODE) -> Path:
    return write_bytes(path, text.encode("utf-8"), mode)


def json_text(document: Any, *, indent: int = 2, sort_keys: bool = True) -> str:
    """The JSON xedgesim writes: indented, a final newline, no ``NaN``/``Infinity``."""
    return json.dumps(document, indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n"


def write_json(path: Path, document: Any, *, mode: int = DEFAULT_MODE,
               sort_keys: bool = True) -> Path:
    """``document`` as JSON in ``path``, whole or not at all; a value JSON cannot hold
    (``NaN``) raises ``ValueError`` before anything is written."""
    return write_text(path, json_text(document, sort_keys=sort_keys), mode)
