"""Content hashes that decide rebuilds (xedgesim/images/hashing.py)."""

from pathlib import Path

from xedgesim.images.hashing import base_key, short, tree_hash


def make_context(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "bin" / "run").write_text("#!/bin/sh\n")
    (root / "bin" / "run").chmod(0o755)
    return root


def test_tree_hash_depends_on_content_not_location(tmp_path: Path) -> None:
    first = make_context(tmp_path / "a")
    second = make_context(tmp_path / "elsewhere" / "b")

    assert tree_hash(first) == tree_hash(second)
    (second / "Dockerfile").write_text("FROM scratch\nLABEL x=y\n")
    assert tree_hash(first) != tree_hash(second)


def test_tree_hash_sees_the_executable_bit_and_renames(tmp_path: Path) -> None:
    context = make_context(tmp_path / "c")
    before = tree_hash(context)
    (context / "bin" / "run").chmod(0o644)
    assert tree_hash(context) != before
    (context / "bin" / "run").chmod(0o755)
    assert tree_hash(context) == before
    (context / "bin" / "run").rename(context / "bin" / "start")
    assert tree_hash(context) != before


def test_tree_hash_ignores_bytecode_and_caches(tmp_path: Path) -> None:
    context = make_context(tmp_path / "c")
    before = tree_hash(context)
    (context / "__pycache__").mkdir()
    (context / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (context / "notes.txt~").write_text("draft")
    (context / "empty-dir").mkdir()

    assert tree_hash(context) == before


def test_tree_hash_covers_symlink_targets(tmp_path: Path) -> None:
    context = make_context(tmp_path / "c")
    (context / "link").symlink_to("Dockerfile")
    before = tree_hash(context)
    (context / "link").unlink()
    (context / "link").symlink_to("bin/run")

    assert tree_hash(context) != before


def test_base_key_ignores_package_order_and_duplicates() -> None:
    assert base_key(["python3", "mosquitto"], "bookworm", 1) == base_key(
        ["mosquitto", "python3", "python3"], "bookworm", 1
    )


def test_base_key_changes_with_suite_recipe_and_packages() -> None:
    key = base_key(["mosquitto"], "bookworm", 1)
    assert key != base_key(["mosquitto"], "trixie", 1)
    assert key != base_key(["mosquitto"], "bookworm", 2)
    assert key != base_key(["mosquitto", "python3"], "bookworm", 1)


def test_short_is_a_prefix() -> None:
    key = base_key(["mosquitto"], "bookworm", 1)
    assert short(key) == key[:12] and len(short(key)) == 12
