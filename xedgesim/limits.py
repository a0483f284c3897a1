"""Every bound ``xedge simulate`` puts on its options, in one table (README, "Options of
simulate"; the scenario's own bounds are in ``xedgesim.scenario.limits``).

Options are user input like a scenario is: each is checked, with the option's name in the
message and exit 2, before anything is allocated or run. A light module, so the command line
can name the bounds in its help without importing the simulator.
"""

from __future__ import annotations

MAX_SEED = 2**63 - 1
"""Seeds are 0 … 2^63 − 1: any seed a signed 64-bit integer holds, so every reader of
``summary.json`` reads it back exactly (the random streams themselves take any integer)."""

MAX_SEEDS = 10_000
"""Seeds of one sweep (``--seeds``): each is a run directory, and a summary held to the end."""

MAX_JOBS = 256
"""Worker processes of one sweep (``--jobs``)."""

MIN_SPEED = 0.001
MAX_SPEED = 1_000_000.0
"""``--speed``, virtual seconds per wall second: finite, from 1000 times slower than real time
(a slower run is a hang in practice) to a million times faster."""

MAX_SWEEP_TASKS = 10_000
"""Runs of one ``xedge sweep``: points × seeds. Each is a summary kept on disk and a row of
its tables."""

MAX_GRID_PARAMETERS = 16
"""Parameters of one sweep (``--set`` options and grid file entries together)."""

MAX_GRID_BYTES = 1024 * 1024
"""A grid file (``xedge sweep --grid``) is read up to this size, and refused beyond it."""
