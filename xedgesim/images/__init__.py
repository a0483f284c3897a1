"""The offline image builder: a Debian root filesystem bootstrapped with debootstrap becomes a
base image, and each service image (broker, edge-host, ...) is layered on it with a Dockerfile.

No container registry is needed or used. This package imports the docker SDK only inside the
modules that talk to the engine, so importing it (or ``xedgesim``) stays cheap.
"""
