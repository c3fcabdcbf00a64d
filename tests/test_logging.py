"""No secret leaves a process through its logs: the real processor chain, structlog and stdlib alike."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from core import logconfig
from core.logconfig import (
    REPEATS_FIELD,
    RepeatFilter,
    RepeatLimiter,
    RetriedFilter,
    configure_logging,
    shared_processors,
)
from core.redact import is_secret_key, redact_text, redact_value

SECRET = "hunter2-Zq9"

LEAKY_FIELDS = {
    "password": SECRET,
    "camera_password": SECRET,
    "X-Auth-Token": SECRET,
    "url": f"rtsp://admin:{SECRET}@10.20.30.40:554/Streaming/Channels/101",
    "url_at_in_password": f"rtsp://admin:p@{SECRET}@10.20.30.40/",
    "header": f'Authorization: Digest username="admin", realm="IPC", uri="/ISAPI/x?a=b", response="{SECRET}"',
    "digest": f'Digest username="admin", nonce="abc", response="{SECRET}"',
    "basic": "Authorization: Basic YWRtaW46aHVudGVyMi1acTk=",
    "soap": (
        '<wsse:UsernameToken><wsse:Username>admin</wsse:Username><wsse:Password Type="'
        f'http://docs.oasis-open.org/wss#PasswordDigest">{SECRET}</wsse:Password></wsse:UsernameToken>'
    ),
    "soap_cut": f"<tt:User><tt:Username>op</tt:Username><tt:Password>{SECRET}",
    "query": f"GET /cgi-bin/snapshot.cgi?user=admin&pwd={SECRET}&channel=1",
    "json_text": f'{{"sasl_password": "{SECRET} with spaces", "user": "x"}}',
    "nested": {"device": {"credentials": {"user": "admin", "pass": SECRET}}},
    "listed": [f"password={SECRET}", {"token": SECRET}],
    "deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"password": SECRET}}}}}}}}}},
    "raw_bytes": f"api_key={SECRET}".encode(),
}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()
    root.handlers[:], root.level = handlers, level
    logconfig._configured = False


@pytest.mark.parametrize("field", sorted(LEAKY_FIELDS))
def test_secret_never_reaches_a_captured_log_event(field: str):
    with capture_logs(processors=shared_processors()) as events:
        structlog.get_logger("test").warning("device said", **{field: LEAKY_FIELDS[field]})
    assert events, "nothing was logged"
    assert SECRET not in repr(events)
    assert "YWRtaW46aHVudGVyMi1acTk" not in repr(events)


def test_exception_text_is_scrubbed():
    with capture_logs(processors=shared_processors()) as events:
        try:
            raise ConnectionError(f"cannot open rtsp://admin:{SECRET}@10.0.0.9/live")
        except ConnectionError:
            structlog.get_logger("test").exception("stream failed")
    assert "ConnectionError" in events[0]["exception"]
    assert SECRET not in repr(events)


def test_configured_output_is_json_lines_without_secrets(restore_logging: None):
    stream = io.StringIO()  # not a terminal: "auto" must pick JSON lines
    configure_logging(force=True, stream=stream, level="info")
    logger = structlog.get_logger(f"test-{uuid.uuid4().hex}")
    for field, value in LEAKY_FIELDS.items():
        logger.info("structlog event", **{field: value})
    logger.info("every field at once", **LEAKY_FIELDS)
    library = logging.getLogger("zeep.transports")
    library.warning("library said %s", LEAKY_FIELDS["soap"])
    library.warning("auth header %s", LEAKY_FIELDS["header"])
    try:
        raise PermissionError(f"401 for http://admin:{SECRET}@10.0.0.9/onvif/device_service")
    except PermissionError:
        library.exception("request failed")

    lines = stream.getvalue().splitlines()
    assert len(lines) == len(LEAKY_FIELDS) + 4
    records = [json.loads(line) for line in lines]
    assert records[-1]["level"] == "error" and "PermissionError" in records[-1]["exception"]
    assert SECRET not in stream.getvalue()
    assert "YWRtaW46aHVudGVyMi1acTk" not in stream.getvalue()


def test_console_format_is_scrubbed_too(restore_logging: None):
    stream = io.StringIO()
    configure_logging(force=True, stream=stream, fmt="console")
    structlog.get_logger(f"test-{uuid.uuid4().hex}").info("connect", url=LEAKY_FIELDS["url"])
    output = stream.getvalue()
    assert "rtsp://***@10.20.30.40" in output
    assert SECRET not in output


def test_harmless_text_stays_readable():
    text = (
        "Basic settings loaded; profile token Profile_1; rtsp://10.0.0.1/stream; Digest auth needed"
    )
    assert redact_text(text) == text
    assert redact_value(
        {"profile_token": "Profile_1", "credential_ref": "env:TILIK_CAMERA_SECRET_CAM"}
    ) == {
        "profile_token": "Profile_1",
        "credential_ref": "env:TILIK_CAMERA_SECRET_CAM",
    }


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("Proxy-Authorization", True),
        ("camera_password", True),
        ("x-auth-token", True),
        ("sasl_password_env", False),
        ("credential_ref", False),
        ("profile_token", False),
        ("camera_id", False),
    ],
)
def test_secret_key_names(key: str, secret: bool):
    assert is_secret_key(key) is secret


# Printable secrets, minus what cannot appear raw in these contexts: quotes and backslash (escaped
# in JSON and headers), '&' (ends a query value), '/' (ends a URL authority), '<>' (escaped in XML).
SECRET_TEXT = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="\"'\\&/<>"),
    min_size=6,
    max_size=40,
)
TEMPLATES = [
    "rtsp://admin:{s}@10.1.2.3:554/live",
    "http://user:{s}@cam.local/onvif/device_service",
    "connect?user=admin&password={s}&channel=1",
    '{{"password": "{s}", "user": "op"}}',
    "Authorization: Basic {s}",
    'Authorization: Digest username="admin", response="{s}"',
    "<wsse:Password>{s}</wsse:Password>",
    "<Password>{s}",
    "api_key={s}",
    "sasl_password: {s}",
]


@settings(max_examples=150, deadline=None)
@given(secret=SECRET_TEXT, template=st.sampled_from(TEMPLATES))
def test_no_template_leaks_any_secret(secret: str, template: str):
    assert secret not in redact_text(template.format(s=secret))


# --- repeated failures ----------------------------------------------------------------------


def _flood(logger: structlog.typing.FilteringBoundLogger, attempts: int) -> None:
    """What a broker outage looks like: the client's reconnect errors and the runtime's retries."""
    kafka = logging.getLogger("aiokafka")
    for attempt in range(attempts):
        kafka.error("Unable connect to node with id %s: %s", 1, f"refused (attempt {attempt})")
        kafka.error("Unable to update metadata from %s", [1])
        logger.warning(
            "device event stream failed",
            error_type="RetriableError",
            device=f"dev-{attempt % 50}",
            retry_in_s=0.1 * attempt,
        )
        logger.warning("device event stream failed", error_type="AuthenticationError")


def test_a_flood_of_repeated_failures_is_one_line_per_cause(restore_logging: None):
    stream = io.StringIO()
    configure_logging(force=True, stream=stream, level="info", repeat_interval_s=3600)
    logger = structlog.get_logger(f"test-{uuid.uuid4().hex}")
    _flood(logger, 1000)
    for n in range(5):
        logger.info("watching device", device=f"dev-{n}")  # not a failure: never limited
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["event"][:26], line.get("error_type")) for line in lines[:4]] == [
        ("Unable connect to node wit", None),
        ("Unable to update metadata ", None),
        ("device event stream failed", "RetriableError"),
        ("device event stream failed", "AuthenticationError"),
    ]
    assert [line["event"] for line in lines[4:]] == ["watching device"] * 5
    assert not any(REPEATS_FIELD in line for line in lines)


def test_the_next_line_of_a_cause_after_the_interval_carries_the_suppressed_count(
    restore_logging: None,
):
    stream = io.StringIO()
    interval_s = 1.0  # far longer than the flood below takes, even on a loaded machine
    configure_logging(force=True, stream=stream, level="info", repeat_interval_s=interval_s)
    logger = structlog.get_logger(f"test-{uuid.uuid4().hex}")
    started = time.monotonic()
    _flood(logger, 300)
    while time.monotonic() - started < interval_s:  # the interval must have passed
        time.sleep(0.01)
    _flood(logger, 1)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 8
    assert [line.get(REPEATS_FIELD) for line in lines] == [None] * 4 + [299] * 4
    assert lines[4]["logger"] == "aiokafka" and lines[6]["event"] == "device event stream failed"


def test_the_limiter_counts_per_cause_with_its_own_clock():
    now = 0.0
    limiter = RepeatLimiter(10, clock=lambda: now)
    event = {"event": "device event not delivered", "error_type": "KafkaTimeoutError"}
    assert limiter.processor(None, "error", dict(event)) == event
    for _ in range(7):
        with pytest.raises(structlog.DropEvent):
            limiter.processor(None, "exception", dict(event))
    # Another cause, and anything below warning, passes meanwhile.
    assert limiter.processor(None, "error", {**event, "error_type": "OtherError"})
    assert limiter.processor(None, "info", dict(event)) == event
    library = RepeatFilter(limiter)
    record = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "node %s down", (1,), None)
    assert library.filter(record) and not library.filter(record) and not library.filter(record)
    now = 10.0
    assert limiter.processor(None, "error", dict(event))[REPEATS_FIELD] == 7
    assert library.filter(record) and getattr(record, REPEATS_FIELD) == 2
    assert RepeatLimiter(0).admit("anything") == 0 == RepeatLimiter(0).admit("anything")


def test_the_limiter_remembers_a_bounded_number_of_causes():
    now = 0.0
    limiter = RepeatLimiter(10, clock=lambda: now, max_causes=100)
    for n in range(10_000):
        assert limiter.admit(f"cause {n}") == 0
    assert len(limiter._causes) <= 100
    # The most recent causes are still remembered: their repeats are dropped.
    assert limiter.admit("cause 9999") is None


def test_a_coordinator_the_client_retries_is_quiet_at_start_and_a_warning_when_it_stays_away():
    from aiokafka.errors import GroupAuthorizationFailedError, GroupCoordinatorNotAvailableError

    clock = [0.0]
    quiet = RetriedFilter(quiet_s=30, clock=lambda: clock[0])

    def record(error: Exception) -> logging.LogRecord:
        return logging.LogRecord(
            "aiokafka.consumer.group_coordinator",
            logging.ERROR,
            __file__,
            1,
            "Group Coordinator Request failed: %s",
            (error,),
            None,
        )

    # A normal start: the coordinator is not there for a few seconds, then is.
    for clock[0] in (0.0, 0.1, 2.0, 5.0):
        assert not quiet.filter(record(GroupCoordinatorNotAvailableError()))
    # It stays away: reported, as a warning (the client keeps retrying).
    clock[0] = 31.0
    late = record(GroupCoordinatorNotAvailableError())
    assert quiet.filter(late) and late.levelno == logging.WARNING
    # Much later, a new start: quiet again.
    clock[0] = 500.0
    assert not quiet.filter(record(GroupCoordinatorNotAvailableError()))
    # An error the client does not retry is an error at once.
    fatal = record(GroupAuthorizationFailedError())
    assert quiet.filter(fatal) and fatal.levelno == logging.ERROR
    # Other messages are not this filter's business.
    other = logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, "node %s down", (1,), None)
    assert quiet.filter(other)
