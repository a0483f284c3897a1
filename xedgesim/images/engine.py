"""The connection to the Docker engine, with the one error message a user needs when it is not
there. This is the only place the builder creates a docker SDK client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xedgesim.images.errors import SETUP_HINT, EngineUnavailable

if TYPE_CHECKING:
    import docker


def connect(timeout: int = 600) -> docker.DockerClient:
    """A client whose engine answered a ping; ``timeout`` covers long builds and loads."""
    import docker
    import requests

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise EngineUnavailable(f"no Docker engine answers ({error}): {SETUP_HINT}") from None
    return client
