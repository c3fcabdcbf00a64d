"""structlog configured once for every Tilik process: JSON lines off a terminal, console on one,
secrets removed, repeated failures logged once per interval.

One ``RepeatLimiter`` per process serves both kinds of log line: structlog events (as a
processor) and the stdlib loggers of libraries such as aiokafka (as a filter on the one root
handler). A warning or error whose cause was logged less than ``TILIK_LOG_REPEAT_INTERVAL_S``
ago is counted instead of written; the next line of that cause carries the count as
``repeats_suppressed``. A broker outage therefore costs a few lines per cause and interval, not
one per reconnect attempt.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Hashable, MutableMapping
from typing import Any, TextIO

import structlog

from core.redact import REDACTED, is_secret_key, redact_value
from core.settings import get_settings

#: the field a line carries when repeats of its cause were suppressed before it
REPEATS_FIELD = "repeats_suppressed"
#: causes remembered at once; beyond it the stalest are forgotten (their counts with them)
MAX_CAUSES = 4096
# structlog method name -> stdlib level, for the methods that are not level names themselves
_METHOD_LEVELS = {"warn": logging.WARNING, "exception": logging.ERROR, "fatal": logging.CRITICAL}

_configured = False


class RepeatLimiter:
    """One line per cause per interval; repeats within the interval are counted, not written."""

    def __init__(
        self,
        interval_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_causes: int = MAX_CAUSES,
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._max_causes = max_causes
        # cause -> (when its last line was written, repeats suppressed since)
        self._causes: dict[Hashable, tuple[float, int]] = {}
        # Library loggers may log from their own threads (kafka-python's I/O thread).
        self._lock = threading.Lock()

    def admit(self, cause: Hashable) -> int | None:
        """None: a repeat within the interval, drop it. Otherwise write the line; the number is
        how many repeats of this cause were dropped since its previous line."""
        if self.interval_s <= 0:
            return 0
        now = self._clock()
        with self._lock:
            seen = self._causes.pop(cause, None)
            if seen is not None and now - seen[0] < self.interval_s:
                self._causes[cause] = (seen[0], seen[1] + 1)
                return None
            self._forget_stale(now)
            self._causes[cause] = (now, 0)
            return 0 if seen is None else seen[1]

    def _forget_stale(self, now: float) -> None:
        if len(self._causes) < self._max_causes:
            return
        # Least recently seen first; down to three quarters, so this runs once per many causes.
        for cause, (written_at, _) in list(self._causes.items()):
            if now - written_at >= self.interval_s or len(self._causes) > self._max_causes * 3 // 4:
                del self._causes[cause]

    def processor(
        self, _logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """structlog processor: a warning or error event's cause is its event and error type."""
        level = _METHOD_LEVELS.get(method) or logging.getLevelNamesMapping().get(method.upper(), 0)
        if level < logging.WARNING:
            return event_dict
        event = event_dict.get("event")
        cause = (
            "event",
            level,
            event if isinstance(event, str) else type(event).__name__,
            str(event_dict.get("error_type")),
        )
        suppressed = self.admit(cause)
        if suppressed is None:
            raise structlog.DropEvent
        if suppressed:
            event_dict[REPEATS_FIELD] = suppressed
        return event_dict


class RepeatFilter(logging.Filter):
    """stdlib filter: a warning or error record's cause is its logger, level and message template."""

    def __init__(self, limiter: RepeatLimiter) -> None:
        super().__init__()
        self.limiter = limiter

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        suppressed = self.limiter.admit(("record", record.name, record.levelno, template))
        if suppressed is None:
            return False
        if suppressed:
            setattr(record, REPEATS_FIELD, suppressed)
        return True


#: library log messages that a client retries by itself and that are normal while a broker or a
#: group coordinator is starting: (logger, message template)
RETRIED_BY_THE_CLIENT = frozenset(
    {("aiokafka.consumer.group_coordinator", "Group Coordinator Request failed: %s")}
)
#: how long such a message stays quiet before it is reported (as a warning, not an error)
RETRIED_QUIET_S = 30.0


class RetriedFilter(logging.Filter):
    """stdlib filter: a library error the client retries by itself (its error is retriable) is
    quiet while it lasts less than ``quiet_s``, then a warning: a normal start logs no errors,
    and a coordinator that stays away is still reported."""

    def __init__(
        self, quiet_s: float = RETRIED_QUIET_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.quiet_s = quiet_s
        self.clock = clock
        # per message: when its current episode began and when it was last seen
        self._episodes: dict[tuple[str, str], tuple[float, float]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg if isinstance(record.msg, str) else "")
        if key not in RETRIED_BY_THE_CLIENT or not _retriable(record.args):
            return True
        now = self.clock()
        began, last = self._episodes.get(key, (now, now))
        if now - last > self.quiet_s:
            began = now  # it had stopped: a new episode
        self._episodes[key] = (began, now)
        if now - began < self.quiet_s:
            return False
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _retriable(args: object) -> bool:
    errors = args if isinstance(args, tuple) else (args,)
    return any(getattr(error, "retriable", False) is True for error in errors)


def add_repeats_suppressed(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Carry ``RepeatFilter``'s count from a library's log record into the rendered line."""
    suppressed = getattr(event_dict.get("_record"), REPEATS_FIELD, 0)
    if suppressed:
        event_dict[REPEATS_FIELD] = suppressed
    return event_dict


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: no password, token or URL credential leaves a process through its logs."""
    for key in list(event_dict):
        if is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(event_dict[key])
    return event_dict


def shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]


def configure_logging(
    *,
    fmt: str | None = None,
    level: str | None = None,
    force: bool = False,
    stream: TextIO | None = None,
    repeat_interval_s: float | None = None,
) -> None:
    """Configure structlog and the stdlib root logger once per process (``stream``: default
    stderr; ``repeat_interval_s``: default ``TILIK_LOG_REPEAT_INTERVAL_S``)."""
    global _configured
    if _configured and not force:
        return
    settings = get_settings()
    repeats = RepeatLimiter(
        settings.log_repeat_interval_s if repeat_interval_s is None else repeat_interval_s
    )
    out = stream if stream is not None else sys.stderr
    fmt = fmt or settings.log_format
    level_name = (level or settings.log_level).upper()
    is_tty = out.isatty()
    if fmt == "auto":
        fmt = "console" if is_tty else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=is_tty)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    numeric_level = logging.getLevelName(level_name)
    structlog.configure(
        # Repeats are dropped first: a flood costs no timestamping, redaction or rendering.
        processors=[repeats.processor, *shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        # Not cached: a module's logger then always follows the current configuration, so a
        # reconfiguration (a test's ``capture_logs``, a CLI command run in-process) reaches the
        # loggers already used. The cost is one lookup per line; nothing logs per event.
        cache_logger_on_first_use=False,
    )
    # Library logs (aiokafka, faust, zeep) go through the same redaction and rendering.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # Tracebacks become text before redaction, so a secret in one is scrubbed too.
                structlog.processors.format_exc_info,
                redact_secrets,
                renderer,
            ],
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                add_repeats_suppressed,
            ],
        )
    )
    handler.addFilter(RetriedFilter())
    handler.addFilter(RepeatFilter(repeats))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric_level, logging.INFO) if level_name == "DEBUG" else numeric_level)
    for noisy in ("aiokafka", "kafka", "zeep", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(max(numeric_level, logging.WARNING))
    # kafka-python warns on every SCRAM login over SASL_PLAINTEXT. SCRAM never sends the password,
    # and Tilik uses that listener on loopback only (other hosts connect through TLS).
    logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)
    _configured = True
