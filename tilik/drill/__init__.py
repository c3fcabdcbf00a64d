"""``tilik drill``: a failure drill on a three-broker cluster under the demo's traffic, proved by a ledger.

``cluster`` starts the brokers and issues each service its principal, ``fleet`` runs the cameras,
connectors, hub workers and an agency's webhook receiver, ``traffic`` produces device events whose
outcome is known in advance, ``faults`` kills and restarts one part at a time, ``ledger`` reads the
topics at the end and accounts for every event, alert and delivery, and ``report`` prints it.
"""
