"""Errors of the image builder: each says what went wrong and what to do about it; a build
that fails exits 1 (see :mod:`xedgesim.errors`)."""

from __future__ import annotations

from xedgesim.errors import XedgeError
from xedgesim.project import setup_command

SETUP_HINT = f"run {setup_command()}"  # the script's real path: a checkout's or the wheel's


class ImagesError(XedgeError):
    """A build or listing failed for a reason the user can act on; the message says how."""


class EngineUnavailable(ImagesError):
    """No Docker engine answered."""


class HostNotReady(ImagesError):
    """A host tool (debootstrap, qemu binfmt handler) needed for the build is missing."""


class BuildFailed(ImagesError):
    """debootstrap, the image load or a Dockerfile build failed; the message has the log tail."""
