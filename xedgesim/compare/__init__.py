"""Parity between two runs: ``xedge compare`` judges, metric by metric, whether two runs of a
scenario (two seeds, python_model vs docker, simulation vs fleet, a sweep vs one run) agree
within documented tolerances, and reports it as a table, JUnit XML and JSON.

``runs`` reads run and sweep directories, ``tolerances`` holds the default rules and the
tolerance file, ``verdicts`` judges, ``report`` formats, ``command`` is the thin click command.
"""

from xedgesim.compare.runs import CompareInputError, Run, read_run
from xedgesim.compare.tolerances import Tolerances, load_tolerances
from xedgesim.compare.verdicts import Comparison, Verdict, compare

__all__ = [
    "CompareInputError",
    "Comparison",
    "Run",
    "Tolerances",
    "Verdict",
    "compare",
    "load_tolerances",
    "read_run",
]
