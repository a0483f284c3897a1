"""Scenario files: YAML -> a typed, checked ``Scenario``, or every problem with file:line:col.

``load_scenario`` is the one entry point; the dataclasses it returns are in ``model``. Files of
the original xEdgeSim layout are converted on the way in (see ``legacy``).
"""

from xedgesim.scenario.errors import Problem, ScenarioError
from xedgesim.scenario.loader import load_scenario, load_scenario_text
from xedgesim.scenario.model import Location, Scenario

__all__ = [
    "Location",
    "Problem",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "load_scenario_text",
]
