"""What every Tilik stream consumer does with a record it cannot handle: dead-letter it, go on.

Kafka Streams has two handlers for such a record, and with ``CONTINUE`` both log it, leave it
behind and go on. ``RecordFaults`` has both, shared by the hub's agents (``hub.isolation``) and
``CatalogConsumer``:

- ``refuse``, the deserialization handler: the record is not what its topic declares (the edge
  validation of ``topics.codec`` said why); it becomes an ``invalid_message`` dead letter;
- ``run``, the processing handler: the record is valid, but processing it raised.

``run`` is a translation boundary, the one place where catching any exception is right: whatever
one record's processing raises becomes a ``processing_failed`` dead letter (with its topic,
partition, offset, the exception type and the reason) and one log line, and the record counts as
handled, so its offset is committed and one record can never stop the stream. Because the record
was valid, such a failure is a defect of ours: after the fix, ``tilik dlq replay --kind
processing_failed`` sends the records it hit through again.

What is not the record's fault propagates: cancellation, and errors of the Kafka client itself
(``aiokafka.errors.KafkaError``, e.g. the broker is unreachable). The record is then processed
again after the restart (at-least-once), instead of every record of an outage being dead-lettered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from aiokafka.errors import KafkaError

from topics.deadletters import SourceRecord, processing_failure, record_dead_letter
from topics.models import DeadLetter, DeadLetterKind

log = structlog.get_logger(__name__)

R = TypeVar("R")


class RecordFaults:
    """One component's handlers for records it cannot handle (dead letters go to ``publish``)."""

    def __init__(self, component: str, publish: Callable[[DeadLetter], Awaitable[Any]]) -> None:
        self.component = component
        self._publish = publish
        # A defect usually hits many records: its traceback is logged once, the records each once.
        self._traced: set[str] = set()

    async def refuse(self, record: SourceRecord, reason: str) -> None:
        """Dead-letter a record that is not what its topic declares; ``reason`` says why."""
        letter = record_dead_letter(
            record,
            kind=DeadLetterKind.INVALID_MESSAGE,
            reason=reason,
            component=self.component,
            error_type="InvalidMessage",
        )
        await self._publish(letter)
        log.warning(
            "message dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
            component=self.component,
        )

    async def run(self, record: SourceRecord, work: Callable[[], Awaitable[R]]) -> R | None:
        """``work()``'s result; ``None`` when it raised and the record was dead-lettered instead."""
        try:
            return await work()
        except KafkaError:
            raise
        except Exception as error:  # the translation boundary (module docstring)
            await self._publish(processing_failure(record, error, component=self.component))
            error_type = type(error).__name__
            first = error_type not in self._traced
            self._traced.add(error_type)
            log.error(
                "record dead-lettered: its processing failed",
                component=self.component,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error_type=error_type,
                exc_info=error if first else None,
            )
            return None
