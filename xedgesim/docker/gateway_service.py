"""``type: gateway, implementation: docker, docker: {mode: service}``: the gateway image's real
MQTT service, exactly as it runs on a device, on the wall clock.

The coordinator only starts the container and tells it where the broker is: the service
subscribes and publishes through the real broker itself. Its input must therefore come through
a docker broker, and its output go to one.
"""

from __future__ import annotations

from xedgesim.docker.containers import ContainerError, ContainerSpec
from xedgesim.models.base import Node, SimContext
from xedgesim.models.topics import render
from xedgesim.scenario.model import GatewayParams, NodeSpec
from xedgesim.sim.messages import MessageBatch
from xedgesim.units import format_duration


class ServiceGatewayNode(Node):
    wall_clock = True

    def __init__(self, spec: NodeSpec, context: SimContext) -> None:
        super().__init__(spec, context)
        params: GatewayParams = spec.params  # type: ignore[assignment]
        scenario = context.scenario
        subscription = params.subscription
        if subscription is None or scenario.node(subscription.broker).implementation != "docker":
            raise ContainerError(
                f"node {spec.id!r}: a gateway in service mode talks MQTT itself; it needs "
                "'subscribe' on a broker with implementation: docker")
        senders = [s.id for s in scenario.nodes
                   if getattr(getattr(s.params, "publish", None), "to", None) == spec.id]
        if senders:
            raise ContainerError(
                f"node {spec.id!r}: in service mode it only hears its broker, but "
                f"{', '.join(senders)} send to it directly; send them to the broker instead")
        environment = {
            "XEDGESIM_BROKER": f"{subscription.broker}:1883",
            "XEDGESIM_SUBSCRIBE": ",".join(subscription.topics),
            "XEDGESIM_QOS": str(subscription.qos),
            "XEDGESIM_WINDOW": format_duration(params.aggregate_every_ns),
            "XEDGESIM_CLIENT_ID": spec.id,
        }
        if params.publish is not None:
            if scenario.node(params.publish.to).implementation != "docker" or \
                    scenario.node(params.publish.to).type != "broker":
                raise ContainerError(
                    f"node {spec.id!r}: in service mode it publishes through MQTT; 'to' must "
                    "name a broker with implementation: docker")
            environment["XEDGESIM_PUBLISH_TOPIC"] = render(params.publish.topic, spec.id, 0)
        if context.containers is None or spec.image is None:
            raise ContainerError(f"node {spec.id!r}: a docker gateway needs an image")
        from xedgesim.linkproxy.hybrid import proxy_to_broker, unreached_hint

        # Its MQTT crosses the scenario link gateway-broker (docs/link-emulation.md).
        self.proxied_link = f"{spec.id}–{subscription.broker}"
        self.link_proxy, environment["XEDGESIM_BROKER"] = proxy_to_broker(
            context, spec.id, subscription.broker)
        try:
            self.container = context.containers.start(
                ContainerSpec(node=spec.id, image=spec.image, environment=environment))
        except ContainerError as error:  # not healthy: say so if it never reached the proxy
            hint = unreached_hint(self.link_proxy, environment["XEDGESIM_BROKER"])
            self.link_proxy.close()
            if not hint:
                raise
            raise ContainerError(f"{error}\n  {hint}") from None
        except BaseException:
            self.link_proxy.close()
            raise

    def stop(self) -> None:
        from xedgesim.linkproxy.hybrid import report

        self.context.link_proxies[self.proxied_link] = report(self.link_proxy)
        self.link_proxy.close()

    def receive(self, block: MessageBatch) -> None:
        raise ContainerError(f"node {self.id!r}: a service-mode gateway only hears its broker")
