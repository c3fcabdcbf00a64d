"""What reaches an alert's escalation state: one internal topic keyed by alert id, four messages.

Each is a strict model, so a record of another shape (written by a broken or older worker) fails
validation in processing and is dead-lettered, not half-applied.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from topics.models import AlertAck, Dispatch


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Routed(_Message):
    """An alert state was dispatched; at least one dispatch waits for an acknowledgement."""

    arm: list[Dispatch] = Field(min_length=1)


class RecordRef(_Message):
    topic: str
    partition: int
    offset: int


class Acknowledged(_Message):
    """An acknowledgement as its agency's topic delivered it (``source``: where it was read)."""

    ack: AlertAck
    source: RecordRef


class Resolved(_Message):
    resolved: Literal[True] = True


class Due(_Message):
    """The escalation timer found a deadline passed."""

    due: AwareDatetime


InboxMessage = Routed | Acknowledged | Resolved | Due
_MESSAGE: TypeAdapter[InboxMessage] = TypeAdapter(InboxMessage)


def read(value: object) -> InboxMessage:
    """The message a record's JSON value holds; raises ``pydantic.ValidationError`` otherwise."""
    return _MESSAGE.validate_python(value)
