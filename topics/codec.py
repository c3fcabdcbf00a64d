"""Encoding and validating catalog messages: JSON values, UTF-8 keys, the schema id in a header."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from topics.catalog import (
    CONTENT_TYPE,
    CONTENT_TYPE_HEADER,
    SCHEMA_HEADER,
    SCHEMA_VERSION_HEADER,
    TopicSpec,
)

M = TypeVar("M", bound=BaseModel)
Headers = list[tuple[str, bytes]]

MAX_MESSAGE_BYTES = 1_000_000


class InvalidMessage(ValueError):
    """A message that does not match its topic's declaration; ``reason`` says why, for the dead letters."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def record_key(spec: TopicSpec, value: BaseModel) -> str | None:
    """The key a payload is published under: the field its topic declares.

    Dotted paths reach into nested models (``alert.camera_id``); ``a or b`` takes the first
    field that is set.
    """
    for path in spec.key.split(" or "):
        current: Any = value
        for part in path.strip().split("."):
            current = getattr(current, part, None)
            if current is None:
                break
        if current is not None:
            return str(current)
    return None


def headers_for(spec: TopicSpec) -> Headers:
    return [
        (SCHEMA_HEADER, spec.schema_id.encode()),
        (SCHEMA_VERSION_HEADER, str(spec.schema_version).encode()),
        (CONTENT_TYPE_HEADER, CONTENT_TYPE.encode()),
    ]


def encode(spec: TopicSpec, value: BaseModel) -> bytes:
    if not isinstance(value, spec.value_model):
        raise TypeError(
            f"{spec.name} carries {spec.value_model.__name__}, not {type(value).__name__}"
        )
    return value.model_dump_json(exclude_none=False).encode("utf-8")


def is_text(name: str) -> bool:
    """Whether a header name is text: the Kafka protocol says UTF-8.

    A record whose header name is not UTF-8 reaches Tilik with the bytes that are not decoded as
    lone surrogates (``topics.kafka_workarounds``), which no UTF-8 text contains.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode(spec: TopicSpec, raw: bytes | None, headers: Headers | None = None) -> BaseModel | None:
    """Validate one message strictly; ``None`` is a tombstone. Raises InvalidMessage with the reason."""
    if headers and not all(is_text(name) for name, _ in headers):
        raise InvalidMessage("a record header name is not UTF-8 text")
    if raw is None:
        return None
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidMessage(
            f"message of {len(raw)} bytes exceeds the {MAX_MESSAGE_BYTES} byte limit"
        )
    if headers:
        declared = dict(headers).get(SCHEMA_HEADER)
        if declared is not None and declared.decode("utf-8", "replace") != spec.schema_id:
            raise InvalidMessage(
                f"schema header {declared.decode('utf-8', 'replace')!r} does not match "
                f"{spec.name} ({spec.schema_id})"
            )
    try:
        return spec.value_model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidMessage(describe_validation_error(spec, exc)) from None


def decode_as(spec: TopicSpec, model: type[M], raw: bytes, headers: Headers | None = None) -> M:
    value = decode(spec, raw, headers)
    if not isinstance(value, model):
        raise InvalidMessage(f"{spec.name}: expected {model.__name__}, got a tombstone")
    return value


def describe_validation_error(spec: TopicSpec, exc: ValidationError) -> str:
    """A short, readable reason: which fields are wrong and how (input values left out: they may be secrets)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False)[:10]:
        where = ".".join(str(p) for p in error["loc"]) or "(message)"
        problems.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(problems)
    suffix = f" (+{more} more)" if more > 0 else ""
    return f"invalid {spec.value_model.__name__} for {spec.name}: " + "; ".join(problems) + suffix
