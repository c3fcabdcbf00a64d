"""Fault injection for simulated cameras: a per-request plan, forced one-shot faults, broken payloads."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    """What can go wrong with one response."""

    SLOW = "slow"
    MALFORMED = "malformed"
    UNAUTHORIZED = "unauthorized"
    REBOOT = "reboot"
    XXE = "xxe"
    HUGE_HEADER = "huge_header"


@dataclass(frozen=True)
class FaultPlan:
    """Per-request fault probabilities plus the camera clock's offset from true time.

    ``slow``, ``malformed``, ``unauthorized``, ``reboot``, ``xxe`` and ``huge_header`` are
    probabilities in [0, 1] drawn for every request; ``xxe`` only applies to PullMessages responses
    (hostile event payloads); ``huge_header`` sends a response head with a ``HUGE_HEADER_BYTES``
    header. ``slow_seconds`` is how long a slow response stalls; ``clock_offset`` (seconds) shifts
    the camera clock, so WS-UsernameToken timestamps must follow the device's time.
    ``clock_year`` (when not 0) is the year GetSystemDateAndTime reports, however absurd (a firmware
    with a corrupt RTC), while the camera keeps checking tokens on its true clock.
    """

    slow: float = 0.0
    malformed: float = 0.0
    unauthorized: float = 0.0
    reboot: float = 0.0
    xxe: float = 0.0
    huge_header: float = 0.0
    slow_seconds: float = 2.0
    clock_offset: float = 0.0
    clock_year: float = 0.0

    def __post_init__(self) -> None:
        for fault in Fault:
            value = getattr(self, fault.value)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault {fault.value}={value} is not a probability in [0, 1]")
        if self.slow_seconds < 0:
            raise ValueError("slow_seconds must not be negative")

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """Read ``slow=0.05,malformed=0.01,clock_offset=3600``; an empty spec means no faults."""
        names = {field.name for field in dataclasses.fields(cls)}
        values: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, raw = item.partition("=")
            name = name.strip()
            if not sep or name not in names:
                raise ValueError(
                    f"bad fault {item!r}: expected NAME=NUMBER with NAME in {sorted(names)}"
                )
            try:
                values[name] = float(raw)
            except ValueError:
                raise ValueError(f"bad fault {item!r}: {raw.strip()!r} is not a number") from None
        return cls(**values)


#: the header a ``huge_header`` response carries: far beyond any HTTP client's limits
HUGE_HEADER_BYTES = 4 * 1024 * 1024


class FaultState:
    """One camera's faults: the plan's random draws plus queued faults forced through the API."""

    def __init__(self, plan: FaultPlan, rng: random.Random) -> None:
        self.plan = plan
        self._rng = rng
        self._forced: Counter[Fault] = Counter()
        self.applied: Counter[Fault] = Counter()

    def force(self, fault: Fault | str, times: int = 1) -> None:
        """Make the next ``times`` eligible responses suffer ``fault``, whatever the plan says."""
        self._forced[Fault(fault)] += times

    def draw(self, fault: Fault) -> bool:
        """Whether this response suffers ``fault``; a forced fault is consumed first."""
        if self._forced[fault] > 0:
            self._forced[fault] -= 1
            hit = True
        else:
            hit = self._rng.random() < getattr(self.plan, fault.value)
        if hit:
            self.applied[fault] += 1
        return hit


def malformed_payload(valid: bytes, rng: random.Random) -> bytes:
    """Break a valid response the ways failing firmwares do: truncated, or bytes that are not UTF-8."""
    if rng.random() < 0.5:
        return valid[: max(1, len(valid) // 2)]
    middle = len(valid) // 2
    return valid[:middle] + b"\xff\xfe\x00\xc3(" + valid[middle:]


_EXTERNAL_ENTITY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<!DOCTYPE env:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
)

_BILLION_LAUGHS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE env:Envelope [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{level} "{("&lol" + (str(level - 1) if level > 1 else "") + ";") * 10}">\n'
        for level in range(1, 10)
    )
    + "]>\n"
)


def hostile_payload(valid: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Turn a valid event response into an XXE or billion-laughs document; returns it and its kind."""
    _prolog, sep, rest = valid.partition(b"?>\n")
    body = rest if sep else valid
    if rng.random() < 0.5:
        prolog, entity, kind = _EXTERNAL_ENTITY, "&xxe;", "external-entity"
    else:
        prolog, entity, kind = _BILLION_LAUGHS, "&lol9;", "billion-laughs"
    marker = b"</tt:Data>"
    if marker in body:
        injected = body.replace(
            marker, f'<tt:SimpleItem Name="Payload" Value="x"/>{entity}'.encode() + marker, 1
        )
    else:
        injected = body.replace(b"</env:Body>", entity.encode() + b"</env:Body>", 1)
    return prolog.encode() + injected, kind
