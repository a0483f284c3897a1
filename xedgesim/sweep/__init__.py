"""Many runs of one scenario: replications over seeds, and grid sweeps over its values.

* ``replicate`` — ``xedge simulate --seeds``: one scenario, many seeds, one run directory each;
* ``grid`` — ``xedge sweep``: values to put in the scenario (``--set``, ``--grid``), points;
* ``task`` — one (point, seed): what a worker runs, anywhere, given only text;
* ``executors`` — where tasks run, by the scheme of ``--cluster`` (local processes, Dask);
* ``pool`` — the local worker processes both commands use;
* ``store`` — finished tasks kept on disk as they arrive, so an interrupted sweep resumes;
* ``tables`` — the per-run and per-point tables (CSV, Parquet) and ``sweep.json``;
* ``stats`` — seed specs and 95 % confidence intervals.

Nothing here imports Dask or pyarrow until a sweep needs them.
"""

from xedgesim.sweep.replicate import sweep
from xedgesim.sweep.stats import (
    confidence_intervals,
    format_sweep,
    invalid_sweep_message,
    parse_seeds,
    t95,
)

__all__ = ["confidence_intervals", "format_sweep", "invalid_sweep_message", "parse_seeds",
           "sweep", "t95"]
