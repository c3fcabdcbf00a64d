"""structlog configured once for every Tilik process: JSON lines off a terminal, console on one, secrets removed."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from tilik.redact import REDACTED, is_secret_key, redact_value
from tilik.settings import get_settings

_configured = False


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
) -> None:
    """Configure structlog and the stdlib root logger once per process (``stream``: default stderr)."""
    global _configured
    if _configured and not force:
        return
    settings = get_settings()
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
        processors=[*shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,
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
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric_level, logging.INFO) if level_name == "DEBUG" else numeric_level)
    for noisy in ("aiokafka", "kafka", "zeep", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(max(numeric_level, logging.WARNING))
    # kafka-python warns on every SCRAM login over SASL_PLAINTEXT. SCRAM never sends the password,
    # and Tilik uses that listener on loopback only (other hosts connect through TLS).
    logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)
    _configured = True
