"""xedgesim: simulate an edge/IoT system deterministically, then ship the same images to a fleet."""

__version__ = "0.1.0"
