"""Operator I/O for topics: producing a JSON-lines file, rendering consumed messages, catalog tables.

The click commands in ``topics.cli`` are thin wrappers around these functions, so the behaviour
is testable without a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.redact import redact_text
from topics import codec
from topics.admin import TopicState
from topics.catalog import DAY_MS, TopicSpec
from topics.client import CatalogProducer, Received
from topics.deadletters import encode_payload, make_dead_letter

RAW_PREVIEW_BYTES = 200


@dataclass(frozen=True)
class RejectedLine:
    line: int
    reason: str


@dataclass
class ProduceReport:
    sent: int = 0
    rejected: list[RejectedLine] = field(default_factory=list)
    dead_lettered: int = 0


async def produce_lines(
    producer: CatalogProducer,
    spec: TopicSpec,
    lines: Iterable[str],
    *,
    source: str,
    raw: bool = False,
    key: str | None = None,
    dead_letter_invalid: bool = True,
) -> ProduceReport:
    """Validate each JSON line against ``spec`` and send the valid ones; blank lines are skipped.

    With ``raw`` every line is sent unvalidated (to exercise consumers' dead-letter path).
    """
    report = ProduceReport()
    pending = []
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        data = text.encode("utf-8")
        if raw:
            pending.append(
                await producer.enqueue_raw(
                    spec.name, data, key=key.encode("utf-8") if key is not None else None
                )
            )
            report.sent += 1
            continue
        try:
            value = codec.decode(spec, data)
        except codec.InvalidMessage as exc:
            reason = f"{source} line {number}: {exc.reason}"
            report.rejected.append(RejectedLine(number, exc.reason))
            if dead_letter_invalid:
                letter = make_dead_letter(
                    reason=reason,
                    error_type="InvalidMessage",
                    component="cli.produce",
                    payload=data,
                    key=key,
                    source_topic=spec.name,
                )
                await producer.dead_letter(letter)
                report.dead_lettered += 1
            continue
        pending.append(await producer.enqueue(spec, value, key=key))
        report.sent += 1
    for future in pending:
        await future
    return report


def _preview(raw: bytes | None) -> str:
    text, encoding, truncated = encode_payload(raw, cap=RAW_PREVIEW_BYTES)
    shown = redact_text(text) if encoding == "utf-8" else f"base64:{text}"
    return shown + ("…" if truncated else "")


def message_record(message: Received) -> dict[str, Any]:
    """A consumed message as a JSON-ready dict (the ``tail --json`` line)."""
    record: dict[str, Any] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "timestamp": message.timestamp.isoformat(),
        "key": message.key,
        "value": message.value.model_dump(mode="json") if message.value is not None else None,
    }
    if message.is_tombstone:
        record["tombstone"] = True
    if message.error is not None:
        record["error"] = message.error
        record["raw"] = _preview(message.raw)
    return record


def message_line(message: Received) -> str:
    """A consumed message on one readable line."""
    where = f"{message.timestamp:%Y-%m-%dT%H:%M:%S}Z {message.topic} p{message.partition}@{message.offset}"
    key = f"key={message.key}" if message.key is not None else "key=(none)"
    if message.error is not None:
        return f"{where} {key} INVALID {message.error} | {_preview(message.raw)}"
    if message.value is None:
        return f"{where} {key} TOMBSTONE"
    body = message.value.model_dump_json(exclude_none=True)
    return f"{where} {key} {type(message.value).__name__} {body}"


def human_retention(retention_ms: int) -> str:
    if retention_ms < 0:
        return "forever"
    if retention_ms % DAY_MS == 0:
        return f"{retention_ms // DAY_MS}d"
    hour = 60 * 60 * 1000
    if retention_ms % hour == 0:
        return f"{retention_ms // hour}h"
    return f"{retention_ms}ms"


def catalog_rows(
    specs: Sequence[TopicSpec], states: dict[str, TopicState] | None
) -> list[dict[str, Any]]:
    """One row per topic; ``states`` is ``None`` when the broker could not be asked."""
    rows = []
    for spec in specs:
        row: dict[str, Any] = {
            "name": spec.name,
            "key": spec.key,
            "model": spec.value_model.__name__,
            "partitions": spec.partitions,
            "cleanup": spec.cleanup_policy,
            "retention": human_retention(spec.retention_ms),
        }
        if states is not None:
            state = states.get(spec.name)
            row["on_broker"] = state is not None
            row["broker_partitions"] = state.partitions if state else None
        rows.append(row)
    return rows


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as aligned plain-text columns."""
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def dump_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
