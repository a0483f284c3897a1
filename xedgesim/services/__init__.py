"""Node logic run as real processes inside the project's images.

The behaviour lives in ``xedgesim.models``; this package only moves it to another clock or
transport, so a container never runs a copy of the logic:

* ``protocol`` — the node protocol (docs/protocol.md): the coordinator drives the model logic
  in lockstep over JSON lines, so a container node stays deterministic;
* ``gateway`` — the same gateway logic as a wall-clock MQTT service (paho), for the fleet.

Modules here run inside images that carry Debian's python3, python3-numpy and python3-paho-mqtt
and nothing from PyPI, so they import nothing beyond numpy, paho and the standard library.
"""
