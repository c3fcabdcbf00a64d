"""The hub: Faust agents for camera health, rules (events to alerts), routing and delivery to agencies."""
