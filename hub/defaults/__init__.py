"""Default rules and routes shipped with Tilik (``rules.yaml``, ``routes.yaml``); a city copies and edits them."""
