"""A thin archive: a ``docker save`` archive without the layers a device already has.

``docker load`` (moby ``image/tarexport/load.go``) looks each layer of an image up by its chain
ID and opens the layer's file in the archive only when the engine lacks that chain; a layer the
engine has may be absent from the archive. So a device that holds the base image (or an earlier
release of the gateway) needs only the few layers a change made: a gateway code change ships
its code layers, not the 175 MB Debian root filesystem under them. The image id (the config's
sha256) is the same whichever layers travel, so the release still names exactly what runs.

This holds for Docker's classic image store (Debian's docker.io, what the devices run). The
role that ships archives loads the whole archive when a thin one does not load.

Run as ``python -m xedgesim.images.thin`` by the image_release role on the controller, with
``{"archive": PATH, "have": [[diff id, …], …]}`` on stdin (the ``RootFS.Layers`` of each image
the device holds); it prints ``{"path", "bytes", "full_bytes"}`` as JSON.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from xedgesim import atomic

MANIFEST = "manifest.json"
MAX_IMAGES = 10_000  # what a device may report: bounded before use
MAX_LAYERS = 1_000
_DIFF_ID = re.compile(r"sha256:[0-9a-f]{64}")


class ThinError(ValueError):
    """The archive or the device's report is not what a thin archive can be made from."""


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """The chain ID of each prefix of an image's layers (the OCI image spec's ChainID):
    the engine stores a layer under the chain ID, which names the layer and all below it."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
        else:
            text = f"{chains[-1]} {diff_id}".encode()
            chains.append("sha256:" + hashlib.sha256(text).hexdigest())
    return chains


def present_chains(have: Iterable[Sequence[str]]) -> set[str]:
    """Every chain ID a device has, from the layer lists of its images (checked first)."""
    found: set[str] = set()
    for count, layers in enumerate(have, 1):
        if count > MAX_IMAGES:
            raise ThinError(f"more than {MAX_IMAGES} images reported")
        if not isinstance(layers, list) or len(layers) > MAX_LAYERS or not all(
                isinstance(layer, str) and _DIFF_ID.fullmatch(layer) for layer in layers):
            raise ThinError(f"image {count}: expected a list of at most {MAX_LAYERS} "
                            "sha256 diff ids")
        found.update(chain_ids(layers))
    return found


def _read_json(archive: tarfile.TarFile, name: str) -> object:
    try:
        member = archive.extractfile(name)
    except KeyError:
        member = None
    if member is None:
        raise ThinError(f"{archive.name}: no {name}")
    return json.load(member)


def omitted_layers(archive: tarfile.TarFile, have: set[str]) -> set[str]:
    """The layer files of ``archive`` that every image referring to them finds on the device."""
    manifest = _read_json(archive, MANIFEST)
    if not isinstance(manifest, list):
        raise ThinError(f"{archive.name}: {MANIFEST} is not a list")
    needed: set[str] = set()
    present: set[str] = set()
    for item in manifest:
        config = _read_json(archive, item["Config"])
        diff_ids = config.get("rootfs", {}).get("diff_ids") if isinstance(config, dict) else None
        layers = item["Layers"]
        if not isinstance(diff_ids, list) or len(layers) != len(diff_ids):
            raise ThinError(f"{archive.name}: {item['Config']}: layers and diff ids differ")
        for layer, chain in zip(layers, chain_ids(diff_ids), strict=True):
            (present if chain in have else needed).add(layer)
    return present - needed


def thin_archive(source: Path, have: Iterable[Sequence[str]]) -> Path:
    """``source`` without the layers the device's images ``have``, next to it (named after what
    it leaves out, so hosts in the same state share it), or ``source`` when all must travel."""
    chains = present_chains(have)
    with tarfile.open(source) as archive:
        left_out = omitted_layers(archive, chains)
        if not left_out:
            return source
        key = hashlib.sha256("\n".join(sorted(left_out)).encode()).hexdigest()[:12]
        target = source.with_name(f"{source.stem}-thin-{key}.tar")
        if target.is_file():
            return target
        with atomic.replacing(target) as stream, \
                tarfile.open(fileobj=stream, mode="w", format=archive.format) as thin:
            for member in archive:
                if member.name in left_out:
                    continue
                data = archive.extractfile(member) if member.isfile() else None
                thin.addfile(member, data)
    return target


def main() -> int:
    """The role's entry point: JSON in, JSON out, exit 2 with a one-line reason on bad input."""
    try:
        request = json.load(sys.stdin)
        source = Path(request["archive"])
        path = thin_archive(source, request["have"])
        result = {"path": str(path), "bytes": path.stat().st_size,
                  "full_bytes": source.stat().st_size}
    except (ThinError, OSError, KeyError, TypeError, ValueError, tarfile.TarError) as error:
        print(f"thin archive: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
