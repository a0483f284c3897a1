"""``xedge calibrate``: fit the scenario's links to what a run measured, as a network overlay.

A run's ``records.csv`` (a fleet run, or ``xedge simulate --records``) gives, per hop, each
message's one-way delay and whether it got through. ``records`` reads it bounded and checked,
``samples`` turns rows into per-link delay samples and loss trials (taking out what is not the
link: retransmission waits, serialisation, faults), ``estimators`` fits them (maximum likelihood,
with a goodness-of-fit test) and ``output`` writes the overlay that ``xedge simulate
--network`` reads (``xedgesim.scenario.overlay``). docs/parity.md, "Calibration", is the
reference for the estimator and how to read its report.
"""
