"""MQTT topic names and filters (MQTT 3.1.1, section 4.7), shared by the model and the services."""

from __future__ import annotations


def filter_problem(topic_filter: str) -> str | None:
    """Why ``topic_filter`` is not a valid subscription filter, or None when it is."""
    if not topic_filter:
        return "a topic filter cannot be empty"
    levels = topic_filter.split("/")
    for position, level in enumerate(levels):
        if "#" in level and (level != "#" or position != len(levels) - 1):
            return "'#' must be a whole level and the last one (e.g. 'site/#')"
        if "+" in level and level != "+":
            return "'+' must be a whole level (e.g. 'site/+/temp')"
    return None


def topic_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be published to, or None when it can."""
    if not topic:
        return "a topic cannot be empty"
    if "+" in topic or "#" in topic:
        return "a publish topic cannot contain wildcards '+' or '#'; use {id} for the sender's id"
    return None


def matches(topic_filter: str, topic: str) -> bool:
    """Does ``topic`` match ``topic_filter``? ``+`` is one level, ``#`` the rest (even none).

    Topics starting with '$' are not matched by filters starting with a wildcard.
    """
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for position, level in enumerate(filter_levels):
        if level == "#":
            return True
        if position >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[position]:
            return False
    return len(filter_levels) == len(topic_levels)


def render(template: str, instance_id: str, index: int) -> str:
    """A publish topic for one instance: ``{id}`` and ``{index}`` filled in."""
    if "{" not in template:
        return template
    return template.replace("{id}", instance_id).replace("{index}", str(index))


class TopicTable:
    """Topic strings interned as small integers, so batches carry ids, not strings."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._ids: dict[str, int] = {}

    def intern_all(self, topics: list[str]) -> list[int]:
        """Ids for many topics at once (a fleet's worth), in order."""
        ids = self._ids
        for topic in topics:
            if topic not in ids:
                ids[topic] = len(self.names)
                self.names.append(topic)
        return [ids[topic] for topic in topics]

    def intern(self, topic: str) -> int:
        topic_id = self._ids.get(topic)
        if topic_id is None:
            topic_id = self._ids[topic] = len(self.names)
            self.names.append(topic)
        return topic_id
