"""ONVIF connector: WS-Discovery and unicast probing, device/media/event services, PullPoint subscriptions."""
