"""Shared fixtures of the unit tests.

pytest runs with ``--import-mode=importlib``, so test modules cannot import a sibling helper
module by name; the simulation helpers are loaded here, by path, and handed out as a fixture.
"""

from __future__ import annotations

import importlib.util
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


def _load_helpers() -> ModuleType:
    name = "xedgesim_tests_simulation_helpers"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).with_name("simulation_helpers.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


_HELPERS = _load_helpers()


@pytest.fixture(scope="session")
def sim() -> ModuleType:
    """``tests/unit/simulation_helpers.py``: ``sim.run_yaml(text)`` -> a ``Run`` whose flows'
    accounting has been checked; ``sim.MS``/``sim.S`` are nanoseconds per ms/s."""
    return _HELPERS


@pytest.fixture
def sigint_handled() -> Iterator[None]:
    """SIGINT as an interactive Python process has it (KeyboardInterrupt), for tests that send
    SIGINT to this very process: when the suite runs as a background job, SIGINT is ignored
    from the start, and xedge keeps an ignored SIGINT ignored (as Python does)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
