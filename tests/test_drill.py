"""The failure drill: its planned traffic ends as the rules say, its ledger counts every loss, and
the drill itself (3 brokers, faults one after another) loses nothing."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.delivery.receiver import ReceiverState
from hub.harness import RuleHarness
from hub.routing.loader import load_routes
from hub.routing.table import RoutingTable, make_dispatch
from hub.rules import RuleEngine
from hub.rules.loader import load_default_rules
from tilik.drill.fleet import WEBHOOK_AGENCY, drill_routes
from tilik.drill.ledger import Ledger, TopicsRead, account
from tilik.drill.traffic import CYCLE, Expected, Produced, planned_event
from topics.catalog import DEVICE_EVENTS, tenant_topics
from topics.identity import tenant_scoped
from topics.models import Alert, DeadLetter, DeadLetterKind, Dispatch
from topics.reader import Received

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


@pytest.fixture
def routes(tmp_path: Path) -> RoutingTable:
    return load_routes(drill_routes(tmp_path / "routes.yaml", "http://127.0.0.1:9/tilik"))


def test_planned_events_end_as_the_default_rules_and_routes_say(routes: RoutingTable) -> None:
    harness = RuleHarness(RuleEngine(load_default_rules()))
    for index, expected in enumerate(CYCLE):
        if expected is Expected.DEAD_LETTER:
            continue
        alerts = harness.feed(planned_event("r1", index, expected, NOW))
        assert bool(alerts) is (expected is Expected.ALERT), expected
        for alert in alerts:
            # Every alert the traffic causes also goes out over the agency's webhook.
            assert WEBHOOK_AGENCY in {d.agency for d in routes.route(alert)}
    assert routes.agencies[WEBHOOK_AGENCY].webhook is not None


class Scenario:
    """A small drill's worth of topics: one alerting event, one quiet, one unreadable record."""

    def __init__(self, routes: RoutingTable) -> None:
        harness = RuleHarness(RuleEngine(load_default_rules()))
        alerting = planned_event("r1", 0, Expected.ALERT, NOW)
        quiet = planned_event("r1", 1, Expected.NO_ALERT, NOW)
        self.produced = [
            Produced(0, Expected.ALERT, alerting.camera_id, alerting.event_id, 0, 10),
            Produced(1, Expected.NO_ALERT, quiet.camera_id, quiet.event_id, 1, 20),
            Produced(2, Expected.DEAD_LETTER, "cam-" + "0" * 20, None, 2, 30),
        ]
        self.events = [
            received(alerting, 0, 10),
            received(quiet, 1, 20),
            Received(DEVICE_EVENTS, None, None, 2, 30, NOW, error="not JSON", raw=b"x"),
        ]
        self.alerts: list[Alert] = harness.feed(alerting)
        self.dispatches: dict[str, list[Dispatch]] = {agency: [] for agency in routes.agencies}
        for alert in self.alerts:
            for decision in routes.route(alert):
                self.dispatches[decision.agency].append(make_dispatch(alert, decision, NOW))
        self.dead_letters = [
            DeadLetter(
                kind=DeadLetterKind.INVALID_MESSAGE,
                reason="not JSON",
                component="hub",
                source_topic=DEVICE_EVENTS.name,
                source_partition=2,
                source_offset=30,
                payload="x",
                failed_at=NOW,
            )
        ]
        self.committed = {0: 11, 1: 21, 2: 31}
        self.receiver = ReceiverState(secret=b"s")
        for dispatch in self.dispatches[WEBHOOK_AGENCY]:
            self.receiver.first_time(dispatch.idempotency_key)
            self.receiver.accepted.append(dispatch)

        self.edge_events: list[Received] = []

    def ledger(
        self, routes: RoutingTable, tenant: str | None = None, since: datetime | None = None
    ) -> Ledger:
        read = TopicsRead(
            self.events,
            self.alerts,
            self.dispatches,
            self.dead_letters,
            self.committed,
            self.edge_events,
        )
        return account(
            self.produced, read, routes, WEBHOOK_AGENCY, self.receiver, tenant, (since, None)
        )


def received(value: object, partition: int, offset: int) -> Received:
    return Received(DEVICE_EVENTS, None, value, partition, offset, NOW)  # type: ignore[arg-type]


def test_a_drill_where_everything_arrived_has_no_loss(routes: RoutingTable) -> None:
    scenario = Scenario(routes)
    # A worker that died after sending re-sends the same dispatch: a repeat, not a loss.
    polisi = scenario.dispatches[WEBHOOK_AGENCY]
    polisi.append(polisi[0].model_copy())
    ledger = scenario.ledger(routes)
    assert ledger.losses == []
    assert ledger.counts["planned alert as planned"] == 1
    assert ledger.counts["planned no_alert as planned"] == 1
    assert ledger.counts["planned dead_letter as planned"] == 1
    assert ledger.counts["dispatches repeated"] == 1


def test_an_edge_event_the_hubs_ingest_never_passed_on_is_a_loss(routes: RoutingTable) -> None:
    scenario = Scenario(routes)
    tenant = "toko-drill"
    kept = planned_event("site", 0, Expected.NO_ALERT, NOW)
    refused = planned_event("site", 1, Expected.NO_ALERT, NOW)
    scenario.edge_events = [received(kept, 0, 3), received(refused, 0, 4)]
    scenario.dead_letters.append(
        scenario.dead_letters[0].model_copy(
            update={
                "source_topic": tenant_topics(tenant).events.name,
                "source_partition": 0,
                "source_offset": 4,
            }
        )
    )
    losses = scenario.ledger(routes, tenant).losses
    assert "1 edge events the hub's ingest never passed on (partition-offset): 0-3" in losses
    # On the shared topic under its tenant-scoped id, it is accounted for.
    shared = kept.model_copy(update={"event_id": tenant_scoped(tenant, kept.event_id)})
    scenario.events.append(received(shared, 0, 40))
    scenario.committed[0] = 41
    ledger = scenario.ledger(routes, tenant)
    assert ledger.losses == []
    assert ledger.counts["edge events -> shared topic"] == 1
    assert ledger.counts["edge events -> dead letter (ingest refused)"] == 1


def test_an_edge_event_from_before_its_tenant_confirmed_the_camera_is_not_owed(
    routes: RoutingTable,
) -> None:
    scenario = Scenario(routes)
    early = planned_event("site", 0, Expected.NO_ALERT, NOW)
    scenario.edge_events = [received(early, 0, 3)]
    ledger = scenario.ledger(routes, "toko-drill", since=NOW + timedelta(seconds=1))
    assert ledger.losses == []
    assert ledger.counts["edge events before the tenant confirmed (not shared)"] == 1
    assert "1 edge events" in " ".join(scenario.ledger(routes, "toko-drill", since=NOW).losses)


def test_an_acknowledged_event_missing_from_the_topic_is_a_loss(routes: RoutingTable) -> None:
    scenario = Scenario(routes)
    scenario.events = scenario.events[1:]
    assert "1 acknowledged events missing from the topic: 0-10" in scenario.ledger(routes).losses


def test_an_event_the_hub_never_processed_is_a_loss(routes: RoutingTable) -> None:
    scenario = Scenario(routes)
    scenario.committed[1] = 20
    losses = scenario.ledger(routes).losses
    assert "1 events the hub never processed (partition-offset): 1-20" in losses


def test_an_alerting_event_without_its_alert_is_a_loss(routes: RoutingTable) -> None:
    scenario = Scenario(routes)
    scenario.alerts = []
    losses = scenario.ledger(routes).losses
    assert "1 planned events with another outcome: 0-10 (alert, got no_alert)" in losses


def test_an_alert_without_a_routed_dispatch_is_a_loss(routes: RoutingTable) -> None:
    scenario = Scenario(routes)
    scenario.dispatches[WEBHOOK_AGENCY] = []
    losses = scenario.ledger(routes).losses
    assert any(loss.startswith("1 alert states without a dispatch") for loss in losses)


def test_a_key_carrying_another_dispatch_is_a_loss(routes: RoutingTable) -> None:
    scenario = Scenario(routes)
    polisi = scenario.dispatches[WEBHOOK_AGENCY]
    polisi.append(polisi[0].model_copy(update={"dispatch_id": "dsp-" + "f" * 24}))
    losses = scenario.ledger(routes).losses
    assert any(loss.startswith("1 idempotency keys carrying different") for loss in losses)


def test_a_dispatch_the_webhook_never_received_is_a_loss(routes: RoutingTable) -> None:
    scenario = Scenario(routes)
    scenario.receiver.accepted.clear()
    losses = scenario.ledger(routes).losses
    assert any(loss.startswith("1 dispatches the webhook receiver never got") for loss in losses)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_drill_loses_nothing_when_a_broker_a_worker_and_a_connector_die_and_a_site_is_cut_off(
    tmp_path: Path,
) -> None:
    """The whole drill, smaller and with shorter outages, within CI's budget."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tilik",
            "drill",
            "--cameras",
            "6",
            "--nvr-channels",
            "2",
            "--rate",
            "5",
            "--broker-down",
            "5",
            "--receiver-down",
            "10",
            "--edge-down",
            "10",
            "--steady",
            "5",
            "--settle-timeout",
            "150",
            "--run-dir",
            str(tmp_path / "drill"),
        ],
        capture_output=True,
        text=True,
        timeout=570,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "nothing lost" in result.stdout
    for fault in (
        "SIGKILL a broker",
        "SIGKILL a hub worker",
        "SIGKILL a connector",
        "webhook receiver down",
        "edge site cut off",
    ):
        assert fault in result.stdout
    assert "edge events -> shared topic" in result.stdout


def test_a_record_whose_processing_failed_is_a_loss(routes: RoutingTable) -> None:
    scenario = Scenario(routes)
    scenario.dead_letters.append(
        scenario.dead_letters[0].model_copy(
            update={
                "kind": DeadLetterKind.PROCESSING_FAILED,
                "source_topic": "tilik.cameras.status.v1",
                "source_partition": 11,
                "source_offset": 6,
            }
        )
    )
    losses = scenario.ledger(routes).losses
    assert (
        "1 records whose processing failed (dead letters to replay): tilik.cameras.status.v1 11-6"
        in losses
    )


def test_the_ledger_waits_only_for_what_can_still_arrive(routes: RoutingTable) -> None:
    scenario = Scenario(routes)
    scenario.receiver.accepted.clear()  # a webhook retry may still deliver it
    assert not scenario.ledger(routes).settled
    scenario = Scenario(routes)
    scenario.events = scenario.events[1:]  # acknowledged and gone: no wait brings it back
    ledger = scenario.ledger(routes)
    assert ledger.settled and not ledger.ok
