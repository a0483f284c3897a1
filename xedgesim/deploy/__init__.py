"""Shipping: the same images the simulation used, to a fleet, through Ansible, proven by tests.

``xedge stage`` rehearses a deployment on a staging fleet (simulated Pis on this machine, or an
existing inventory) as a lifecycle of small steps — create, converge, idempotence, verify,
destroy — and records a release manifest when it passes. ``xedge deploy`` ships only the image
digests such a manifest vouches for, canary first, and ``xedge verify`` runs the checks alone.

Nothing here is imported by a simulation: ansible-runner, the docker SDK, testinfra and paho are
imported inside the functions that use them, so ``xedge --help`` stays fast.
"""
