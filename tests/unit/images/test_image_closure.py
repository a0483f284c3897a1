"""The modules an image that runs our Python carries (xedgesim/images/closure.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xedgesim.images.closure import import_closure
from xedgesim.images.errors import BuildFailed
from xedgesim.images.layered import ENTRY_MODULES, package_source, staged_context
from xedgesim.images.registry import contexts_dir


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def closure(root: Path, *entries: str) -> list[str]:
    return [path.as_posix() for path in import_closure(root, entries)]


def test_every_kind_of_import_counts_and_parents_run(tmp_path: Path) -> None:
    package = write(tmp_path / "pkg", {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/main.py": ("from . import rel\nfrom ..b import sub\nimport pkg.c.deep\n"
                      "def later():\n    from pkg.d import name\n"),
        "a/rel.py": "",
        "b/__init__.py": "",
        "b/sub.py": "",
        "c/__init__.py": "",
        "c/deep.py": "",
        "d.py": "name = 1\n",
        "unused.py": "import pkg.a.main\n",
    })

    assert closure(package, "pkg.a.main") == [
        "__init__.py", "a/__init__.py", "a/main.py", "a/rel.py", "b/__init__.py", "b/sub.py",
        "c/__init__.py", "c/deep.py", "d.py",
    ]


def test_a_package_init_imports_relative_to_itself(tmp_path: Path) -> None:
    package = write(tmp_path / "pkg", {"__init__.py": "", "a/__init__.py": "from .x import y\n",
                                       "a/x.py": "y = 1\n"})

    assert closure(package, "pkg.a") == ["__init__.py", "a/__init__.py", "a/x.py"]


def test_an_unreadable_module_names_its_file_and_line(tmp_path: Path) -> None:
    package = write(tmp_path / "pkg", {"__init__.py": "", "bad.py": "x = 1\nimport (\n"})

    with pytest.raises(BuildFailed, match=r"bad\.py:2: cannot read its imports"):
        import_closure(package, ["pkg.bad"])


def test_an_entry_that_is_no_module_is_an_error(tmp_path: Path) -> None:
    package = write(tmp_path / "pkg", {"__init__.py": ""})

    with pytest.raises(BuildFailed, match=r"no module pkg\.gone"):
        import_closure(package, ["pkg.gone"])


def test_the_closure_holds_every_module_the_gateway_really_imports() -> None:
    """A fresh interpreter imports the entry modules; each xedgesim module it loaded is in the
    closure, so a new import cannot be left out of the image."""
    code = ("import sys\n" + "".join(f"import {m}\n" for m in ENTRY_MODULES)
            + "print('\\n'.join(m.__file__ for n, m in sys.modules.items()"
              " if n.split('.')[0] == 'xedgesim'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    package = package_source()
    loaded = {Path(line).resolve().relative_to(package) for line in done.stdout.split()}

    assert loaded and loaded <= set(import_closure(package, ENTRY_MODULES))


def test_the_staged_gateway_context_runs_on_its_own(tmp_path: Path) -> None:
    """Only the staged files on the path: both services import and answer --help."""
    with staged_context(contexts_dir() / "gateway", package_source()) as staged:
        assert not (staged / "xedgesim" / "cli.py").exists()
        assert not (staged / "xedgesim" / "compare").exists()
        env = {**os.environ, "PYTHONPATH": str(staged), "PYTHONDONTWRITEBYTECODE": "1"}
        for module in ENTRY_MODULES:
            done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=tmp_path,
                                  env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            where = subprocess.run(
                [sys.executable, "-c", f"import {module} as m; print(m.__file__)"],
                cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
            assert Path(where.stdout.strip()).is_relative_to(staged)
