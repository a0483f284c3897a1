"""The kernel runs events in (time, priority, scheduling order) and only inside [0, until)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xedgesim.sim.kernel import DELIVERY, FAULT, NEVER, TIMER, Kernel


@dataclass
class Plan:
    """One event to schedule: ``delay`` after its parent's time (absolute for a root), what its
    callback returns, and what it schedules when it runs."""

    delay: int
    priority: int
    returns: int | None
    children: list[Plan] = field(default_factory=list)


_priorities = st.sampled_from([FAULT, TIMER, DELIVERY])
_returns = st.none() | st.integers(0, 4)


@st.composite
def _forests(draw: st.DrawFn) -> list[Plan]:
    """Root events, and children hung on any earlier event (flat draws keep hypothesis fast)."""
    roots = [Plan(t, p, r) for t, p, r in draw(st.lists(
        st.tuples(st.integers(0, 30), _priorities, _returns), max_size=12))]
    plans = list(roots)
    children = draw(st.lists(
        st.tuples(st.integers(0, 6), _priorities, _returns, st.integers(0, 1_000)), max_size=30))
    for delay, priority, returns, parent in children:
        if plans:
            child = Plan(delay, priority, returns)
            plans[parent % len(plans)].children.append(child)
            plans.append(child)
    return roots


@dataclass
class Recorder:
    """Schedules plans on a kernel and logs what runs, keyed as (time, priority, sequence)."""

    kernel: Kernel
    not_before_parent: bool  # children keep (time, priority) >= their parent's
    sequence: itertools.count = field(default_factory=itertools.count)
    scheduled: list[tuple[int, int, int]] = field(default_factory=list)
    ran: list[tuple[int, int, int]] = field(default_factory=list)
    expected_events: int = 0

    def schedule(self, time_ns: int, priority: int, plan: Plan) -> None:
        key = (time_ns, priority, next(self.sequence))
        self.scheduled.append(key)
        self.kernel.schedule(time_ns, priority, self._run, (key, plan))

    def _run(self, argument: tuple[tuple[int, int, int], Plan]) -> int | None:
        key, plan = argument
        assert self.kernel.now == key[0]
        self.ran.append(key)
        self.expected_events += 1 if plan.returns is None else plan.returns
        for child in plan.children:
            priority = child.priority
            if self.not_before_parent and child.delay == 0:
                priority = max(priority, key[1])
            self.schedule(key[0] + child.delay, priority, child)
        return plan.returns


def _run(roots: list[Plan], until: int, *, not_before_parent: bool) -> Recorder:
    recorder = Recorder(Kernel(until), not_before_parent)
    for plan in roots:
        recorder.schedule(plan.delay, plan.priority, plan)
    recorder.kernel.run()
    return recorder


@settings(max_examples=150, deadline=None)
@given(_forests(), st.integers(0, 60))
def test_events_run_in_time_priority_sequence_order(roots: list[Plan], until: int) -> None:
    recorder = _run(roots, until, not_before_parent=True)
    assert recorder.ran == sorted(recorder.ran)
    assert recorder.ran == sorted(key for key in recorder.scheduled if key[0] < until)


@settings(max_examples=150, deadline=None)
@given(_forests(), st.integers(0, 60))
def test_run_order_matches_a_reference_queue(roots: list[Plan], until: int) -> None:
    """Children may land at ``now`` with a smaller priority than their parent: they still run
    next, in (time, priority, sequence) order among what is pending."""
    recorder = _run(roots, until, not_before_parent=False)

    sequence = itertools.count()
    pending: list[tuple[tuple[int, int, int], Plan]] = []

    def push(time_ns: int, priority: int, plan: Plan) -> None:
        key = (time_ns, priority, next(sequence))
        if time_ns < until:
            pending.append((key, plan))

    for plan in roots:
        push(plan.delay, plan.priority, plan)
    expected = []
    while pending:
        key, plan = min(pending, key=lambda entry: entry[0])
        pending.remove((key, plan))
        expected.append(key)
        for child in plan.children:
            push(key[0] + child.delay, child.priority, child)
    assert recorder.ran == expected


@settings(max_examples=100, deadline=None)
@given(_forests(), st.integers(0, 60))
def test_events_counts_callback_results_with_none_as_one(roots: list[Plan], until: int) -> None:
    recorder = _run(roots, until, not_before_parent=False)
    assert recorder.kernel.events == recorder.expected_events
    assert all(time_ns < until for time_ns, _, _ in recorder.ran)


def test_equal_time_order_is_fault_then_timer_then_delivery_then_fifo() -> None:
    kernel = Kernel(100)
    ran: list[str] = []
    for name, priority in [("d1", DELIVERY), ("t1", TIMER), ("f1", FAULT), ("d2", DELIVERY),
                           ("f2", FAULT), ("t2", TIMER)]:
        kernel.schedule(5, priority, ran.append, name)
    kernel.schedule(4, DELIVERY, ran.append, "early")
    kernel.run()
    assert ran == ["early", "f1", "f2", "t1", "t2", "d1", "d2"]
    assert kernel.events == 7


def test_events_at_or_after_until_never_run() -> None:
    kernel = Kernel(10)
    ran: list[int] = []
    for time_ns in (9, 10, 11, 10**12):
        kernel.schedule(time_ns, TIMER, ran.append, time_ns)
    kernel.run()
    assert ran == [9]
    assert kernel.now == 10


def test_a_callback_scheduling_at_until_is_dropped() -> None:
    kernel = Kernel(10)
    ran: list[str] = []

    def first(_: object) -> None:
        ran.append("first")
        kernel.schedule(10, FAULT, ran.append, "at until")
        kernel.schedule(9, DELIVERY, ran.append, "just before")

    kernel.schedule(3, TIMER, first)
    kernel.run()
    assert ran == ["first", "just before"]


def test_scheduling_into_the_past_raises() -> None:
    kernel = Kernel(100)
    with pytest.raises(ValueError, match="before now"):
        kernel.schedule(-1, TIMER, print)

    def late(_: object) -> None:
        kernel.schedule(kernel.now - 1, FAULT, print)

    kernel.schedule(20, TIMER, late)
    with pytest.raises(ValueError, match=r"cannot schedule at 19 ns, before now \(20 ns\)"):
        kernel.run()


def test_scheduling_at_now_is_allowed() -> None:
    kernel = Kernel(100)
    ran: list[str] = []

    def parent(_: object) -> None:
        ran.append("parent")
        kernel.schedule(kernel.now, FAULT, ran.append, "child")

    kernel.schedule(20, DELIVERY, parent)
    kernel.run()
    assert ran == ["parent", "child"]


def test_next_time() -> None:
    kernel = Kernel(100)
    assert kernel.next_time() == NEVER
    kernel.schedule(100, FAULT, print)  # at until: dropped, so still nothing pending
    assert kernel.next_time() == NEVER
    kernel.schedule(40, DELIVERY, print)
    kernel.schedule(30, DELIVERY, print)
    kernel.schedule(50, FAULT, print)
    assert kernel.next_time() == 30

    seen: list[int] = []
    kernel = Kernel(100)
    for time_ns in (10, 20, 30):
        kernel.schedule(time_ns, TIMER, lambda _: seen.append(kernel.next_time()))
    kernel.run()
    assert seen == [20, 30, NEVER]
    assert kernel.next_time() == NEVER


def test_empty_run_moves_now_to_until() -> None:
    kernel = Kernel(1_000)
    kernel.run()
    assert (kernel.now, kernel.events) == (1_000, 0)


def test_progress_gets_virtual_time_and_events_so_far() -> None:
    kernel = Kernel(1_000)
    results = {10: None, 20: 5, 30: 0, 40: 2}
    for time_ns, handled in results.items():
        kernel.schedule(time_ns, TIMER, lambda value: value, handled)
    calls: list[tuple[int, int]] = []
    kernel.run(lambda now, events: calls.append((now, events)), progress_every_s=0)
    assert calls == [(10, 1), (20, 6), (30, 6), (40, 8)]
    assert kernel.events == 8


def test_no_progress_callback_is_fine() -> None:
    kernel = Kernel(10)
    kernel.schedule(1, TIMER, lambda _: 3)
    kernel.run(None, progress_every_s=0)
    assert kernel.events == 3
