"""Container nodes: real containers on a real Docker engine, driven by the coordinator.

Nothing here is imported by a pure-Python simulation; the registry names these classes and
imports them only for scenarios that use ``implementation: docker``.
"""
