"""Simulated streaming devices for connector tests, demos and benchmarks.

Devices on loopback with digest auth, numbered multipart event streams, fault injection and a
``tilik simulate`` command; a vendor (or plugin) simulator supplies only its endpoints and payloads.
"""
