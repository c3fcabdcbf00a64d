"""Ingest: every tenant's ingest topics republished into the shared topics, owned by the topic's tenant."""
