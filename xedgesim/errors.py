"""Errors a run can end with that are the world's fault, not a bug: reported, never a traceback."""


class NodeFailure(Exception):
    """A node could not run: its container failed, its engine is missing, or it broke the
    node protocol. The message names the node and says what happened."""
