"""A release: the service images a fleet runs, by digest, per architecture.

Images are named by tag for people and identified by image id (the sha256 of the image
config, which ``docker save``/``docker load`` preserve) everywhere that matters: the release
id is a hash of the ids, so the same images always make the same release, and staging and
deploying the same release cannot silently ship different bits.

The playbooks get the release as ``xedgesim_release``::

    {"id": "r…", "images": {"amd64": {"broker": {
        "tag": "xedgesim/broker:0.1.0-amd64", "id": "sha256:…",
        "archive": "/abs/run/images/broker-amd64-….tar"}, "gateway": {…}}}}

and ship each archive only to hosts that lack its image id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xedgesim
from xedgesim import atomic
from xedgesim.deploy.errors import DeployError, UsageError
from xedgesim.images import naming

SERVICES = ("broker", "gateway")
CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class ImageRef:
    """One service image for one architecture."""

    name: str
    arch: str
    tag: str
    id: str


@dataclass(frozen=True)
class Release:
    images: tuple[ImageRef, ...]

    @property
    def id(self) -> str:
        """``r`` + 12 hex digits of the hash of {arch: {name: image id}}: content-derived."""
        canonical = json.dumps(self.ids(), sort_keys=True, separators=(",", ":"))
        return "r" + hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def arches(self) -> tuple[str, ...]:
        return tuple(sorted({image.arch for image in self.images}))

    def ids(self) -> dict[str, dict[str, str]]:
        """{arch: {name: image id}}."""
        found: dict[str, dict[str, str]] = {}
        for image in self.images:
            found.setdefault(image.arch, {})[image.name] = image.id
        return found

    def image(self, arch: str, name: str) -> ImageRef:
        for image in self.images:
            if image.arch == arch and image.name == name:
                return image
        raise KeyError((arch, name))

    def to_dict(self, archives: Mapping[str, Path] | None = None) -> dict[str, Any]:
        """The one written form of a release: ``{"id", "images": {arch: {name: {tag, id}}}}``,
        as ``xedgesim_release`` for the playbooks, the manifest, the stage state and the suite's
        release file. ``archives`` (image id -> tar file) adds each image's ``archive``."""
        images: dict[str, dict[str, dict[str, str]]] = {}
        for image in sorted(self.images, key=lambda i: (i.arch, i.name)):
            entry = {"tag": image.tag, "id": image.id}
            if archives and image.id in archives:
                entry["archive"] = str(Path(archives[image.id]).resolve())
            images.setdefault(image.arch, {})[image.name] = entry
        return {"id": self.id, "images": images}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Release:
        """The release ``to_dict`` wrote (``archive`` entries are ignored); a document whose
        ``id`` does not match its images (edited by hand, or cut short) is refused."""
        try:
            release = cls(tuple(
                ImageRef(str(name), str(arch), str(entry["tag"]), str(entry["id"]))
                for arch, by_name in sorted(document["images"].items())
                for name, entry in sorted(by_name.items())))
        except (KeyError, TypeError, AttributeError) as error:
            raise UsageError(f"not a release: {type(error).__name__} {error} (expected "
                             "{'id', 'images': {arch: {name: {tag, id}}}})") from None
        recorded = document.get("id")
        if recorded is not None and recorded != release.id:
            raise UsageError(f"release {recorded}: its images make release {release.id}; "
                             "the record was changed after it was written")
        return release

    def describe(self) -> str:
        """One line per image: arch, name, short id, tag."""
        return "\n".join(f"  {i.arch:<6} {i.name:<8} {i.id[:19]}  {i.tag}"
                         for i in sorted(self.images, key=lambda i: (i.arch, i.name)))


def default_tag(name: str, arch: str, version: str = xedgesim.__version__) -> str:
    """The tag ``xedge images build`` gives a service image."""
    return naming.image_tag(name, version, arch)


def resolve_local(client: Any, arches: Iterable[str], overrides: Iterable[str] = (),
                  names: Iterable[str] = SERVICES) -> Release:
    """The release made of this machine's images for ``arches``.

    Each service's image is the tag ``xedge images build`` makes, unless an override
    ``NAME=REF`` (a tag or image id) names another; an override applies to the architecture
    of the image it names.
    """
    import docker

    arches = tuple(sorted(set(arches)))
    names = tuple(names)
    chosen: dict[tuple[str, str], str] = {(arch, name): default_tag(name, arch)
                                          for arch in arches for name in names}
    for override in overrides:
        name, _, ref = override.partition("=")
        if name not in names or not ref:
            raise UsageError(f"--image {override!r}: expected NAME=REF with NAME one of "
                             f"{', '.join(names)}")
        arch = _inspect(client, ref, docker)["Architecture"]
        if arch not in arches:
            raise UsageError(f"--image {override}: that image is for {arch}, and the "
                             f"inventory has only {', '.join(arches)} hosts")
        chosen[(arch, name)] = ref
    images = []
    for (arch, name), ref in sorted(chosen.items()):
        attrs = _inspect(client, ref, docker)
        if attrs.get("Architecture") != arch:
            raise UsageError(f"image {ref} is for {attrs.get('Architecture')}, not {arch}")
        tags = attrs.get("RepoTags") or []
        tag = ref if ref in tags else (tags[0] if tags else default_tag(name, arch))
        images.append(ImageRef(name, arch, tag, attrs["Id"]))
    return Release(tuple(images))


def _inspect(client: Any, ref: str, docker: Any) -> dict[str, Any]:
    try:
        return client.images.get(ref).attrs
    except docker.errors.ImageNotFound:
        raise UsageError(f"image {ref} is not on this machine (build it: xedge images build; "
                         "xedgesim never pulls)") from None
    except docker.errors.APIError as error:
        raise DeployError(f"cannot inspect image {ref}: {error}") from None


def save_archives(client: Any, release: Release, directory: Path,
                  progress: Any = None) -> dict[str, Path]:
    """``docker save`` each image of the release once per image id into ``directory``;
    an archive already there (from an earlier step of the run) is reused."""
    directory.mkdir(parents=True, exist_ok=True)
    archives: dict[str, Path] = {}
    for image in release.images:
        if image.id in archives:
            continue
        path = directory / f"{image.name}-{image.arch}-{image.id.split(':')[-1][:12]}.tar"
        if not path.is_file():
            if progress is not None:
                progress(f"saving {image.tag} ({image.id[:19]}) to {path.name}")
            _save(client, image, path)
        archives[image.id] = path.resolve()
    return archives


def _save(client: Any, image: ImageRef, path: Path) -> None:
    """Stream the image into a temporary file and rename it, so a half-written archive is
    never mistaken for a whole one. The archive names the release tag, so a load tags it."""
    import docker

    obj = client.images.get(image.id)
    named: bool | str = image.tag if image.tag in (obj.tags or []) else False
    try:
        with atomic.replacing(path) as handle:
            for chunk in obj.save(chunk_size=CHUNK, named=named):
                handle.write(chunk)
    except docker.errors.APIError as error:
        raise DeployError(f"cannot save image {image.tag}: {error}") from None
