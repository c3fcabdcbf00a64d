"""The connector conformance kit: one suite of checks every connector must pass."""
