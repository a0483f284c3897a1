"""The ``xedge images`` command group: thin wrappers that call the builder and the lister; an
``ImagesError`` is reported by the ``xedge`` group (xedgesim/cli.py) with exit code 1."""

from __future__ import annotations

import click

from xedgesim.images import naming
from xedgesim.images.bootstrap import DEFAULT_SUITE


@click.group("images")
def images() -> None:
    """Build and list xedgesim's container images, offline (no registry is used).

    \b
    Examples:
      xedge images build --arch amd64     # base + broker, edge-host, gateway for amd64
      xedge images build --image broker   # only the broker, every arch
      xedge images list
    """


@images.command("build")
@click.option(
    "--arch",
    type=click.Choice([*naming.ARCHES, "all"]),
    default="all",
    show_default=True,
    help="Architecture to build; arm64 on an amd64 host runs under qemu.",
)
@click.option(
    "--image",
    "names",
    multiple=True,
    metavar="NAME",
    help="Build only this service image (repeatable); default: all.",
)
@click.option(
    "--mirror",
    default=None,
    metavar="URL",
    help="Debian mirror for the base (default: the host's apt source for the suite, "
    "else http://deb.debian.org/debian).",
)
@click.option("--suite", default=DEFAULT_SUITE, show_default=True, help="Debian suite.")
def build(arch: str, names: tuple[str, ...], mirror: str | None, suite: str) -> None:
    """Bootstrap the base image (minutes, once per package list) and build the service
    images on it; print each image's digest.

    \b
    Example:
      xedge images build --arch all
    """
    from xedgesim.images.build import build_images
    from xedgesim.images.engine import connect
    from xedgesim.images.listing import format_table, list_images

    report = build_images(
        naming.resolve_arches(arch), names, suite=suite, mirror=mirror, progress=click.echo
    )
    built = set(report.tags)
    rows = [row for row in list_images(connect()) if built.intersection(row.tags)]
    click.echo(format_table(rows))
    click.echo(f"built in {report.seconds:.1f}s")


@images.command("list")
def list_command() -> None:
    """List the images this project built: name, arch, digest (image id), size, tags."""
    from xedgesim.images.engine import connect
    from xedgesim.images.listing import format_table, list_images

    rows = list_images(connect())
    click.echo(format_table(rows))
