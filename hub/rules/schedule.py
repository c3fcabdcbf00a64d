"""When a rule is in force: time-of-day ranges (overnight ones included) and days of the week, in the city's zone.

An overnight range such as ``22:00-05:00`` belongs to the day it starts on: with ``days: [fri]``
it covers Friday 22:00 to Saturday 05:00, the way a night shift is named.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        return list(Weekday).index(self)


class TimeRange(BaseModel):
    """``HH:MM-HH:MM``; the end is exclusive; an end before the start runs past midnight."""

    model_config = ConfigDict(frozen=True)

    start: time
    end: time

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _parse_range(value: object) -> object:
    if not isinstance(value, str):
        return value
    match = _RANGE.match(value)
    if match is None:
        raise ValueError(f"time range must look like 22:00-05:00, got {value!r}")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    for hour, minute in ((h1, m1), (h2, m2)):
        if not (0 <= hour <= 24 and 0 <= minute < 60) or (hour == 24 and minute):
            raise ValueError(f"not a time of day in {value!r}")
    # 24:00 as an end means midnight; as a start it is the same as 00:00.
    return TimeRange(start=time(h1 % 24, m1), end=time(h2 % 24, m2))


TimeRangeText = Annotated[
    TimeRange,
    BeforeValidator(_parse_range),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _RANGE.pattern, "examples": ["22:00-05:00"]}),
]


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


ZoneName = Annotated[str, BeforeValidator(_check_zone)]


class Schedule(BaseModel):
    """Days and times a rule is in force; both empty means always."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: list[Weekday] = Field(default_factory=list, description="Empty: every day.")
    times: list[TimeRangeText] = Field(
        default_factory=list, description="Empty: all day. e.g. `22:00-05:00`."
    )

    def in_force(self, at: datetime, zone: ZoneInfo) -> bool:
        if not self.days and not self.times:
            return True
        local = at.astimezone(zone)
        clock = local.time().replace(tzinfo=None)
        day_ok = self._day_allowed
        if not self.times:
            return day_ok(local.weekday())
        for span in self.times:
            if span.overnight:
                if clock >= span.start and day_ok(local.weekday()):
                    return True
                if clock < span.end and day_ok((local - timedelta(days=1)).weekday()):
                    return True
            elif span.start <= clock < span.end and day_ok(local.weekday()):
                return True
        return False

    def _day_allowed(self, weekday: int) -> bool:
        return not self.days or any(day.number == weekday for day in self.days)

    def describe(self) -> str:
        days = ",".join(self.days) if self.days else "every day"
        times = ",".join(str(span) for span in self.times) if self.times else "all day"
        return f"{days} {times}"
