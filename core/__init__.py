"""The base every Tilik package builds on: settings, logging with redaction, Kafka client configs
and the local broker runner. It imports nothing else of Tilik's."""

__version__ = "0.1.0"
