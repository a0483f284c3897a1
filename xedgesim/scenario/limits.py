"""Every bound the loader puts on a scenario, in one table (docs/scenario.md, "Limits").

A scenario is user input: a file of any size, an alias bomb, a fleet of a billion sensors or a
100 kB topic must be refused with a located message *before* anything of that size is
allocated, not found out by a MemoryError or a hang. The bounds are far above what a laptop can
simulate in useful time (the 1,000,000-sensor benchmark is well inside them).
"""

from __future__ import annotations

MAX_FILE_BYTES = 10 * 1024 * 1024
"""A scenario file larger than this is refused unread (100,000 links take about 4 MB)."""

MAX_YAML_VALUES = 5_000_000
"""Values in the document with every alias expanded: stops a "billion laughs" alias bomb."""

MAX_YAML_DEPTH = 64
"""Nesting of lists and mappings; a scenario needs about eight."""

MAX_NODES = 100_000
"""Entries of ``nodes:`` (a fleet is one entry with ``count``)."""

MAX_LINKS = 1_000_000
"""Entries of ``network.links``."""

MAX_FAULTS = 100_000
"""Entries of ``faults``."""

MAX_COUNT = 10_000_000
"""``count`` of one node."""

MAX_INSTANCES = 10_000_000
"""Instances of all nodes together (the sum of the counts)."""

MAX_NAME_CHARS = 64
"""Length of the scenario ``name`` (it becomes a directory name)."""

MAX_TOPIC_BYTES = 65_535
"""A topic template or filter, in UTF-8 bytes: MQTT's own limit for a topic."""

MAX_TOPIC_TABLE_BYTES = 256 * 1024 * 1024
"""The topics of every instance written out (``{id}`` and ``{index}`` filled in), summed."""

MAX_DOCKER_TEXT_BYTES = 65_536
"""One text value under ``docker:`` (an environment value, a volume)."""

MAX_DOCKER_ENTRIES = 1_000
"""Entries of one list or mapping under ``docker:`` (environment variables, ports, volumes)."""

MAX_TIME_NS = 2**62
"""Every time the kernel computes stays below this (about 146 years): a run's ``duration``
plus the longest single delay that can follow an event before it (a hop, a retry, an interval,
a fault's ``for``). Half of int64's range, so the kernel's arithmetic cannot wrap."""

MAX_DURATION_NS = MAX_TIME_NS // 2
"""A run's ``duration`` stays below this (2^61 ns, about 73 years), leaving the other half of
``MAX_TIME_NS`` for the delays added to times within it."""

MAX_DRAWN_PAYLOAD_BYTES = 268_435_455
"""The largest payload a size distribution may draw (its reach, see ``distributions.reach``):
MQTT's own limit on a packet's remaining length (MQTT 3.1.1, section 2.2.3). Sizes are drawn
per message, so the bound also keeps the serialisation arithmetic in int64."""

MAX_TRACE_BYTES = 64 * 1024 * 1024
"""A trace file larger than this is refused unread: an arrival trace (``process: {trace:
FILE}``) or a link's trace (``trace: FILE``, a million rows take about 30 MB)."""

MAX_TRACE_ROWS = 2_000_000
"""Emission rows of one arrival trace (each instance replays them, or each row names one)."""

MAX_SCHEDULE_ROWS = 1_000_000
"""Changes of one link over time: entries of its ``schedule``, or rows of its ``trace``."""

MAX_SERVERS = 1_024
"""``servers`` of a node's ``service:`` (a machine's cores or worker threads)."""

MAX_STEP_ENERGY_PJ = 10**18
"""``energy`` of one processing step (``compute:``), in picojoules: 1 MJ, a kilowatt for a
quarter of an hour; a step costs millijoules."""

MAX_BUFFER_MESSAGES = 1_000_000_000
"""``buffer`` counted in messages (one FIFO); a byte ``buffer`` is bounded like every size."""
