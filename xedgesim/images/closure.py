"""The modules of a package that some entry modules import, found by reading the source.

An image that runs the project's own Python carries only these files, so its build context and
its source hash change when the code it runs changes and stay put when any other module does.
The reading is static (``ast``), and deliberately generous: every ``import`` counts, also one
inside a function or under ``if TYPE_CHECKING:``, so a lazy import cannot be left out of the
image. Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` too, so they count.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from xedgesim.images.errors import BuildFailed


def module_file(package: Path, module: str) -> Path | None:
    """The source of ``module`` (dotted, starting with the package's name) in the package's
    directory ``package``, or None when it is no module there."""
    parts = module.split(".")[1:]
    plain = package.joinpath(*parts).with_suffix(".py") if parts else None
    if plain is not None and plain.is_file():
        return plain
    init = package.joinpath(*parts, "__init__.py")
    return init if init.is_file() else None


def _imported(tree: ast.Module, module: str, is_package: bool) -> Iterable[str]:
    """Every dotted name an import statement of ``module`` may load (modules or attributes)."""
    home = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join([*home[: len(home) - node.level + 1], *filter(None, [node.module])])
            else:
                base = node.module or ""
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def import_closure(package: Path, entries: Iterable[str]) -> tuple[Path, ...]:
    """The ``.py`` files of the package in directory ``package`` that importing ``entries``
    (dotted names starting with the package's name) may run, relative to ``package``, sorted."""
    entries = tuple(entries)
    name = entries[0].partition(".")[0] if entries else ""
    seen: set[str] = set()
    files: set[Path] = set()
    pending = list(entries)
    while pending:
        module = pending.pop()
        if module in seen or not (module == name or module.startswith(name + ".")):
            continue
        seen.add(module)
        source = module_file(package, module)
        if source is None:
            continue  # an attribute (``from x import name``), not a module
        files.add(source.relative_to(package))
        parent = module.rpartition(".")[0]
        if parent:
            pending.append(parent)
        try:
            tree = ast.parse(source.read_bytes(), filename=str(source))
        except SyntaxError as error:
            raise BuildFailed(f"{source}:{error.lineno}: cannot read its imports: "
                              f"{error.msg}") from None
        pending.extend(_imported(tree, module, source.name == "__init__.py"))
    missing = [entry for entry in entries if module_file(package, entry) is None]
    if missing:
        raise BuildFailed(f"{package}: no module {', '.join(missing)}")
    return tuple(sorted(files))
