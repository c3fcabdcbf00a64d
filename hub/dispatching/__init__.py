"""Dispatching: alerts routed to each agency's dispatch topic, escalated when nobody acknowledges."""
