"""Connectors for private-sector recorders and cameras that speak vendor HTTP APIs (Hikvision ISAPI, Dahua)."""
