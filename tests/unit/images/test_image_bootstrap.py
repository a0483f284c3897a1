"""The base rootfs recipe, without running debootstrap (xedgesim/images/bootstrap.py)."""

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from xedgesim.images import bootstrap
from xedgesim.images.bootstrap import BaseSpec, debootstrap_command, ensure_base, finish_rootfs
from xedgesim.images.errors import BuildFailed, HostNotReady

SPEC = BaseSpec(("mosquitto", "python3"), "bookworm", "http://mirror.example/debian")


def test_spec_key_and_tag() -> None:
    assert len(SPEC.full_key) == 64 and SPEC.key == SPEC.full_key[:12]
    assert SPEC.tag("arm64") == f"xedgesim/base:{SPEC.key}-arm64"
    assert BaseSpec(SPEC.packages, SPEC.suite, "http://other/debian").key == SPEC.key


def test_debootstrap_command() -> None:
    command = debootstrap_command("/usr/sbin/debootstrap", SPEC, "arm64", Path("/t/rootfs"))

    assert command == [
        "/usr/sbin/debootstrap",
        "--variant=minbase",
        "--arch=arm64",
        "--components=main",
        "--include=mosquitto,python3",
        "bookworm",
        "/t/rootfs",
        "http://mirror.example/debian",
    ]


def test_missing_debootstrap_points_at_setup_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap.shutil, "which", lambda *_a, **_k: None)

    with pytest.raises(HostNotReady, match="scripts/setup-host"):
        bootstrap.check_host("amd64", "amd64")


def test_foreign_arch_needs_the_qemu_handler(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bootstrap.shutil, "which", lambda *_a, **_k: "/usr/sbin/debootstrap")
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 0)
    monkeypatch.setattr(bootstrap, "BINFMT_DIR", tmp_path)

    with pytest.raises(HostNotReady, match=r"qemu-aarch64.*scripts/setup-host"):
        bootstrap.check_host("arm64", "amd64")
    (tmp_path / "qemu-aarch64").write_text("enabled\ninterpreter /usr/bin/qemu-aarch64-static\n")
    assert bootstrap.check_host("arm64", "amd64") == "/usr/sbin/debootstrap"


def test_an_existing_base_tag_skips_the_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def get(tag: str) -> Any:
        asked.append(tag)
        return SimpleNamespace(id="sha256:base")

    def no_bootstrap(*_args: Any) -> str:
        raise AssertionError("debootstrap must not run")

    monkeypatch.setattr(bootstrap, "check_host", no_bootstrap)
    client = SimpleNamespace(images=SimpleNamespace(get=get))

    base = ensure_base(client, SPEC, "arm64", "0.1.0", "amd64", lambda _: None)

    assert asked == [SPEC.tag("arm64")]
    assert (base.image_id, base.bootstrapped) == ("sha256:base", False)


def fake_rootfs(root: Path) -> Path:
    for directory in ("usr/share/doc/mosquitto", "var/lib/apt/lists/partial", "var/log/apt", "etc"):
        (root / directory).mkdir(parents=True)
    (root / "usr/share/doc/mosquitto/copyright").write_text("EPL")
    (root / "usr/share/doc/mosquitto/changelog.gz").write_bytes(b"\0")
    (root / "var/lib/apt/lists/deb.debian.org_Packages").write_text("Package: x")
    (root / "var/log/apt/history.log").write_text("install")
    (root / "etc/hostname").write_text("build-host\n")
    return root


def test_finish_rootfs_slims_and_configures(tmp_path: Path) -> None:
    root = finish_rootfs_on(fake_rootfs(tmp_path / "rootfs"))

    assert (root / "usr/share/doc/mosquitto/copyright").exists()
    assert not (root / "usr/share/doc/mosquitto/changelog.gz").exists()
    assert list((root / "var/lib/apt/lists").iterdir()) == [root / "var/lib/apt/lists/partial"]
    assert (root / "var/log/apt").is_dir() and not any((root / "var/log/apt").iterdir())
    assert (root / "etc/hostname").read_text() == "xedgesim\n"
    policy = root / "usr/sbin/policy-rc.d"
    assert policy.read_text().endswith("exit 101\n") and os.access(policy, os.X_OK)
    assert (
        "path-exclude=/usr/share/doc/*" in (root / "etc/dpkg/dpkg.cfg.d/xedgesim-slim").read_text()
    )


def finish_rootfs_on(root: Path) -> Path:
    finish_rootfs(root)
    return root


def test_finish_rootfs_refuses_symlinks_out_of_the_rootfs(tmp_path: Path) -> None:
    root = fake_rootfs(tmp_path / "rootfs")
    outside = tmp_path / "host-etc"
    outside.mkdir()
    (root / "etc/hostname").unlink()
    (root / "etc/hostname").symlink_to(outside / "hostname")

    with pytest.raises(BuildFailed, match="outside"):
        finish_rootfs(root)
    assert not (outside / "hostname").exists()


def missing_base() -> Any:
    import docker

    def get(tag: str) -> Any:
        raise docker.errors.ImageNotFound(tag)

    return SimpleNamespace(images=SimpleNamespace(get=get))


def test_the_debootstrap_log_is_inside_the_private_build_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A failed bootstrap keeps its log, inside the 0700 directory mkdtemp made (never at a
    predictable name in the shared /var/tmp), and nothing else."""
    script = tmp_path / "debootstrap"
    script.write_text("#!/bin/sh\necho 'E: no route to the mirror'\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setattr(bootstrap, "check_host", lambda *_a: str(script))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(BuildFailed, match="no route to the mirror") as failure:
        ensure_base(missing_base(), SPEC, "amd64", "0.1.0", "amd64", lambda _: None, work)
    [private] = list(work.iterdir())
    assert private.is_dir() and private.stat().st_mode & 0o777 == 0o700
    assert [entry.name for entry in private.iterdir()] == ["debootstrap.log"]
    assert str(private / "debootstrap.log") in str(failure.value)


def test_a_finished_bootstrap_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def fake_debootstrap(command: list[str], target: Path, log_path: Path, say: Any) -> None:
        assert log_path.parent == target.parent  # the private directory
        log_path.write_text("I: Base system installed successfully.\n")
        fake_rootfs(target)

    monkeypatch.setattr(bootstrap, "check_host", lambda *_a: "/usr/sbin/debootstrap")
    monkeypatch.setattr(bootstrap, "_run_debootstrap", fake_debootstrap)
    monkeypatch.setattr(bootstrap, "load_base", lambda *_a: "sha256:new")
    base = ensure_base(missing_base(), SPEC, "amd64", "0.1.0", "amd64", lambda _: None, tmp_path)
    assert base.image_id == "sha256:new"
    assert list(tmp_path.iterdir()) == []
