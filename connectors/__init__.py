"""Connectors: plugins that bring cameras and their events from devices and platforms into the catalog topics."""
