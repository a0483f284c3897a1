"""Faults on a fleet: which of a scenario's faults a fleet run can realise, and applying them.

What is realised, and how:

* a **gateway** ``crash`` (and the ``restart`` that ``for:`` schedules, or an explicit one):
  its container on the device is stopped at once (``docker stop -t 0``) and started again,
  through the device's engine (:mod:`xedgesim.fleetrun.device`); readings the broker holds
  for it meanwhile are the broker's business, as in production;
* a **link fault or partition between a gateway and its broker**: that traffic runs between
  two containers on the device, so the gateway's container is disconnected from its networks
  for the window (``docker network disconnect``) and connected again when it ends. Its
  connections are cut, not held: the gateway's MQTT client reconnects when the link is back
  and resumes its persistent session, so QoS 1 readings the broker kept for it arrive then,
  late, as the model's QoS 1 retries do (docs/parity.md, "Faults on a fleet");
* a **sensor** or **cloud** crash, and a link fault or partition between sensors, broker and
  cloud: those nodes and links are the simulator's models in a fleet run too (readings cross
  the model's link before they are published; aggregates cross it after they are received),
  so the model applies them exactly as in a hybrid run.

Refused before anything runs (exit 2, the fault's place in the scenario): a **broker** crash
(it would cut the run's own clients; not realised yet).

Device actions run on a worker thread of their own, so an SSH round trip never stalls the
paced run; what each did and when is reported in the run's summary. Whatever the run stopped
is started again when it ends, also after an error or Ctrl-C: a fleet run leaves the fleet as
it found it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xedgesim.errors import BadInput, NodeFailure
from xedgesim.fleetrun.device import Device
from xedgesim.scenario.model import FaultSpec, Scenario


class FaultRefused(BadInput):
    """Faults of the scenario a fleet cannot realise; the message lists each with its place."""


def group_of(scenario: Scenario, node: str) -> tuple[str, str]:
    """(group id, node type) of a node or instance id."""
    for spec in scenario.nodes:
        if spec.id == node or node in spec.instance_ids:
            return spec.id, spec.type
    raise KeyError(node)


def problems(scenario: Scenario) -> list[str]:
    """Every fault of ``scenario`` a fleet run cannot realise, as ``file:line:col: why``."""
    found = []
    for fault in scenario.faults:
        reason = _refusal(scenario, fault)
        if reason is not None:
            found.append(f"{fault.location}: {fault.action} fault: {reason}")
    return found


def check(scenario: Scenario) -> None:
    """Refuse (exit 2) a scenario with a fault a fleet run cannot realise."""
    found = problems(scenario)
    if found:
        raise FaultRefused("a fleet run cannot realise "
                           + ("this fault" if len(found) == 1 else "these faults") + ":\n  "
                           + "\n  ".join(found))


def _refusal(scenario: Scenario, fault: FaultSpec) -> str | None:
    if fault.node is not None and group_of(scenario, fault.node)[1] == "broker":
        return (f"node {fault.node!r} is the host's broker; crashing it under the run's "
                "own clients is not realised yet (remove the fault, or simulate it)")
    return None


@dataclass
class Applied:
    """One device action of a fault, as it happened."""

    at_s: float  # the scenario's time of the fault
    host: str
    node: str
    action: str  # stop | start | disconnect | connect
    container: str
    seconds: float | None = None  # how long the device took
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"at_s": self.at_s, "host": self.host, "node": self.node, "action": self.action,
                "container": self.container, "seconds": self.seconds, "error": self.error}


@dataclass
class DeviceFaults:
    """Stops and starts containers on one device, in order, off the run's thread."""

    host: str
    device: Device
    applied: list[Applied] = field(default_factory=list)
    stopped: set[str] = field(default_factory=set)
    isolated: dict[str, list[str]] = field(default_factory=dict)  # container -> its networks
    _work: queue.SimpleQueue[Callable[[], None] | None] = field(
        default_factory=queue.SimpleQueue)
    _thread: threading.Thread | None = None

    def crash(self, node: str, container: str, at_ns: int) -> None:
        self._submit(Applied(at_ns / 1e9, self.host, node, "stop", container))

    def restart(self, node: str, container: str, at_ns: int) -> None:
        self._submit(Applied(at_ns / 1e9, self.host, node, "start", container))

    def cut_off(self, node: str, container: str, at_ns: int) -> None:
        self._submit(Applied(at_ns / 1e9, self.host, node, "disconnect", container))

    def reconnect(self, node: str, container: str, at_ns: int) -> None:
        self._submit(Applied(at_ns / 1e9, self.host, node, "connect", container))

    def _submit(self, record: Applied) -> None:
        self.applied.append(record)
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=f"faults-{self.host}",
                                            daemon=True)
            self._thread.start()
        self._work.put(lambda: self._do(record))

    def _do(self, record: Applied) -> None:
        started = time.monotonic()
        try:
            if record.action == "stop":
                self.stopped.add(record.container)
                self.device.stop(record.container)
            elif record.action == "start":
                self.device.start(record.container)
                self.stopped.discard(record.container)
            elif record.action == "disconnect":
                self.isolated[record.container] = self.device.isolate(record.container)
            else:
                self.device.rejoin(record.container, self.isolated.pop(record.container, []))
        except NodeFailure as error:
            record.error = str(error)
        except Exception as error:  # an SDK or SSH failure is reported, not a crash
            record.error = f"{type(error).__name__}: {error}"
        record.seconds = round(time.monotonic() - started, 3)

    def _serve(self) -> None:
        while (job := self._work.get()) is not None:
            job()

    def finish(self, timeout_s: float = 120.0) -> None:
        """Wait for the actions in flight, then connect again whatever is still cut off and
        start again whatever is still stopped."""
        if self._thread is not None:
            self._work.put(None)
            self._thread.join(timeout_s)
            self._thread = None
        undo = [("connect", container) for container in sorted(self.isolated)]
        undo += [("start", container) for container in sorted(self.stopped)]
        for action, container in undo:
            record = Applied(-1.0, self.host, "", action, container)
            self.applied.append(record)
            self._do(record)

    def errors(self) -> list[str]:
        return [f"{a.host}: {a.action} {a.container} at {a.at_s:g}s: {a.error}"
                for a in self.applied if a.error]
