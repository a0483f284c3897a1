"""The base image's Debian package list: one package per line, ``#`` starts a comment.

Parsing is strict and reports every bad line with ``file:line:col`` at once, because a typo
would otherwise surface minutes later as a debootstrap failure.
"""

from __future__ import annotations

import re
from pathlib import Path

from xedgesim.images.errors import ImagesError

# Debian policy 5.6.1: lower case letters, digits, + - . ; at least two characters.
_PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")


class PackageListError(ImagesError):
    """The package list has lines that are not package names."""


def parse_package_list(text: str, source: str = "<string>") -> tuple[str, ...]:
    """The sorted, de-duplicated package names in ``text``; raise with every bad line."""
    names: set[str] = set()
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0]
        stripped = content.strip()
        if not stripped:
            continue
        column = len(content) - len(content.lstrip()) + 1
        if not _PACKAGE_NAME.fullmatch(stripped):
            problems.append(f"{source}:{number}:{column}: not a Debian package name: {stripped!r}")
            continue
        names.add(stripped)
    if problems:
        raise PackageListError("\n".join(problems))
    if not names:
        raise PackageListError(f"{source}:1:1: the package list is empty")
    return tuple(sorted(names))


def read_package_list(path: Path) -> tuple[str, ...]:
    """Read and parse a package list file."""
    return parse_package_list(path.read_text(encoding="utf-8"), source=str(path))
