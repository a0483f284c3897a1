"""Build contexts that carry the xedgesim package source (xedgesim/images/layered.py,
``ImageSpec.includes_package``): only the .py files, and a source hash that covers them."""

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
    (root / "sub" / "__pycache__").mkdir(parents=True)
    (root / "__init__.py").write_text("VERSION = 1\n")
    (root / "sub" / "mod.py").write_text("X = 1\n")
    (root / "sub" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (root / "sub" / "notes.txt").write_text("not code\n")
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


def test_the_staged_context_adds_only_the_package_python_files(tmp_path: Path) -> None:
    context = make_context(tmp_path / "gateway")
    package = make_package(tmp_path / "pkg")

    with staged_context(context, package) as staged:
        assert listing(staged) == [
            "Dockerfile", "bin/run", "link", "xedgesim/__init__.py", "xedgesim/sub/mod.py"
        ]
        assert (staged / "link").is_symlink() and (staged / "bin" / "run").stat().st_mode & 0o111
        kept = staged
    assert not kept.exists()  # a temporary copy, gone after the build
    assert listing(context) == ["Dockerfile", "bin/run", "link"]


def test_the_source_hash_follows_the_package_code(tmp_path: Path) -> None:
    context = make_context(tmp_path / "gateway")
    package = make_package(tmp_path / "pkg")
    with staged_context(context, package) as staged:
        before = tree_hash(staged)
    (package / "sub" / "__pycache__" / "other.pyc").write_bytes(b"\1")
    (package / "sub" / "notes.txt").write_text("changed, but not code\n")
    with staged_context(context, package) as staged:
        assert tree_hash(staged) == before
    (package / "sub" / "mod.py").write_text("X = 2\n")
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
    assert "xedgesim/sub/mod.py" not in plain and "xedgesim/sub/mod.py" in staged
    assert plain_hash == tree_hash(context) and staged_hash != plain_hash


def test_the_package_source_is_the_running_xedgesim() -> None:
    assert package_source() == Path(xedgesim.__file__).resolve().parent


def test_only_the_images_that_run_our_python_carry_the_package() -> None:
    carrying = {spec.name for spec in registry.IMAGES if spec.includes_package}

    assert "gateway" in carrying and "broker" not in carrying and "edge-host" not in carrying
