"""Alerting: device events through the rules engine into alert lifecycles, with rule timers."""
