"""``type: gateway, implementation: docker`` (``docker: {mode: protocol}``, the default): the
gateway's logic runs in the gateway image, driven in lockstep over the node protocol.

Everything but the logic stays the in-process ``GatewayNode``'s: its window timer, its crash
handling, its sending. Only ``logic`` is replaced by ``RemoteGatewayLogic``, which asks the
container. The container is fed the very blocks the in-process logic would get, in the same
order, so the run gives the same bytes as ``implementation: python_model``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import numpy as np

from xedgesim.docker.containers import ContainerError, ContainerSpec, RunningContainer
from xedgesim.docker.protocol import DEFAULT_TIMEOUT_S, ProtocolClient, ProtocolError
from xedgesim.models.base import SimContext
from xedgesim.models.gateway import Aggregate, GatewayNode
from xedgesim.scenario.model import NodeSpec
from xedgesim.services.protocol import (
    DEFAULT_PORT,
    INBOUND_FIELDS,
    OUTBOUND_FIELDS,
    arrays_from_rows,
    row_aggregate,
    rows_from_arrays,
)
from xedgesim.sim.messages import MessageBatch
from xedgesim.units import UnitError, parse_duration

MODE = "protocol"
OPTIONS = ("mode", "timeout", "environment")  # the keys of ``docker:`` this node reads
SHUTDOWN_TIMEOUT_S = 2.0  # a node that is being stopped anyway gets little patience
BRIDGE_TRY_S = 1.0  # the container is healthy (listening) before we connect: no long retries


class RemoteGatewayLogic:
    """``GatewayLogic``'s interface (``add``, ``flush``, ``reset``), answered by a protocol node.

    ``add`` also takes the block's message ids and its time, which the protocol carries and the
    in-process logic has no use for.
    """

    def __init__(self, client: ProtocolClient, clock: Callable[[], int]) -> None:
        self.client = client
        self.clock = clock

    def add(
        self,
        means: np.ndarray,
        minimums: np.ndarray,
        maximums: np.ndarray,
        counts: np.ndarray,
        origins: np.ndarray,
        *,
        ids: np.ndarray,
        t: int,
    ) -> None:
        if len(means) == 0:
            return
        rows = rows_from_arrays(INBOUND_FIELDS, id=ids, value=means, vmin=minimums,
                                vmax=maximums, n=counts, origin_ns=origins)
        outbound = self.client.advance(t, rows, flush=False)
        if outbound:
            raise self.client.failure(f"sent {len(outbound)} messages without a window end")

    def flush(self) -> Aggregate | None:
        outbound = self.client.advance(self.clock(), [], flush=True)
        if not outbound:
            return None
        if len(outbound) > 1:
            raise self.client.failure(f"sent {len(outbound)} aggregates for one window")
        try:
            columns = arrays_from_rows(outbound, OUTBOUND_FIELDS)
        except ValueError as error:
            raise self.client.failure(f"sent an aggregate that is not a message row: {error}") \
                from None
        row = {name: column[0].item() for name, column in columns.items()}
        if row["n"] < 1:
            raise self.client.failure(f"sent an aggregate of {row['n']} readings")
        return row_aggregate(row)

    def reset(self) -> int:
        return self.client.crash(self.clock())


class ProtocolGatewayNode(GatewayNode):
    """A gateway whose logic answers from a container over the node protocol."""

    port = DEFAULT_PORT
    command: tuple[str, ...] = (
        "python3", "-m", "xedgesim.services.protocol", "--listen", f"0.0.0.0:{DEFAULT_PORT}")
    # Every ADVANCE is a round trip: on the run's bridge network it skips docker-proxy, about
    # twice as fast (bench/protocol_roundtrip.py); the published 127.0.0.1 port is the fallback.
    prefer_bridge = True

    def __init__(self, spec: NodeSpec, context: SimContext) -> None:
        super().__init__(spec, context)
        self.timeout_s, self.environment = protocol_options(spec)
        self.container: RunningContainer | None = None
        self.address: tuple[str, int] | None = None  # where the client connected
        self.client = self.connect()
        self.remote = RemoteGatewayLogic(self.client, lambda: context.kernel.now)
        self.logic = self.remote  # GatewayNode's window end and crash now ask the container

    def init_params(self) -> dict[str, Any]:
        return {"aggregate_every_ns": self.params.aggregate_every_ns}

    def connect(self) -> ProtocolClient:
        """Start the node's container and INIT it; tests replace this with a local process."""
        containers = self.context.containers
        if containers is None:
            raise ContainerError(
                f"node {self.id!r}: runs in docker but the run has no container session")
        if self.spec.image is None:
            raise ContainerError(f"node {self.id!r}: runs in docker and needs an image")
        self.container = containers.start(ContainerSpec(
            node=self.id, image=self.spec.image, command=list(self.command),
            environment=self.environment, ports=(self.port,)))
        options: dict[str, Any] = {
            "kind": "gateway", "params": self.init_params(), "timeout_s": self.timeout_s,
            "alive": self._alive}
        bridge = self._bridge_address(containers.network_name) if self.prefer_bridge else None
        if bridge is not None:
            try:
                client = ProtocolClient.connect(self.id, bridge, connect_timeout_s=BRIDGE_TRY_S,
                                                **options)
            except ProtocolError:
                pass  # not routable from here (Docker Desktop, rootless): the published port
            else:
                client.diagnose = self._diagnose
                self.address = bridge
                return client
        self.address = self.container.address(self.port)
        return ProtocolClient.connect(self.id, self.address, diagnose=self._diagnose, **options)

    def _bridge_address(self, network: str) -> tuple[str, int] | None:
        """The container's own address on the run's network, if the engine reports one."""
        assert self.container is not None
        networks = self.container.container.attrs.get("NetworkSettings", {}).get("Networks", {})
        ip = (networks.get(network) or {}).get("IPAddress")
        return (ip, self.port) if ip else None

    def receive(self, block: MessageBatch) -> None:
        # As GatewayNode.receive, plus what the protocol carries: ids and the block's time.
        self.remote.add(block.value, block.vmin, block.vmax, block.n, block.origin,
                        ids=block.id, t=int(block.arrival[-1]))
        self.counters.add("readings_in", 0, sum(block.n.tolist()))  # exact: never wraps

    def stop(self) -> None:
        """SHUTDOWN and close; after a failure just close (the container is removed anyway)."""
        client = self.client
        if not client.broken:
            client.timeout_s = min(client.timeout_s, SHUTDOWN_TIMEOUT_S)
            with suppress(ProtocolError):
                client.shutdown()
        client.close()

    def _alive(self) -> bool:
        if self.container is None:
            return True
        try:
            self.container.container.reload()
        except Exception:  # the engine forgot it: it is gone
            return False
        return self.container.container.status not in ("exited", "dead")

    def _diagnose(self, closed: bool) -> str:
        """The container's state and last log lines, for the message of a ProtocolError."""
        if self.container is None:
            return ""
        container = self.container.container
        state: dict[str, Any] = {}
        for _ in range(20 if closed else 1):  # the engine notes an exit after the socket closes
            try:
                container.reload()
            except Exception as error:
                return f"its container is gone ({error})"
            state = container.attrs.get("State", {})
            if state.get("Status") in ("exited", "dead"):
                break
            time.sleep(0.05)
        if state.get("Status") in ("exited", "dead"):
            status = f"its container exited with code {state.get('ExitCode')}"
        else:
            status = f"its container is {state.get('Status', 'in an unknown state')}"
        try:
            tail = container.logs(tail=10).decode(errors="replace").rstrip()
        except Exception:
            tail = ""
        return f"{status}; last log lines:\n{tail}" if tail else f"{status} (no log output)"


def protocol_options(spec: NodeSpec) -> tuple[float, dict[str, str]]:
    """The request timeout (s) and the environment from a node's raw ``docker:`` options."""
    raw = dict(spec.docker)
    unknown = sorted(set(raw) - set(OPTIONS))
    if unknown:
        raise ContainerError(
            f"node {spec.id!r}: unknown docker option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))} (known in mode {MODE}: {', '.join(OPTIONS)})")
    mode = raw.get("mode", MODE)
    if mode != MODE:
        raise ContainerError(
            f"node {spec.id!r}: docker mode {mode!r} is not run by the protocol gateway "
            f"(it runs mode {MODE!r}; the other mode is 'service')")
    timeout_s = DEFAULT_TIMEOUT_S
    if "timeout" in raw:
        try:
            timeout_ns = parse_duration(raw["timeout"])
        except UnitError as error:
            raise ContainerError(f"node {spec.id!r}: docker timeout: {error}") from None
        if timeout_ns <= 0:
            raise ContainerError(f"node {spec.id!r}: docker timeout must be above 0")
        timeout_s = timeout_ns / 1e9
    environment = raw.get("environment", {})
    if not isinstance(environment, dict):
        raise ContainerError(f"node {spec.id!r}: docker environment must be a mapping")
    return timeout_s, {str(key): str(value) for key, value in environment.items()}
