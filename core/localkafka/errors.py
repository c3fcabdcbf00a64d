"""The one exception the local broker raises: something the operator must fix (Java, Maven, ports, data)."""

from __future__ import annotations


class LocalKafkaError(Exception):
    """The local broker could not be fetched, formatted, started, reached or stopped."""
