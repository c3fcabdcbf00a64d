"""Fault injection shared by the vendor simulators: what a bad link or a quirky firmware does.

- ``split``: every part is written in several pieces, one cut inside its delimiter;
- ``garbage``: junk bytes between parts;
- ``drop``: the connection is closed in the middle of a part now and then (that part is lost);
- ``401``: the device now and then ends the stream and demands re-authentication on the next
  request (a digest challenge), as firmware does when its nonce expires;
- ``slow``: every response is delayed and stream parts trickle out;
- ``badpart``: now and then a well-framed part whose Content-Length and channel number are
  written in superscript digits (``²``), the input a fuzzer found: the connector must
  dead-letter that part and read on, on the same connection;
- ``lax``: now and then a part framed as lax firmware frames it, nothing of it damaged: no
  blank line after its headers, or a Content-Length shorter than its body (ending mid-line).
  Every event must still arrive whole.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

FAULT_NAMES = ("split", "garbage", "drop", "401", "slow", "badpart", "lax")
#: what the ``badpart`` fault writes where a number belongs: str.isdigit() accepts it, int() does not
BAD_NUMBER = "\u00b2"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Faults:
    """Which faults a simulated device injects, and how often."""

    split: bool = False
    garbage: bool = False
    drop: bool = False
    reauth: bool = False
    slow: bool = False
    badpart: bool = False
    lax: bool = False
    #: a dropped or re-authenticated stream, or a bad part, happens once per this many parts
    every_parts: int = 7
    slow_delay_s: float = 0.15

    @classmethod
    def parse(cls, text: str | None, **overrides: float) -> Faults:
        """``"split,garbage,drop,401,slow,badpart,lax"`` (any subset, comma separated) to ``Faults``."""
        names = {name.strip().lower() for name in (text or "").split(",") if name.strip()}
        unknown = names - set(FAULT_NAMES)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; choose from {FAULT_NAMES}")
        return cls(
            split="split" in names,
            garbage="garbage" in names,
            drop="drop" in names,
            reauth="401" in names,
            slow="slow" in names,
            badpart="badpart" in names,
            lax="lax" in names,
            **overrides,  # type: ignore[arg-type]
        )


class ReauthDemand:
    """The ``401`` fault: when armed, the next authenticated request is challenged again.

    The challenge reuses the nonce the client just sent (the device's nonces stay valid), so a
    client that re-authenticates succeeds and one that gives up on a 401 fails.
    """

    def __init__(self) -> None:
        self.armed = False
        self.challenges = 0

    def middleware(self, realm: str) -> Middleware:
        @web.middleware
        async def demand(request: web.Request, handler: Handler) -> web.StreamResponse:
            header = request.headers.get("Authorization", "")
            if self.armed and header.lower().startswith("digest "):
                nonce = _param(header, "nonce")
                if nonce:
                    self.armed = False
                    self.challenges += 1
                    challenge = (
                        f'Digest realm="{realm}", qop="auth", nonce="{nonce}", algorithm=MD5'
                    )
                    return web.Response(
                        status=401, headers={"WWW-Authenticate": challenge}, text="unauthorized"
                    )
            return await handler(request)

        return demand


def slow_middleware(faults: Faults) -> Middleware:
    @web.middleware
    async def slow(request: web.Request, handler: Handler) -> web.StreamResponse:
        if faults.slow:
            await asyncio.sleep(faults.slow_delay_s)
        return await handler(request)

    return slow


class FaultyPartWriter:
    """Writes framed parts to a streaming response, injecting the configured faults."""

    def __init__(
        self, response: web.StreamResponse, faults: Faults, delimiter: bytes, rng: random.Random
    ) -> None:
        self.response = response
        self.faults = faults
        self.delimiter = delimiter
        self.rng = rng

    async def write(self, frame: bytes) -> None:
        if self.faults.garbage and self.rng.random() < 0.5:
            await self.response.write(self._garbage())
        if self.faults.split or self.faults.slow:
            for piece in self._pieces(frame):
                await self.response.write(piece)
                # Separate TCP segments, so the reader really sees the cut.
                await asyncio.sleep(0.02 if self.faults.slow else 0.003)
        else:
            await self.response.write(frame)

    async def write_truncated(self, frame: bytes, request: web.Request) -> None:
        """Half a part, then the connection goes away (the ``drop`` fault)."""
        await self.response.write(frame[: max(1, len(frame) // 2)])
        await asyncio.sleep(0.01)
        if request.transport is not None:
            request.transport.close()

    def _pieces(self, frame: bytes) -> list[bytes]:
        # One cut inside the leading delimiter, one inside the headers or body.
        first = self.rng.randint(1, max(1, len(self.delimiter) - 1))
        second = self.rng.randint(first, max(first, len(frame) - 1))
        return [piece for piece in (frame[:first], frame[first:second], frame[second:]) if piece]

    def _garbage(self) -> bytes:
        while True:
            size = self.rng.randint(1, 96)
            junk = bytes(self.rng.getrandbits(8) for _ in range(size))
            junk = self.rng.choice([b"\r\n", b"", b"\n\n"]) + junk + b"\r\n"
            if self.delimiter not in junk and self.delimiter[:4] not in junk:
                return junk


#: how the ``lax`` fault frames a part (``frame_part(lax=...)``)
NO_BLANK_LINE = "no_blank_line"
SHORT_LENGTH = "short_length"


def frame_part(
    delimiter: bytes,
    content_type: str,
    body: bytes,
    *,
    content_length: str | None = None,
    lax: str | None = None,
) -> bytes:
    """One multipart part as devices send it: delimiter line, headers, blank line, body, CRLF.

    ``content_length`` replaces the true length in the header (a broken firmware's value);
    ``lax`` frames it as lax firmware does: ``NO_BLANK_LINE`` after the headers, or a
    ``SHORT_LENGTH`` that ends in the middle of the body's last line.
    """
    length = str(len(body)) if content_length is None else content_length
    if lax == SHORT_LENGTH:
        length = str(max(1, len(body.rstrip(b"\r\n")) - 1))
    blank = b"" if lax == NO_BLANK_LINE else b"\r\n"
    head = f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n".encode("latin-1")
    return delimiter + b"\r\n" + head + blank + body + b"\r\n"


def _param(header: str, name: str) -> str | None:
    for item in header.split(" ", 1)[-1].split(","):
        key, sep, value = item.strip().partition("=")
        if sep and key.strip().lower() == name:
            return value.strip().strip('"')
    return None
