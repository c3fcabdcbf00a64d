"""The ledger: reads the topics at the end of a drill and accounts for every event, alert and delivery.

It holds the drill to what the hub promises: every device event the broker acknowledged is on the
topic and processed (the hub's group committed past it) with an outcome (an alert that names it,
no alert because no rule applies, or a dead letter naming its offset); every alert state has a
dispatch for each agency its routes name; a repeat carries the key of what it repeats; every
dispatch of the webhook agency reached its receiver at least once; every event the edge site
put on its tenant's topic reached the shared topic through the hub's ingest (or was refused there
with a dead letter). Anything else is a loss.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from core.settings import Settings
from hub.delivery.receiver import ReceiverState
from hub.routing.table import RoutingTable
from tilik.drill.traffic import Expected, Produced
from topics import identity
from topics.admin import admin_client
from topics.catalog import ALERTS, DEAD_LETTERS, DEVICE_EVENTS, dispatch_spec, tenant_topics
from topics.client import read_records
from topics.models import Alert, DeadLetter, DeadLetterKind, DeviceEvent, Dispatch
from topics.reader import Received


@dataclass
class Ledger:
    """Counts by what happened, and each loss spelled out (empty: nothing was lost)."""

    counts: Counter[str] = field(default_factory=Counter)
    losses: list[str] = field(default_factory=list)
    # Losses that later reading could still find made good (the hub catching up, a retry
    # arriving); the others are on the topics for good.
    pending: int = 0

    @property
    def ok(self) -> bool:
        return not self.losses

    @property
    def settled(self) -> bool:
        """Nothing left that waiting could change."""
        return self.pending == 0

    def lose(self, what: str, examples: Iterable[object], *, final: bool = False) -> None:
        shown = sorted(map(str, examples))
        if shown:
            more = f" (and {len(shown) - 5} more)" if len(shown) > 5 else ""
            self.losses.append(f"{len(shown)} {what}: {', '.join(shown[:5])}{more}")
            self.pending += not final


@dataclass(frozen=True)
class TopicsRead:
    """What the topics held from the drill's start."""

    events: list[Received]
    alerts: list[Alert]
    dispatches: dict[str, list[Dispatch]]
    dead_letters: list[DeadLetter]
    committed: dict[int, int]
    # The edge site's events on its tenant's own topic.
    edge_events: list[Received] = field(default_factory=list)


async def read_topics(
    bootstrap: str,
    settings: Settings,
    since: datetime,
    group: str,
    agencies: Iterable[str],
    tenant: str | None = None,
) -> TopicsRead:
    async def read(spec_name: str, spec: object) -> list[Received]:
        return await read_records(
            spec,  # type: ignore[arg-type]
            start=since,
            bootstrap=bootstrap,
            component=f"drill-ledger-{spec_name}",
            dead_letter_invalid=False,
            settings=settings,
        )

    events = await read("events", DEVICE_EVENTS)
    alerts = [r.value for r in await read("alerts", ALERTS) if isinstance(r.value, Alert)]
    dispatches = {
        agency: [
            r.value
            for r in await read(f"dispatch-{agency}", dispatch_spec(agency))
            if isinstance(r.value, Dispatch)
        ]
        for agency in agencies
    }
    dead_letters = [
        r.value for r in await read("deadletters", DEAD_LETTERS) if isinstance(r.value, DeadLetter)
    ]
    committed = await asyncio.to_thread(committed_offsets, bootstrap, settings, group)
    edge_events = [] if tenant is None else await read("edge", tenant_topics(tenant).events)
    return TopicsRead(events, alerts, dispatches, dead_letters, committed, edge_events)


def committed_offsets(bootstrap: str, settings: Settings, group: str) -> dict[int, int]:
    """The hub group's committed offset (the next record to process) per device-event partition."""
    with admin_client(bootstrap, settings=settings) as client:
        offsets = client.list_group_offsets({group: None})[group]
    return {
        tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == DEVICE_EVENTS.name
    }


def account(
    produced: list[Produced],
    read: TopicsRead,
    routes: RoutingTable,
    webhook_agency: str,
    receiver: ReceiverState,
    tenant: str | None = None,
    edge_window: tuple[datetime | None, datetime | None] = (None, None),
) -> Ledger:
    ledger = Ledger()
    account_events(ledger, produced, read)
    account_alerts(ledger, read, routes, {record.camera_id for record in produced})
    account_webhook(ledger, read, webhook_agency, receiver)
    account_failures(ledger, read)
    if tenant is not None:
        account_edge(ledger, read, tenant, *edge_window)
    return ledger


def account_edge(
    ledger: Ledger,
    read: TopicsRead,
    tenant: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> None:
    """Each event on the tenant's topic is on the shared topic under its tenant-scoped id, or its
    refusal by the hub's ingest is a dead letter naming its offset: each the site received once
    the registry showed the camera confirmed (``since``; before, the city shares none of them) and
    written by ``until`` (the site's cameras never stop, so the latest are always on their way)."""
    counts = ledger.counts
    topic = tenant_topics(tenant).events.name
    shared = {r.value.event_id for r in read.events if isinstance(r.value, DeviceEvent)}
    refused = {
        (letter.source_partition, letter.source_offset)
        for letter in read.dead_letters
        if letter.source_topic == topic
    }
    missing = []
    for received in read.edge_events:
        if until is not None and received.timestamp > until:
            continue
        if (
            since is not None
            and isinstance(received.value, DeviceEvent)
            and received.value.received_at < since
        ):
            counts["edge events before the tenant confirmed (not shared)"] += 1
            continue
        counts["edge events on the tenant's topic"] += 1
        if (received.partition, received.offset) in refused:
            counts["edge events -> dead letter (ingest refused)"] += 1
        elif isinstance(received.value, DeviceEvent) and (
            identity.tenant_scoped(tenant, received.value.event_id) in shared
        ):
            counts["edge events -> shared topic"] += 1
        else:
            missing.append(f"{received.partition}-{received.offset}")
    ledger.lose("edge events the hub's ingest never passed on (partition-offset)", missing)


def account_failures(ledger: Ledger, read: TopicsRead) -> None:
    """A record whose processing raised was not handled: whatever it should have changed (a
    camera's health, an escalation, an alert) did not change until it is replayed."""
    failed = [
        f"{letter.source_topic} {letter.source_partition}-{letter.source_offset}"
        for letter in read.dead_letters
        if letter.kind == DeadLetterKind.PROCESSING_FAILED
    ]
    ledger.counts["records whose processing failed"] = len(failed)
    ledger.lose("records whose processing failed (dead letters to replay)", failed, final=True)


def account_events(ledger: Ledger, produced: list[Produced], read: TopicsRead) -> None:
    counts = ledger.counts
    at = {(r.partition, r.offset): r for r in read.events}
    alerted = {event_id for alert in read.alerts for event_id in alert.event_ids}
    lettered = {
        (letter.source_partition, letter.source_offset)
        for letter in read.dead_letters
        if letter.source_topic == DEVICE_EVENTS.name
    }

    def processed(partition: int, offset: int) -> bool:
        return read.committed.get(partition, 0) > offset

    # Every record on the topic since the start: the cameras' and the generator's.
    unprocessed = []
    for (partition, offset), received in at.items():
        counts["events on the topic"] += 1
        if not processed(partition, offset):
            unprocessed.append(f"{partition}-{offset}")
        elif (partition, offset) in lettered:
            counts["events -> dead letter"] += 1
        elif isinstance(received.value, DeviceEvent) and received.value.event_id in alerted:
            counts["events -> alert"] += 1
        else:
            counts["events -> no alert"] += 1
    ledger.lose("events the hub never processed (partition-offset)", unprocessed)

    # The planned records: each must be where the broker said and end as planned.
    missing, wrong = [], []
    for record in produced:
        counts[f"planned {record.expected.value}"] += 1
        found = at.get((record.partition, record.offset))
        where = f"{record.partition}-{record.offset}"
        if found is None or (
            record.event_id is not None
            and not (
                isinstance(found.value, DeviceEvent) and found.value.event_id == record.event_id
            )
        ):
            missing.append(where)
            continue
        if not processed(record.partition, record.offset):
            continue  # counted above
        outcome = (
            Expected.DEAD_LETTER
            if (record.partition, record.offset) in lettered
            else Expected.ALERT
            if record.event_id in alerted
            else Expected.NO_ALERT
        )
        if outcome is record.expected:
            counts[f"planned {record.expected.value} as planned"] += 1
        else:
            wrong.append(f"{where} ({record.expected.value}, got {outcome.value})")
    ledger.lose("acknowledged events missing from the topic", missing, final=True)
    ledger.lose("planned events with another outcome", wrong)


def account_alerts(
    ledger: Ledger, read: TopicsRead, routes: RoutingTable, planned: set[str]
) -> None:
    counts = ledger.counts
    states: dict[tuple[str, int], Alert] = {}
    per_state: Counter[tuple[str, int]] = Counter()
    opened: dict[tuple[str, str], set[str]] = defaultdict(set)
    for alert in read.alerts:
        per_state[(alert.alert_id, alert.sequence)] += 1
        states.setdefault((alert.alert_id, alert.sequence), alert)
        if alert.sequence == 0:
            opened[(alert.camera_id, alert.rule_id)].add(alert.alert_id)
    counts["alerts"] = sum(1 for _, sequence in states if sequence == 0)
    counts["alert states"] = len(states)
    counts["alert states repeated"] = sum(n - 1 for n in per_state.values())
    # A planned camera has one event, so at most one alert: a second would be a repeat that
    # lost its identity.
    ledger.lose(
        "planned cameras with two alerts for one rule",
        [
            f"{camera}/{rule}"
            for (camera, rule), ids in opened.items()
            if len(ids) > 1 and camera in planned
        ],
        final=True,
    )

    by_key: dict[str, list[Dispatch]] = defaultdict(list)
    for agency, dispatches in read.dispatches.items():
        for dispatch in dispatches:
            if dispatch.agency == agency:
                by_key[dispatch.idempotency_key].append(dispatch)
    counts["dispatches"] = len(by_key)
    counts["dispatches repeated"] = sum(len(group) - 1 for group in by_key.values())
    undispatched, changed = [], []
    for (alert_id, sequence), alert in states.items():
        for decision in routes.route(alert):
            key = identity.idempotency_key(
                alert_id=alert_id, agency=decision.agency, sequence=sequence
            )
            if key not in by_key:
                undispatched.append(key)
    for key, group in by_key.items():
        # A repeat is the same dispatch again: one id and one alert state under one key.
        if len({(d.dispatch_id, d.alert.alert_id, d.alert.sequence) for d in group}) > 1:
            changed.append(key)
    ledger.lose("alert states without a dispatch to a routed agency (key)", undispatched)
    ledger.lose("idempotency keys carrying different dispatches", changed, final=True)


def account_webhook(ledger: Ledger, read: TopicsRead, agency: str, receiver: ReceiverState) -> None:
    counts = ledger.counts
    keys = {d.idempotency_key for d in read.dispatches.get(agency, []) if d.agency == agency}
    received = {d.idempotency_key for d in receiver.accepted}
    failed = [
        letter
        for letter in read.dead_letters
        if letter.kind == DeadLetterKind.DELIVERY_FAILED
        and letter.source_topic == dispatch_spec(agency).name
    ]
    counts[f"webhook dispatches ({agency})"] = len(keys)
    counts["webhook received once"] = len(received & keys)
    counts["webhook repeats dropped by key"] = receiver.repeats
    counts["webhook dead letters"] = len(failed)
    ledger.lose("dispatches the webhook receiver never got (key)", keys - received)
    ledger.lose(
        "webhook deliveries dead-lettered (offset)",
        [letter.source_offset for letter in failed],
        final=True,
    )
