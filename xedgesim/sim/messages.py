"""Messages travel as batches: one numpy array per field, one row per message.

A sensor fleet emits 100,000 readings a second; moving them as Python objects would cost more
than simulating them. Nodes that only ever see one message still get a batch of length one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(slots=True)
class MessageBatch:
    id: np.ndarray  # int64, unique per message, assigned in emission order
    src: np.ndarray  # int64, global instance index of this hop's sender
    topic: np.ndarray  # int64, id in the run's topic table
    size: np.ndarray  # int64 bytes
    qos: np.ndarray  # int8
    retain: np.ndarray  # bool
    origin: np.ndarray  # int64 ns: when the oldest data in the message was measured
    first_sent: np.ndarray  # int64 ns: first attempt on this hop
    sent: np.ndarray  # int64 ns: this attempt
    arrival: np.ndarray  # int64 ns, set by the link
    attempt: np.ndarray  # int64, 0 for the first transmission
    value: np.ndarray  # float64: a reading, or an aggregate's mean
    vmin: np.ndarray  # float64
    vmax: np.ndarray  # float64
    n: np.ndarray  # int64: readings behind this message (1 for a reading)

    def __len__(self) -> int:
        return len(self.id)

    def select(self, index: np.ndarray) -> MessageBatch:
        """The rows picked by a boolean mask or an index array, in that order."""
        return MessageBatch(*(getattr(self, name)[index] for name in FIELD_NAMES))

    def copy_with(self, **changes: np.ndarray) -> MessageBatch:
        values = {name: changes.get(name, getattr(self, name)) for name in FIELD_NAMES}
        return MessageBatch(**values)

    @classmethod
    def concat(cls, batches: list[MessageBatch]) -> MessageBatch:
        if len(batches) == 1:
            return batches[0]
        return cls(*(np.concatenate([getattr(b, name) for b in batches]) for name in FIELD_NAMES))

    @classmethod
    def one(
        cls,
        *,
        id: int,
        src: int,
        topic: int,
        size: int,
        qos: int,
        retain: bool,
        origin: int,
        sent: int,
        value: float,
        vmin: float,
        vmax: float,
        n: int,
    ) -> MessageBatch:
        """A batch of one message sent at ``sent`` (an aggregate, or one from a real broker)."""
        def ints(number: int) -> np.ndarray:
            return np.array([number], dtype=np.int64)

        return cls(
            id=ints(id), src=ints(src), topic=ints(topic), size=ints(size),
            qos=np.array([qos], dtype=np.int8), retain=np.array([retain]),
            origin=ints(origin), first_sent=ints(sent), sent=ints(sent), arrival=ints(sent),
            attempt=ints(0), value=np.array([value]), vmin=np.array([vmin]),
            vmax=np.array([vmax]), n=ints(n),
        )

    @classmethod
    def readings(
        cls,
        ids: np.ndarray,
        src: np.ndarray,
        topic: np.ndarray,
        times: np.ndarray,
        values: np.ndarray,
        size: int,
        qos: int,
        retain: bool,
    ) -> MessageBatch:
        """A batch of fresh single readings measured and sent at ``times``."""
        count = len(ids)
        return cls(
            id=ids,
            src=src,
            topic=topic,
            size=np.full(count, size, dtype=np.int64),
            qos=np.full(count, qos, dtype=np.int8),
            retain=np.full(count, retain, dtype=bool),
            origin=times,
            first_sent=times,
            sent=times,
            arrival=times,
            attempt=np.zeros(count, dtype=np.int64),
            value=values,
            vmin=values,
            vmax=values,
            n=np.ones(count, dtype=np.int64),
        )


def arrival_order(arrival: np.ndarray, ids: np.ndarray) -> np.ndarray | None:
    """The permutation that sorts messages by (arrival, id), or None if they are sorted already.

    A stable sort on arrival alone is enough unless two equal arrivals have their ids out of
    order, which is rare; only then is the slower two-key sort paid for.
    """
    if len(arrival) < 2:
        return None
    ordered = arrival[1:] > arrival[:-1]
    if ordered.all() or (
        (arrival[1:] >= arrival[:-1]).all() and (ordered | (ids[1:] > ids[:-1])).all()
    ):
        return None
    order = np.argsort(arrival, kind="stable")
    by_arrival, by_id = arrival[order], ids[order]
    if ((by_arrival[1:] == by_arrival[:-1]) & (by_id[1:] < by_id[:-1])).any():
        order = np.lexsort((ids, arrival))
    return order


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(MessageBatch))
