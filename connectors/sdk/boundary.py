"""The onboarding translation boundary: one device's work, whatever it raises, is that device's failure.

Every onboarding (``connectors.sdk.onboard``, and so ``tilik connectors onboard``, ``tilik
discover onvif`` and the ONVIF probe) runs each device's work through ``isolated``: under an
overall deadline, turning *anything* it raises into a ``ConnectorError``; ``DeviceFailure`` is
what the summary and the dead letters say about it. Catching broadly is right here and nowhere
else: one device's failure, even a connector's bug, is that device's failure.

    raised by the device's work          becomes
    a ConnectorError                     itself
    the overall deadline passed          RetriableError
    pydantic ValidationError,
    ValueError, ArithmeticError          DeviceDataError (a value from the device cannot be used)
    any other Exception                  FatalConnectorError (logged with where it happened)

Every device gets ``DEADLINE_IN_TIMEOUTS`` of its config's request timeouts for all of its
attempts together, unless the caller sets a deadline. Reasons never carry the device's password.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from pydantic import ValidationError

from connectors.sdk.base import ConnectorConfig
from connectors.sdk.errors import (
    ConnectorError,
    DeviceDataError,
    FatalConnectorError,
    RetriableError,
)
from connectors.sdk.records import model_problems
from connectors.sdk.secrets import Credentials
from core.redact import REDACTED, redact_text
from topics.deadletters import make_dead_letter
from topics.models import DeadLetter, DeadLetterKind

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: a device's whole onboarding (every attempt and backoff) gets this many request timeouts
DEADLINE_IN_TIMEOUTS = 4


def device_deadline_s(timeout_s: float) -> float:
    """The default overall deadline of one device's onboarding or probe."""
    return DEADLINE_IN_TIMEOUTS * timeout_s


async def isolated(work: Callable[[], Awaitable[T]], *, device: str, deadline_s: float) -> T:
    """``await work()`` within ``deadline_s``; whatever it raises leaves as a ``ConnectorError``."""
    try:
        async with asyncio.timeout(deadline_s) as scope:
            return await work()
    except ConnectorError:
        raise
    except TimeoutError as exc:
        if scope.expired():
            message = f"not done within the device's {deadline_s:g}s deadline"
        else:
            message = f"timed out ({_where(exc)})"
        raise RetriableError(message, device=device) from exc
    except ValidationError as exc:
        raise DeviceDataError(
            f"device values do not fit: {model_problems(exc)}", device=device
        ) from exc
    except (ValueError, ArithmeticError) as exc:
        # The message may quote the value; the reason names only the kind and the place.
        raise DeviceDataError(
            f"the device sent a value that cannot be used ({type(exc).__name__} in {_where(exc)})",
            device=device,
        ) from exc
    except Exception as exc:
        # The per-device translation boundary (module docstring): a connector's bug on one
        # device is that device's failure.
        log.error(
            "connector failed on one device",
            device=device,
            error_type=type(exc).__name__,
            where=_where(exc),
        )
        raise FatalConnectorError(
            f"connector error ({type(exc).__name__} in {_where(exc)})", device=device
        ) from exc


def _where(exc: BaseException) -> str:
    """``module:function`` of the innermost frame: where it failed, without any values."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown"
    frame = frames[-1]
    module = frame.filename.rsplit("/", 1)[-1].removesuffix(".py")
    return f"{module}:{frame.name}"


@dataclass(frozen=True)
class DeviceFailure:
    """Why one device was not onboarded: the SDK error type and a reason without secrets."""

    address: str
    error_type: str
    reason: str
    payload: bytes | str | None = None
    #: the device's input was at fault: it belongs in the dead letters
    input_at_fault: bool = False

    @classmethod
    def of(
        cls, address: str, exc: ConnectorError, *, credentials: Credentials | None = None
    ) -> DeviceFailure:
        reason = redact_text(str(exc))
        if credentials is not None:
            # A device knows its own password and may echo it back in a fault or an error page.
            secret = credentials.password.get_secret_value()
            if secret:
                reason = reason.replace(secret, REDACTED)
        at_fault = isinstance(exc, DeviceDataError)
        return cls(
            address=address,
            error_type=type(exc).__name__,
            reason=reason,
            payload=exc.payload if isinstance(exc, DeviceDataError) else None,
            input_at_fault=at_fault,
        )

    def as_dict(self) -> dict[str, str]:
        return {"error_type": self.error_type, "reason": self.reason}

    def dead_letter(self, component: str) -> DeadLetter:
        """The dead letter of a device whose input was at fault (kind ``device_input``)."""
        return make_dead_letter(
            kind=DeadLetterKind.DEVICE_INPUT,
            reason=self.reason,
            error_type=self.error_type,
            component=component,
            payload=self.payload,
            source_device=self.address,
        )


def resolved_credentials(config: ConnectorConfig) -> Credentials | None:
    """The config's credentials for hiding them in reasons; None when they cannot be read."""
    try:
        return config.credentials()
    except ConnectorError:
        return None
