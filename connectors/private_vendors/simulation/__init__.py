"""Shared machinery of the vendor simulators: devices on loopback, digest auth, fault injection, CLI."""
