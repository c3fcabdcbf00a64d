"""Names a command accepts for things that exist (an agency, a kecamatan): a name that matches
none is an error listing the valid ones, never an empty answer that looks like "nothing here"."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UnknownName(ValueError):
    """``value`` is not one of the known names; the message lists them."""


def known_name(value: str, valid: Iterable[str], *, what: str, echo: bool = True) -> str:
    """The known name ``value`` means, matched without regard to case; else ``UnknownName``.
    ``echo=False`` leaves ``value`` out of the message (input from the network is not repeated)."""
    names = sorted({name for name in valid if name})
    for name in names:
        if name.casefold() == value.casefold():
            return name
    close = difflib.get_close_matches(value, names, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(name) for name in close)}?" if close else ""
    listing = ", ".join(names) if names else "none yet"
    named = f"no {what} is named {value!r}." if echo else f"not a known {what}."
    raise UnknownName(f"{named}{hint} Known: {listing}.")
