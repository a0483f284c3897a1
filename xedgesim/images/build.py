"""``xedge images build``: the base for each arch, then every selected service image on it.

Bases that must be bootstrapped run in parallel (each is mostly waiting on the mirror or on
qemu), each with its own engine connection; service builds run one after another.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import xedgesim
from xedgesim.images import engine, naming, registry
from xedgesim.images.bootstrap import DEFAULT_SUITE, BaseImage, BaseSpec, ensure_base
from xedgesim.images.layered import ServiceImage, build_service, package_source
from xedgesim.images.mirror import find_mirror

if TYPE_CHECKING:
    import docker

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildReport:
    """What a build produced, with timings, for the summary and for measurements."""

    bases: tuple[BaseImage, ...]
    services: tuple[ServiceImage, ...]
    seconds: float

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag the build produced or confirmed."""
        return tuple(b.tag for b in self.bases) + tuple(t for s in self.services for t in s.tags)


def build_images(
    arches: Iterable[str],
    names: Iterable[str] = (),
    *,
    suite: str = DEFAULT_SUITE,
    mirror: str | None = None,
    progress: Progress = print,
    connect: Callable[[], docker.DockerClient] = engine.connect,
    version: str = xedgesim.__version__,
) -> BuildReport:
    """Build the base and the selected service images for each arch; return what was built."""
    started = time.monotonic()
    arches = tuple(arches)
    specs = registry.select(names)
    contexts = registry.contexts_dir()
    client = connect()
    host = naming.host_arch()
    base_spec = BaseSpec.from_context(
        contexts / registry.BASE_CONTEXT, suite, mirror or find_mirror(suite)
    )
    progress(f"base {base_spec.key}: {len(base_spec.packages)} packages from Debian {suite}")

    def one_base(arch: str) -> BaseImage:
        if len(arches) == 1:
            return ensure_base(client, base_spec, arch, version, host, progress)
        own_client = connect()
        try:
            return ensure_base(own_client, base_spec, arch, version, host, progress)
        finally:
            if own_client is not client:
                own_client.close()

    with ThreadPoolExecutor(max_workers=len(arches)) as pool:
        bases = tuple(pool.map(one_base, arches))
    services = tuple(
        build_service(
            client, spec.name, contexts / spec.name, arch, base.tag, version, host, progress,
            package_source() if spec.includes_package else None,
        )
        for arch, base in zip(arches, bases, strict=True)
        for spec in specs
        if spec.builds_for(arch, host)
    )
    return BuildReport(bases, services, time.monotonic() - started)
