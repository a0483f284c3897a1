"""Reading a user's file with a bound: the one way xedge reads a file it is handed.

Opened non-blocking so that a FIFO cannot hang us, checked with ``fstat`` so that a device
(``/dev/zero``) is never read, and read with a bound so that a file growing while we read
cannot exhaust memory either. Callers turn ``Unreadable`` into their own located error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal


class Unreadable(Exception):
    """Why a file could not be read. ``kind``: ``unreadable`` (``reason`` says why),
    ``directory``, ``special`` (a FIFO, a device, a socket) or ``too_large``."""

    def __init__(self, kind: Literal["unreadable", "directory", "special", "too_large"],
                 reason: str = "") -> None:
        super().__init__(reason or kind)
        self.kind = kind
        self.reason = reason


def read_bounded(path: str | Path, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit`` of them; anything else raises ``Unreadable``."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError) as error:  # ValueError: a NUL in the path
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise Unreadable("unreadable", reason) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise Unreadable("directory")
        if not stat.S_ISREG(mode):
            raise Unreadable("special")
        chunks, size = [], 0
        with os.fdopen(fd, "rb", closefd=False) as stream:
            while size <= limit:
                chunk = stream.read(limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except OSError as error:
        raise Unreadable("unreadable", error.strerror or str(error)) from None
    finally:
        os.close(fd)
    if size > limit:
        raise Unreadable("too_large")
    return b"".join(chunks)
