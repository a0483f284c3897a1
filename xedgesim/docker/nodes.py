"""Which container node a scenario asks for: ``docker: {mode: protocol | service}``.

``protocol`` (the default) runs our node code in lockstep with virtual time, so the run stays
deterministic; ``service`` runs the real MQTT service on the wall clock, as it will run on a
device, and makes the run paced and statistical.
"""

from __future__ import annotations

from xedgesim.docker.containers import ContainerError
from xedgesim.models.base import Node, SimContext
from xedgesim.scenario.model import NodeSpec

MODES = ("protocol", "service")


def gateway(spec: NodeSpec, context: SimContext) -> Node:
    mode = spec.docker.get("mode", "protocol")
    if mode == "protocol":
        from xedgesim.docker.gateway import ProtocolGatewayNode

        return ProtocolGatewayNode(spec, context)
    if mode == "service":
        from xedgesim.docker.gateway_service import ServiceGatewayNode

        return ServiceGatewayNode(spec, context)
    raise ContainerError(
        f"node {spec.id!r}: unknown docker mode {mode!r} (known: {', '.join(MODES)})")
