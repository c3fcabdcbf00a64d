"""Delivery to agencies: the dispatch topic by default, and signed webhooks with retries for those who ask."""
