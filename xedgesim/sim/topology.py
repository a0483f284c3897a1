"""Every node instance of a scenario gets a global index; groups (``count: N``) are ranges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xedgesim.models.topics import LazyNames
from xedgesim.scenario.model import NodeSpec, Scenario, instance_id


@dataclass(frozen=True)
class Group:
    spec: NodeSpec
    first: int  # global index of instance 0
    count: int

    @property
    def id(self) -> str:
        return self.spec.id


class Topology:
    def __init__(self, scenario: Scenario) -> None:
        self.groups: dict[str, Group] = {}
        total = 0
        for spec in scenario.nodes:
            self.groups[spec.id] = Group(spec, total, spec.count)
            total += spec.count
        self.group_of_instance = np.concatenate(
            [np.full(g.count, i, dtype=np.int64) for i, g in enumerate(self.groups.values())]
        ) if self.groups else np.empty(0, dtype=np.int64)
        self.group_list: list[Group] = list(self.groups.values())
        self.instance_ids = InstanceNames(self)

    def resolve(self, scenario_id: str) -> tuple[Group, int | None]:
        """A scenario id names a group, or one instance of a group (then its local index)."""
        if scenario_id in self.groups:
            return self.groups[scenario_id], None
        group = self.groups.get(scenario_id.rpartition("-")[0])
        if group is None or scenario_id not in group.spec.instance_ids:
            raise KeyError(scenario_id)
        return group, group.spec.instance_ids.index(scenario_id)


class InstanceNames(LazyNames):
    """Every instance id by global index, made when asked (see ``model.InstanceIds``)."""

    def __init__(self, topology: Topology) -> None:
        self._topology = topology

    def __len__(self) -> int:
        return len(self._topology.group_of_instance)

    def _name(self, index: int) -> str:
        topology = self._topology
        group = topology.group_list[int(topology.group_of_instance[index])]
        return instance_id(group.id, group.count, index - group.first)
