"""Deterministic node behaviour: sensor, gateway, broker and cloud, as pure logic driven by the kernel."""
