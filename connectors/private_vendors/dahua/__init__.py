"""Dahua HTTP API connector: digest-authenticated CGI, device and channel discovery, eventManager events."""
