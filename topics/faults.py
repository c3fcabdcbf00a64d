"""The processing exception handler of every Tilik stream consumer: one record fails, the stream goes on.

Kafka Streams has two handlers for a record it cannot handle: a deserialization handler (the
record is not what the topic declares) and a processing handler (the record is valid, but
processing it raised). With ``CONTINUE`` both log the record, leave it behind and go on. Tilik's
deserialization handler is the edge validation (``topics.codec``; invalid input becomes an
``invalid_message`` dead letter). This module is the processing handler, shared by the hub's
agents (``hub.isolation``) and ``CatalogConsumer.process``.

It is a translation boundary, the one place where catching any exception is right: whatever one
record's processing raises becomes a ``processing_failed`` dead letter (with its topic, partition,
offset, the exception type and the reason) and one log line, and the record counts as handled, so
its offset is committed and one record can never stop the stream. Because the record was valid,
such a failure is a defect of ours: after the fix, ``tilik dlq replay --kind processing_failed``
sends the records it hit through again.

What is not the record's fault propagates: cancellation, and errors of the Kafka client itself
(``aiokafka.errors.KafkaError``, e.g. the broker is unreachable). The record is then processed
again after the restart (at-least-once), instead of every record of an outage being dead-lettered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from aiokafka.errors import KafkaError

from topics.deadletters import SourceRecord, processing_failure
from topics.models import DeadLetter

log = structlog.get_logger(__name__)

R = TypeVar("R")


class ProcessingFailures:
    """Runs one record's processing; a failure becomes a dead letter (published by ``publish``)."""

    def __init__(self, component: str, publish: Callable[[DeadLetter], Awaitable[Any]]) -> None:
        self.component = component
        self._publish = publish
        # A defect usually hits many records: its traceback is logged once, the records each once.
        self._traced: set[str] = set()

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
