"""``tilik dlq unknown``: the vendor topics and codes no table maps, counted by vendor and model
from the dead letters on a real broker, most frequent first."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.event_gaps import UNKNOWN, event_gaps
from topics.admin import apply_catalog
from topics.catalog import all_topics
from topics.client import CatalogProducer
from topics.deadletters import make_dead_letter
from topics.models import DeadLetter, DeadLetterKind

TILIK = str(Path(sys.executable).parent / "tilik")
AT = datetime(2026, 11, 29, 12, tzinfo=UTC)
ONVIF = "connector.onvif"


def letter(
    topic: str | None,
    *,
    vendor: str | None = None,
    model: str | None = None,
    device: str = "dev-1",
    kind: DeadLetterKind = DeadLetterKind.UNKNOWN_EVENT,
    component: str = "connector.hikvision",
    minutes: int = 0,
) -> DeadLetter:
    headers = {"vendor_topic": topic, "vendor": vendor, "model": model}
    return make_dead_letter(
        kind=kind,
        reason=f"unknown event code {topic!r}",
        component=component,
        payload=f"<eventType>{topic}</eventType>",
        source_device=device,
        headers={name: value for name, value in headers.items() if value},
        failed_at=AT + timedelta(minutes=minutes),
    )


def test_gaps_are_counted_per_vendor_model_and_code_most_frequent_first() -> None:
    letters = [
        letter("PIR", vendor="hikvision", model="DS-2CD2143", device="dev-1"),
        letter("PIR", vendor="hikvision", model="DS-2CD2143", device="dev-2", minutes=5),
        letter("PIR", vendor="hikvision", model="DS-7608NI", device="dev-3"),
        *(
            letter("tns1:RuleEngine/Foo", vendor="Axis", model="P1455", minutes=m, component=ONVIF)
            for m in (1, 2, 3)
        ),
        # The same vendor's camera, through ONVIF: a row of the ONVIF table.
        letter("tns1:Device/Trigger/PIR", vendor="hikvision", model="DS-2CD2143", component=ONVIF),
        # Unreadable input is no gap in a table; a letter without a topic names none.
        letter("PIR", vendor="hikvision", model="X", kind=DeadLetterKind.DEVICE_INPUT),
        letter(None, vendor="hikvision", model="X"),
        # Written before vendor and model were headers: its connector stands in.
        letter("SmartMotionHuman", component="connector.dahua"),
    ]
    rows = [gap.as_dict() for gap in event_gaps(letters)]
    assert [
        (r["connector"], r["vendor"], r["model"], r["vendor_topic"], r["count"], r["devices"])
        for r in rows
    ] == [
        ("onvif", "Axis", "P1455", "tns1:RuleEngine/Foo", 3, 1),
        ("hikvision", "hikvision", "DS-2CD2143", "PIR", 2, 2),
        ("dahua", "dahua", UNKNOWN, "SmartMotionHuman", 1, 1),
        ("hikvision", "hikvision", "DS-7608NI", "PIR", 1, 1),
        ("onvif", "hikvision", "DS-2CD2143", "tns1:Device/Trigger/PIR", 1, 1),
    ]
    assert (rows[1]["first_seen"], rows[1]["last_seen"]) == (
        AT.isoformat(),
        (AT + timedelta(minutes=5)).isoformat(),
    )


@pytest.mark.kafka
@pytest.mark.timeout(120)
async def test_tilik_dlq_unknown_lists_the_broker_s_unknown_events_by_vendor_and_model(
    kafka_bootstrap: str,
) -> None:
    apply_catalog(all_topics(), bootstrap=kafka_bootstrap, replication_factor=1)
    # Other tests share the broker: this test's vendors are its own.
    hik, onvif = f"hik-{uuid.uuid4().hex[:8]}", f"onvif-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    sent = [
        *(letter("PIR", vendor=hik, model="DS-2CD2143", device=f"dev-{i % 2}") for i in range(3)),
        letter("IO", vendor=hik, model="DS-7608NI"),
        *(
            letter("tns1:Device/Trigger/tnshik:AlarmIn", vendor=onvif, model="C1", component=ONVIF)
            for _ in range(2)
        ),
        letter("PIR", vendor=hik, model="DS-2CD2143", kind=DeadLetterKind.DEVICE_INPUT),
    ]
    async with CatalogProducer(kafka_bootstrap) as producer:
        for item in sent:
            await producer.dead_letter(item.model_copy(update={"failed_at": now}))
    result = subprocess.run(
        [TILIK, "dlq", "unknown", "--json", "--max", "100000", "--bootstrap", kafka_bootstrap],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    rows = [row for row in json.loads(result.stdout) if row["vendor"] in (hik, onvif)]
    assert [
        (r["connector"], r["vendor"], r["model"], r["vendor_topic"], r["count"], r["devices"])
        for r in rows
    ] == [
        ("hikvision", hik, "DS-2CD2143", "PIR", 3, 2),
        ("onvif", onvif, "C1", "tns1:Device/Trigger/tnshik:AlarmIn", 2, 1),
        ("hikvision", hik, "DS-7608NI", "IO", 1, 1),
    ]
    table = subprocess.run(
        [
            TILIK,
            "dlq",
            "unknown",
            "--since",
            "1",
            "--max",
            "100000",
            "--bootstrap",
            kafka_bootstrap,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    ).stdout.splitlines()
    assert table[0].split() == [
        "count",
        "devices",
        "connector",
        "vendor",
        "model",
        "vendor",
        "topic",
        "/",
        "code",
    ]
    mine = [line.split() for line in table if hik in line or onvif in line]
    assert mine == [
        ["3", "2", "hikvision", hik, "DS-2CD2143", "PIR"],
        ["2", "1", "onvif", onvif, "C1", "tns1:Device/Trigger/tnshik:AlarmIn"],
        ["1", "1", "hikvision", hik, "DS-7608NI", "IO"],
    ]
