"""Content hashes that decide when an image must be rebuilt.

A hash covers exactly what changes the result and nothing else (no timestamps, no absolute
paths), so an unchanged checkout anywhere on any machine gives the same keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from xedgesim.project import ignored

KEY_LENGTH = 12


def tree_hash(root: Path) -> str:
    """sha256 over a build context: relative paths, the executable bit, file contents and
    symlink targets, in sorted order; editor and bytecode droppings are ignored (the same
    files a wheel leaves out: ``xedgesim.project.ignored``)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if ignored(relative) or (path.is_dir() and not path.is_symlink()):
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        if path.is_symlink():
            digest.update(b"L" + str(path.readlink()).encode())
        else:
            digest.update(b"X" if path.stat().st_mode & 0o111 else b"F")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        digest.update(b"\n")
    return digest.hexdigest()


def base_key(packages: Iterable[str], suite: str, recipe: int) -> str:
    """sha256 over the Debian suite, the bootstrap recipe version and the sorted package set.

    The mirror is left out on purpose: any mirror of the same suite gives the same base.
    """
    text = "\n".join([f"suite={suite}", f"recipe={recipe}", *sorted(set(packages))])
    return hashlib.sha256(text.encode()).hexdigest()


def short(full_hash: str) -> str:
    """The first KEY_LENGTH hex digits: enough to tell builds apart in a tag."""
    return full_hash[:KEY_LENGTH]
