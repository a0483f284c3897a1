"""Build contexts that carry the xedgesim package source (xedgesim/images/layered.py,
``ImageSpec.includes_package``): only the .py files, and a source hash that covers them."""

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import xedgesim
from xedgesim.images import registry
from xedgesim.images.errors import BuildFailed
from xedgesim.images.hashing import tree_hash
from xedgesim.images.layered import build_service, package_source, staged_context


def make_package(root: Path) -> Path:
    """A package named like ours: the services the gateway image runs import ``models``; the
    ``cli`` and ``compare`` modules are imported by nothing the image runs."""
    (root / "services" / "__pycache__").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "compare").mkdir()
    (root / "__init__.py").write_text("VERSION = 1\n")
    (root / "services" / "__init__.py").write_text("")
    (root / "services" / "gateway.py").write_text("from xedgesim.models import logic\n")
    (root / "services" / "protocol.py").write_text("from . import gateway\n")
    (root / "services" / "__pycache__" / "gateway.cpython-311.pyc").write_bytes(b"\0")
    (root / "services" / "notes.txt").write_text("not code\n")
    (root / "models" / "__init__.py").write_text("")
    (root / "models" / "logic.py").write_text("X = 1\n")
    (root / "compare" / "__init__.py").write_text("")
    (root / "compare" / "report.py").write_text("from xedgesim.models import logic\n")
    (root / "cli.py").write_text("import xedgesim.compare.report\n")
    return root


def make_context(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    (root / "bin" / "run").write_text("#!/bin/sh\n")
    (root / "bin" / "run").chmod(0o755)
    (root / "link").symlink_to("Dockerfile")
    return root


def listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


def test_without_a_package_the_context_is_used_as_it_is(tmp_path: Path) -> None:
    context = make_context(tmp_path / "broker")

    with staged_context(context, None) as staged:
        assert staged == context


def test_the_staged_context_adds_only_the_modules_the_image_runs(tmp_path: Path) -> None:
    context = make_context(tmp_path / "gateway")
    package = make_package(tmp_path / "pkg")

    with staged_context(context, package) as staged:
        assert listing(staged) == [
            "Dockerfile", "bin/run", "link", "xedgesim/__init__.py",
            "xedgesim/models/__init__.py", "xedgesim/models/logic.py",
            "xedgesim/services/__init__.py", "xedgesim/services/gateway.py",
            "xedgesim/services/protocol.py",
        ]
        assert (staged / "link").is_symlink() and (staged / "bin" / "run").stat().st_mode & 0o111
        kept = staged
    assert not kept.exists()  # a temporary copy, gone after the build
    assert listing(context) == ["Dockerfile", "bin/run", "link"]


def test_the_source_hash_follows_only_the_code_the_image_runs(tmp_path: Path) -> None:
    context = make_context(tmp_path / "gateway")
    package = make_package(tmp_path / "pkg")
    with staged_context(context, package) as staged:
        before = tree_hash(staged)
    (package / "services" / "__pycache__" / "other.pyc").write_bytes(b"\1")
    (package / "services" / "notes.txt").write_text("changed, but not code\n")
    (package / "compare" / "report.py").write_text("Y = 2  # not run by the image\n")
    (package / "cli.py").write_text("Y = 3\n")
    with staged_context(context, package) as staged:
        assert tree_hash(staged) == before
    (package / "models" / "logic.py").write_text("X = 2\n")
    with staged_context(context, package) as staged:
        assert tree_hash(staged) != before


def test_a_context_may_not_hold_its_own_xedgesim_directory(tmp_path: Path) -> None:
    context = make_context(tmp_path / "gateway")
    (context / "xedgesim").mkdir()
    (context / "xedgesim" / "stale.py").write_text("")

    with pytest.raises(BuildFailed, match="reserved for the package source"), staged_context(
        context, make_package(tmp_path / "pkg")
    ):
        pass


def test_build_service_sends_the_staged_context_and_labels_its_hash(tmp_path: Path) -> None:
    context = make_context(tmp_path / "gateway")
    package = make_package(tmp_path / "pkg")
    seen: list[tuple[list[str], str]] = []

    def build(**kwargs: Any) -> Any:
        path = Path(kwargs["path"])
        seen.append((listing(path), kwargs["labels"]["org.xedgesim.source-hash"]))
        return iter([])

    image = SimpleNamespace(id="sha256:x", attrs={"Size": 1}, tag=lambda *_: None)
    images = SimpleNamespace(get=lambda _tag: image)
    client = SimpleNamespace(api=SimpleNamespace(build=build), images=images)

    for with_package in (None, package):
        build_service(client, "gateway", context, "amd64", "b", "0.1.0", "arm64",
                      lambda _: None, with_package)

    (plain, plain_hash), (staged, staged_hash) = seen
    assert "xedgesim/models/logic.py" not in plain and "xedgesim/models/logic.py" in staged
    assert plain_hash == tree_hash(context) and staged_hash != plain_hash


def test_the_package_source_is_the_running_xedgesim() -> None:
    assert package_source() == Path(xedgesim.__file__).resolve().parent


def test_only_the_images_that_run_our_python_carry_the_package() -> None:
    carrying = {spec.name for spec in registry.IMAGES if spec.includes_package}

    assert "gateway" in carrying and "broker" not in carrying and "edge-host" not in carrying


def test_the_real_gateway_context_hash_ignores_unrelated_modules(tmp_path: Path) -> None:
    """On a copy of the real package: an edit to a module of xedgesim.compare keeps the
    gateway's context hash, an edit to a module the gateway imports changes it."""
    package = tmp_path / "xedgesim"
    shutil.copytree(package_source(), package,
                    ignore=shutil.ignore_patterns("__pycache__", "_project"))
    context = registry.contexts_dir() / "gateway"
    with staged_context(context, package) as staged:
        before = tree_hash(staged)
    unrelated = sorted((package / "compare").glob("*.py"))[-1]
    unrelated.write_text(unrelated.read_text() + "\n# an unrelated change\n")
    with staged_context(context, package) as staged:
        assert tree_hash(staged) == before
    (package / "units.py").write_text((package / "units.py").read_text() + "\n# changed\n")
    with staged_context(context, package) as staged:
        assert tree_hash(staged) != before
