"""The ``key=value`` line format of CGI-style camera APIs (Dahua ``magicBox``/``configManager``)."""

from __future__ import annotations

import re

# ASCII only: a device's "[٣]" is not channel 3.
_INDEXED = re.compile(
    r"^(?P<table>[\w.]+?)\[(?P<index>\d{1,5})\]\.(?P<field>[\w.\[\]]+)$", re.ASCII
)


def parse_key_values(text: str, *, max_lines: int = 10_000) -> dict[str, str]:
    """``a=b`` lines to a dict (first ``=`` splits; blank and malformed lines are skipped)."""
    values: dict[str, str] = {}
    for line in text.splitlines()[:max_lines]:
        key, sep, value = line.partition("=")
        if sep and key.strip():
            values[key.strip()] = value.strip()
    return values


def indexed_values(values: dict[str, str], table: str, field: str) -> dict[int, str]:
    """``table[i].field`` entries by index, e.g. ``table.ChannelTitle[3].Name`` -> ``{3: ...}``."""
    out: dict[int, str] = {}
    for key, value in values.items():
        match = _INDEXED.match(key)
        if match and match["table"] == table and match["field"] == field:
            out[int(match["index"])] = value
    return out
