"""The base image: a Debian root filesystem bootstrapped with debootstrap, packed, and loaded
into the engine as ``xedgesim/base:<key>-<arch>``.

The key hashes the package list, the suite and the recipe below, so the slow part (minutes,
more under qemu for arm64) runs only when one of them changes; an existing tag is reused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xedgesim.images import archive, naming
from xedgesim.images.errors import SETUP_HINT, BuildFailed, HostNotReady
from xedgesim.images.hashing import base_key, short
from xedgesim.images.packages import read_package_list

if TYPE_CHECKING:
    import docker

Progress = Callable[[str], None]

DEFAULT_SUITE = "bookworm"
# Bump when the bootstrap or the clean-up below changes what a base contains.
RECIPE = 1
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
_QEMU_HANDLERS = {"arm64": "qemu-aarch64", "amd64": "qemu-x86_64"}

# Files written into the rootfs after debootstrap: no daemons start during image builds, and
# later apt-get installs skip documentation and recommends, as the bootstrap did.
_ROOTFS_FILES: dict[str, tuple[str, int]] = {
    "usr/sbin/policy-rc.d": (
        "#!/bin/sh\n# xedgesim: no service starts in an image build\nexit 101\n",
        0o755,
    ),
    "etc/dpkg/dpkg.cfg.d/xedgesim-slim": (
        "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n"
        "path-exclude=/usr/share/man/*\npath-exclude=/usr/share/info/*\n"
        "path-exclude=/usr/share/locale/*\npath-include=/usr/share/locale/locale.alias\n",
        0o644,
    ),
    "etc/apt/apt.conf.d/90xedgesim": (
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
        'Acquire::Languages "none";\n',
        0o644,
    ),
    "etc/machine-id": ("", 0o444),
    # debootstrap copies the build host's; the engine provides both at run time.
    "etc/hostname": ("xedgesim\n", 0o644),
    "etc/resolv.conf": ("", 0o644),
}
# Emptied after the bootstrap: caches, logs and docs that only make the image bigger.
_EMPTIED_DIRS = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "var/log",
    "usr/share/man",
    "usr/share/info",
    "tmp",
)
_TAR_EXCLUDES = ("./dev/*", "./proc/*", "./sys/*", "./run/*", "./var/cache/apt/*.bin")
# debootstrap's phases, by the first word of its "I: ..." lines; one progress line per phase.
_PHASES = {
    "Retrieving": "downloading package lists and packages",
    "Extracting": "extracting packages",
    "Installing": "installing core packages",
    "Unpacking": "unpacking the base system",
    "Configuring": "configuring packages",
}


@dataclass(frozen=True)
class BaseSpec:
    """What a base image is made of; ``key`` names it in the tag."""

    packages: tuple[str, ...]
    suite: str = DEFAULT_SUITE
    mirror: str = "http://deb.debian.org/debian"

    @property
    def full_key(self) -> str:
        """The whole content hash, stored as the source-hash label."""
        return base_key(self.packages, self.suite, RECIPE)

    @property
    def key(self) -> str:
        """The short hash used in the tag."""
        return short(self.full_key)

    def tag(self, arch: str) -> str:
        """``xedgesim/base:<key>-<arch>``."""
        return naming.base_tag(self.key, arch)

    @classmethod
    def from_context(cls, context: Path, suite: str, mirror: str) -> BaseSpec:
        """Read the package list from a base build context (``images/base``)."""
        return cls(read_package_list(context / "packages.txt"), suite, mirror)


@dataclass(frozen=True)
class BaseImage:
    """A base image present in the engine."""

    tag: str
    image_id: str
    bootstrapped: bool
    seconds: float


def check_host(arch: str, host_arch: str) -> str:
    """The debootstrap executable; raise with the fix when debootstrap or qemu is missing."""
    found = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if not found:
        raise HostNotReady(f"debootstrap is not installed: {SETUP_HINT}")
    if os.geteuid() != 0:
        raise HostNotReady("debootstrap needs root to build a base image: run as root")
    if arch != host_arch:
        handler = BINFMT_DIR / _QEMU_HANDLERS.get(arch, f"qemu-{arch}")
        try:
            enabled = handler.read_text().splitlines()[0] == "enabled"
        except OSError:
            enabled = False
        if not enabled:
            raise HostNotReady(
                f"building {arch} on {host_arch} needs the qemu binfmt handler {handler.name}, "
                f"which is not enabled: {SETUP_HINT}"
            )
    return found


def debootstrap_command(debootstrap: str, spec: BaseSpec, arch: str, target: Path) -> list[str]:
    """The debootstrap call: minbase plus our packages, for ``arch``, from ``spec.mirror``.

    A foreign arch is bootstrapped in one go: the second stage runs its binaries through the
    qemu binfmt handler that scripts/setup-host registers.
    """
    return [
        debootstrap,
        "--variant=minbase",
        f"--arch={arch}",
        "--components=main",
        f"--include={','.join(spec.packages)}",
        spec.suite,
        str(target),
        spec.mirror,
    ]


def _run_debootstrap(command: list[str], target: Path, log_path: Path, say: Progress) -> None:
    started = time.monotonic()
    phase = ""
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            words = line.split()
            if len(words) > 1 and words[0] == "I:" and words[1] in _PHASES and words[1] != phase:
                phase = words[1]
                say(f"{_PHASES[phase]} ({time.monotonic() - started:.0f}s)")
        code = process.wait()
    if code != 0:
        inner_log = target / "debootstrap" / "debootstrap.log"
        if inner_log.is_file():
            with log_path.open("a", encoding="utf-8") as log:
                log.write("\n--- debootstrap/debootstrap.log ---\n")
                log.write(inner_log.read_text(encoding="utf-8", errors="replace"))
        tail = "".join(
            log_path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-15:]
        )
        raise BuildFailed(f"debootstrap failed with exit code {code}; log {log_path}:\n{tail}")


def _inside(root: Path, relative: str) -> Path:
    """A path under ``root`` that resolves inside it (the rootfs may hold absolute symlinks)."""
    path = root / relative
    resolved = path.resolve()
    if resolved != root.resolve() and root.resolve() not in resolved.parents:
        raise BuildFailed(f"{relative} in the rootfs points outside it ({resolved})")
    return path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def finish_rootfs(root: Path) -> None:
    """Write the image-build settings into a fresh rootfs and drop caches, logs and docs.

    Directories are kept (apt and dpkg expect them); only the files in them go.
    """
    for relative, (text, mode) in _ROOTFS_FILES.items():
        path = _inside(root, relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(mode)
    for relative in _EMPTIED_DIRS:
        directory = _inside(root, relative)
        if directory.is_dir():
            for child in directory.rglob("*"):
                if child.is_symlink() or child.is_file():
                    child.unlink()
    docs = _inside(root, "usr/share/doc")
    if docs.is_dir():
        for package in docs.iterdir():
            if package.is_dir() and not package.is_symlink():
                for child in package.iterdir():
                    if child.name != "copyright":
                        _remove(child)
    locales = _inside(root, "usr/share/locale")
    if locales.is_dir():
        for child in locales.iterdir():
            if child.name != "locale.alias":
                _remove(child)


def pack_rootfs(root: Path, tarball: Path) -> None:
    """Tar the rootfs with numeric owners and file capabilities, as a layer must hold them."""
    command = ["tar", "--numeric-owner", "--xattrs", "--xattrs-include=security.capability"]
    command += [f"--exclude={pattern}" for pattern in _TAR_EXCLUDES]
    command += ["-C", str(root), "-cf", str(tarball), "."]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildFailed(f"packing the rootfs failed: {result.stderr.strip()}")


def load_base(
    client: docker.DockerClient, spec: BaseSpec, arch: str, tarball: Path, version: str
) -> str:
    """Load the rootfs tarball as the base image of ``arch``; return the image id."""
    layer_sha = archive.file_sha256(tarball)
    labels = naming.labels(naming.BASE_NAME, version, spec.full_key)
    created_by = (
        f"xedge images build: debootstrap --variant=minbase --arch={arch} {spec.suite} "
        f"(+{len(spec.packages)} packages)"
    )
    config = archive.image_config(arch, layer_sha, labels, created_by)
    tag = spec.tag(arch)
    for message in client.api.load_image(archive.save_archive(tarball, layer_sha, config, [tag])):
        if "error" in message:
            raise BuildFailed(f"loading {tag} failed: {message['error']}")
    return client.images.get(tag).id


def ensure_base(
    client: docker.DockerClient,
    spec: BaseSpec,
    arch: str,
    version: str,
    host_arch: str,
    progress: Progress,
    workdir: Path | None = None,
) -> BaseImage:
    """The base image for ``arch``: reused when its tag exists, else bootstrapped and loaded."""
    import docker

    started = time.monotonic()
    tag = spec.tag(arch)
    try:
        return BaseImage(tag, client.images.get(tag).id, False, time.monotonic() - started)
    except docker.errors.ImageNotFound:
        pass
    debootstrap = check_host(arch, host_arch)

    def say(text: str) -> None:
        progress(f"base {arch}: {text}")

    emulated = " under qemu emulation" if arch != host_arch else ""
    say(
        f"bootstrapping Debian {spec.suite} from {spec.mirror} with debootstrap{emulated}: "
        f"this takes minutes ({len(spec.packages)} packages requested)"
    )
    parent = Path(os.environ.get("XEDGESIM_BUILD_DIR", "/var/tmp"))
    # The log lives inside the private (0700) directory mkdtemp made: a name next to it in a
    # shared /var/tmp is predictable, and another user could plant a symlink there first.
    tmp = Path(tempfile.mkdtemp(prefix=f"xedgesim-base-{arch}-", dir=workdir or parent))
    log_path = tmp / "debootstrap.log"
    keep_log = False
    try:
        root = tmp / "rootfs"
        say(f"debootstrap log: {log_path}")
        command = debootstrap_command(debootstrap, spec, arch, root)
        try:
            _run_debootstrap(command, root, log_path, say)
        except BuildFailed:
            keep_log = True  # what the error points at; the rest of the directory goes
            raise
        finish_rootfs(root)
        tarball = tmp / "rootfs.tar"
        say("packing the root filesystem")
        pack_rootfs(root, tarball)
        shutil.rmtree(root)
        say(f"loading {tarball.stat().st_size / 1e6:.0f} MB into the engine as {tag}")
        image_id = load_base(client, spec, arch, tarball, version)
    finally:
        shutil.rmtree(root if keep_log else tmp, ignore_errors=True)
    seconds = time.monotonic() - started
    say(f"done in {seconds:.0f}s")
    return BaseImage(tag, image_id, True, seconds)
