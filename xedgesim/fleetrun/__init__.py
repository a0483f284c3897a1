"""Fleet runs: a scenario's workload driven against the real brokers and gateways of a fleet.

The same scenario that ``xedge simulate`` runs in virtual time is run here against staged
Pis or a real inventory, and written as the same run directory (``summary.json``,
``nodes.csv``, ``records.csv``), marked ``"mode": "fleet"``, so ``xedge compare`` can judge
the two side by side. What is real and what is modelled:

* the **sensors** are the simulator's sensor models; each reading crosses the scenario's
  network model on its way in (delayed, dropped, retransmitted) and is then published through
  paho to the host's broker over TLS (``workload``, ``broker``);
* the **broker and gateway** are the containers on the device, untouched;
* the **cloud** is a subscriber on the gateways' forward topic; what arrives crosses the
  model's link to the cloud node (``cloud``);
* **faults** on the broker and gateway are applied for real (a gateway crash is its
  container stopped and started on the device, a cut between gateway and broker its
  container disconnected from its networks and connected again); a broker crash is refused
  before anything runs (``faults``).

One module per concern: ``targets`` (what a host offers: address, users, topics),
``device`` (the engine on a device), ``faults``, ``broker`` and ``cloud`` (the two ends of
the MQTT path), ``workload`` (one host's run), ``writer`` (the run directory). Nothing here
imports ansible-runner; the inventory is read through :mod:`xedgesim.deploy.fleet_view`.
"""
