"""XML Schema time values as ONVIF clients send them: xs:duration and xs:dateTime."""

from __future__ import annotations

import datetime as dt
import re

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str) -> dt.timedelta:
    """Parse a day-time xs:duration such as ``PT60S`` or ``PT1M30S``; years and months are refused."""
    match = _DURATION.match(value.strip())
    if not match or value.strip() in ("P", "PT"):
        raise ValueError(f"unsupported xs:duration {value!r}")
    parts = {name: float(found) for name, found in match.groupdict().items() if found}
    return dt.timedelta(**parts)


def parse_datetime(value: str) -> dt.datetime:
    """Parse an xs:dateTime; a value without offset is taken as UTC, as cameras do."""
    stripped = value.strip()
    if stripped.endswith(("Z", "z")):
        stripped = stripped[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(stripped)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def parse_termination(value: str | None, now: dt.datetime, default: dt.timedelta) -> dt.datetime:
    """A requested termination time: a duration from ``now``, an absolute time, or the default."""
    if not value:
        return now + default
    if value.lstrip().startswith("P"):
        return now + parse_duration(value)
    return parse_datetime(value)
