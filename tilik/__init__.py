"""Tilik: the shared platform pieces (settings, logging, CLI, local Kafka) of the CCTV hub."""

__version__ = "0.1.0"
