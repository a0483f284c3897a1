"""Benchmark: bytes a deploy ships to one host, for three kinds of update.

The host holds the current release (this machine's broker and gateway images for --arch). The
new release is
  (a) the same images: no change;
  (b) a gateway code change: the gateway rebuilt from its staged context with one line added to
      a module it runs (xedgesim/units.py);
  (c) a base package change: a new one-layer base (the base's root filesystem with one file
      more, as a package change gives a new debootstrap layer), broker and gateway rebuilt on it.
Shipped bytes are what the image_release role copies: for each image the host lacks (by id),
in release order, the thin archive that leaves out the layers the host has by then
(xedgesim/images/thin.py); "whole" is what shipping the whole ``docker save`` archive costs.

The changed images get tags of their own (xedgesim-bench/…) and are removed at the end; the
project's images are never altered. Nothing is pulled.

    python bench/ship.py [--arch amd64]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import xedgesim
from xedgesim.deploy.release import SERVICES, default_tag
from xedgesim.images import archive, naming, registry
from xedgesim.images.engine import connect
from xedgesim.images.layered import package_source, staged_context
from xedgesim.images.thin import thin_archive

BENCH = "xedgesim-bench"
CHANGED_MODULE = "xedgesim/units.py"  # imported by the gateway service


def save(client: Any, ref: str, path: Path) -> Path:
    with path.open("wb") as handle:
        for chunk in client.images.get(ref).save(chunk_size=1 << 22, named=False):
            handle.write(chunk)
    return path


def layers(client: Any, ref: str) -> list[str]:
    return list(client.images.get(ref).attrs["RootFS"]["Layers"])


def shipped(client: Any, device: list[str], release: list[str], work: Path) -> dict[str, int]:
    """Bytes the role ships to a host holding ``device`` (refs) for ``release`` (refs)."""
    have = [layers(client, ref) for ref in device]
    ids = {client.images.get(ref).id for ref in device}
    thin = whole = 0
    for ref in release:
        image = client.images.get(ref)
        if image.id in ids:
            continue
        full = save(client, ref, work / f"{hashlib.sha256(ref.encode()).hexdigest()[:12]}.tar")
        thin += thin_archive(full, have).stat().st_size
        whole += full.stat().st_size
        have.append(layers(client, ref))
        ids.add(image.id)
    return {"thin": thin, "whole": whole}


def build(client: Any, context: Path, tag: str, base: str, arch: str) -> str:
    client.images.build(path=str(context), tag=tag, buildargs={"BASE_IMAGE": base}, pull=False,
                        rm=True, forcerm=True, network_mode="host",
                        platform=naming.docker_platform(arch))
    return tag


@contextmanager
def gateway_context(changed: bool) -> Iterator[Path]:
    """The gateway's staged context, with one line added to a module it runs if ``changed``."""
    with staged_context(registry.contexts_dir() / "gateway", package_source()) as staged:
        if changed:
            module = staged / CHANGED_MODULE
            module.write_text(module.read_text() + "\n# bench/ship.py: a one-line change\n")
        yield staged


def new_base(client: Any, base: str, arch: str, tag: str, work: Path) -> str:
    """``base``'s root filesystem plus one file, loaded as a one-layer image ``tag``."""
    saved = save(client, base, work / "base.tar")
    rootfs = work / "rootfs.tar"
    with tarfile.open(saved) as outer:
        manifest = outer.extractfile("manifest.json")
        [layer_name] = json.load(manifest)[0]["Layers"] if manifest else [None]
        source = outer.extractfile(layer_name) if layer_name else None
        if source is None:
            raise SystemExit(f"{base}: not a one-layer image")
        with source, rootfs.open("wb") as target:
            shutil.copyfileobj(source, target)
    saved.unlink()
    with tarfile.open(rootfs, "a") as tar:
        data = b"a package more\n"
        info = tarfile.TarInfo("etc/xedgesim-bench-extra")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer_sha = archive.file_sha256(rootfs)
    config = archive.image_config(arch, layer_sha, {}, "bench/ship.py: base with one file more")
    for _ in client.api.load_image(archive.save_archive(rootfs, layer_sha, config, [tag])):
        pass
    rootfs.unlink()
    return tag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", default=naming.host_arch())
    args = parser.parse_args()
    client = connect()
    arch = args.arch
    current = [default_tag(name, arch) for name in SERVICES]
    created: list[str] = []
    results: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="xedgesim-bench-ship-") as temporary:
        work = Path(temporary)
        base_tag = base_of(client, arch)
        try:
            results["a_no_change"] = shipped(client, current, current, work)
            with gateway_context(True) as context:
                gateway_b = build(client, context, f"{BENCH}/gateway:ship-b-{arch}", base_tag,
                                  arch)
            created.append(gateway_b)
            results["b_gateway_code"] = shipped(client, current, [current[0], gateway_b], work)
            base_c = new_base(client, base_tag, arch, f"{BENCH}/base:ship-c-{arch}", work)
            created.append(base_c)
            broker_c = build(client, registry.contexts_dir() / "broker",
                             f"{BENCH}/broker:ship-c-{arch}", base_c, arch)
            created.append(broker_c)
            with gateway_context(False) as context:
                gateway_c = build(client, context, f"{BENCH}/gateway:ship-c-{arch}", base_c,
                                  arch)
            created.append(gateway_c)
            results["c_base_package"] = shipped(client, current, [broker_c, gateway_c], work)
        finally:
            for tag in reversed(created):
                client.images.remove(tag, force=True)
    print(f"bytes shipped per host ({arch}, xedgesim {xedgesim.__version__}):")
    print(f"  {'update':<18} {'thin (now)':>14} {'whole archives':>16}")
    for name, figures in results.items():
        print(f"  {name:<18} {figures['thin']:>14,} {figures['whole']:>16,}")
    print(json.dumps(results))


def base_of(client: Any, arch: str) -> str:
    """The base tag under this machine's gateway image: its bottom layer's image."""
    bottom = layers(client, default_tag("gateway", arch))[0]
    for image in client.images.list(name="xedgesim/base"):
        if image.attrs["RootFS"]["Layers"] == [bottom] and image.tags and \
                image.attrs.get("Architecture") == arch:
            return image.tags[0]
    raise SystemExit(f"no xedgesim/base image under the {arch} gateway: xedge images build")


if __name__ == "__main__":
    main()
