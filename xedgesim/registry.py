"""Which code runs a node: a registry of (node type, implementation) -> dotted path.

Paths are imported only when a scenario uses them, so a pure-Python run never imports the
docker SDK, and adding a way to run a node is one new module plus one line here.
"""

from __future__ import annotations

import importlib

NODE_CLASSES: dict[tuple[str, str], str] = {
    ("sensor", "python_model"): "xedgesim.models.sensor:SensorFleet",
    ("gateway", "python_model"): "xedgesim.models.gateway:GatewayNode",
    ("broker", "python_model"): "xedgesim.models.broker:BrokerNode",
    ("cloud", "python_model"): "xedgesim.models.cloud:CloudNode",
    ("broker", "docker"): "xedgesim.docker.broker:MosquittoBroker",
    ("gateway", "docker"): "xedgesim.docker.nodes:gateway",
}

DEFAULT_IMPLEMENTATION = "python_model"


def implementations(node_type: str) -> list[str]:
    """The implementations registered for a node type, in a stable order."""
    return sorted(impl for kind, impl in NODE_CLASSES if kind == node_type)


def node_class(node_type: str, implementation: str) -> type:
    """Import and return the class (or factory) for a node; unknown pairs name the known ones."""
    try:
        dotted = NODE_CLASSES[(node_type, implementation)]
    except KeyError:
        known = ", ".join(implementations(node_type)) or "none"
        raise LookupError(
            f"no implementation {implementation!r} for node type {node_type!r} (known: {known})"
        ) from None
    module_name, _, attribute = dotted.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
