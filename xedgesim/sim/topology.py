"""Every node instance of a scenario gets a global index; groups (``count: N``) are ranges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xedgesim.scenario.model import NodeSpec, Scenario


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
        self.instance_ids: list[str] = []
        for spec in scenario.nodes:
            self.groups[spec.id] = Group(spec, len(self.instance_ids), spec.count)
            self.instance_ids.extend(spec.instance_ids)
        self.group_of_instance = np.concatenate(
            [np.full(g.count, i, dtype=np.int64) for i, g in enumerate(self.groups.values())]
        ) if self.groups else np.empty(0, dtype=np.int64)
        self.group_list: list[Group] = list(self.groups.values())
        self._index = {instance: i for i, instance in enumerate(self.instance_ids)}

    def resolve(self, scenario_id: str) -> tuple[Group, int | None]:
        """A scenario id names a group, or one instance of a group (then its local index)."""
        if scenario_id in self.groups:
            return self.groups[scenario_id], None
        index = self._index[scenario_id]
        group = self.group_list[int(self.group_of_instance[index])]
        return group, index - group.first
