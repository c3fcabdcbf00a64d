"""Hikvision ISAPI connector: digest-authenticated HTTP, device and channel discovery, alertStream events."""
