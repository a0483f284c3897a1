"""paho-mqtt clients the coordinator uses to talk to a real broker."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from xedgesim.docker.containers import ContainerError


def connected_client(
    address: tuple[str, int],
    client_id: str,
    on_message: Callable[[Any, Any, Any], None] | None = None,
    timeout_s: float = 10.0,
) -> Any:
    """A paho 2.x client connected to ``address`` with its network loop running.

    A persistent session (clean_session False) so QoS 1 messages survive a reconnect.
    """
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=False)
    client.max_inflight_messages_set(0)  # no cap: the model, not paho, decides the load
    client.max_queued_messages_set(0)
    if on_message is not None:
        client.on_message = on_message
    answers: queue.Queue[Any] = queue.Queue()
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(reason)
    try:
        client.connect(*address, keepalive=30)
        client.loop_start()
        reason = answers.get(timeout=timeout_s)
    except (OSError, queue.Empty) as error:
        client.loop_stop()
        raise ContainerError(f"cannot connect to the broker at {address[0]}:{address[1]} "
                             f"as {client_id}: {error or 'no answer'}") from None
    if reason.is_failure:
        client.loop_stop()
        raise ContainerError(f"the broker refused {client_id}: {reason}")
    return client
