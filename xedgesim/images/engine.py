"""The image builder's engine connection: ``xedgesim.engine.connect`` with a build's long
timeout, its failure raised as the builder's own error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xedgesim import engine
from xedgesim.images.errors import EngineUnavailable

if TYPE_CHECKING:
    import docker


def connect(timeout: int = 600) -> docker.DockerClient:
    """A client whose engine answered a ping; ``timeout`` covers long builds and loads."""
    try:
        return engine.connect(timeout=timeout)
    except engine.EngineUnavailable as error:
        raise EngineUnavailable(str(error)) from None
