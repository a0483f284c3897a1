"""Packaging hook: a wheel (and an sdist) carries the project's non-Python files.

``xedge images``, ``stage``, ``deploy`` and ``verify`` need the image build contexts, the
Ansible content and the infra tests, which live at the top of the repository. ``build_py``
copies them into ``xedgesim/_project/`` of the build, ``sdist`` into the source archive; what
ships is decided by ``xedgesim/project.py`` (``SHIPPED``, ``shipped_files``), which the
installed package also uses to find them. An editable install copies nothing: it runs from
the checkout, which has them. Everything else is configured in pyproject.toml.
"""

from __future__ import annotations

import runpy
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

SOURCE = Path(__file__).resolve().parent
# project.py imports xedgesim.errors; a PEP 517 frontend need not put the source on sys.path
sys.path.insert(0, str(SOURCE))
project = runpy.run_path(str(SOURCE / "xedgesim" / "project.py"))


def copy_shipped(target: Path) -> None:
    for relative in project["shipped_files"](SOURCE):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SOURCE / relative, destination)


class BuildPyWithProjectFiles(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            target = Path(self.build_lib) / "xedgesim" / project["PACKAGED"]
            shutil.rmtree(target, ignore_errors=True)  # nothing stale from an earlier build
            copy_shipped(target)


class SdistWithProjectFiles(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        copy_shipped(Path(base_dir))


setup(cmdclass={"build_py": BuildPyWithProjectFiles, "sdist": SdistWithProjectFiles})
