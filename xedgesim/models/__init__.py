"""Deterministic node behaviour (sensor, gateway, broker, cloud) as logic driven by the kernel."""
