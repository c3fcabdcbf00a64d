"""The hub's pure parts: webhook signatures, the receiver, retry policy, escalation and coverage."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from hub.config import HubConfig
from hub.delivery.policy import RetryPolicy
from hub.delivery.receiver import ReceiverState, make_receiver_app
from hub.delivery.signing import SignatureRejected, signature, signed_headers, verify
from hub.delivery.webhook import GaveUp, WebhookTarget, deliver
from hub.dispatching.escalation import NotDispatched, acknowledge, arm, escalate_due
from hub.health.coverage import compute_coverage, merge_coverage
from hub.health.state import CameraHealth, check_at, on_registry, on_silence_check, on_status
from hub.operator import alert_views, fold_alerts, select_alerts
from hub.routing import load_routes, make_dispatch
from hub.rules import RuleEngine, RuleSet, load_rules
from topics.examples import alert, camera_record, camera_status
from topics.models import AlertCategory, AlertStatus, CameraState, Severity, SiteType

SECRET = b"s3cret-for-tests"
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_signature_verifies_and_a_forged_or_stale_one_is_rejected() -> None:
    body = b'{"x": 1}'
    stamp = str(int(time.time()))
    good = signature(SECRET, stamp, body)
    verify(SECRET, stamp, body, good, now=time.time())
    with pytest.raises(SignatureRejected, match="does not match"):
        verify(SECRET, stamp, body, signature(b"other", stamp, body), now=time.time())
    with pytest.raises(SignatureRejected, match="does not match"):
        verify(SECRET, stamp, b'{"x": 2}', good, now=time.time())
    with pytest.raises(SignatureRejected, match="tolerance"):
        verify(SECRET, stamp, body, good, now=time.time() + 3600)
    with pytest.raises(SignatureRejected, match="missing"):
        verify(SECRET, None, body, good, now=time.time())


def dispatch_for(seed: int = 0):  # type: ignore[no-untyped-def]
    routing = load_routes("config/routes.yaml")
    opened = alert(seed)
    return make_dispatch(opened, routing.route(opened)[0], NOW)


async def test_receiver_accepts_signed_rejects_forged_and_drops_repeats() -> None:
    state = ReceiverState(secret=SECRET)
    dispatch = dispatch_for()
    body = dispatch.model_dump_json().encode()
    async with TestClient(TestServer(make_receiver_app(state))) as client:
        headers = signed_headers(SECRET, int(time.time()), body, dispatch.idempotency_key)
        for _ in range(2):
            response = await client.post("/tilik", data=body, headers=headers)
            assert response.status == 200
            # Receiving is not acknowledging: a person at the agency does that.
            assert await response.json() == {"ack": False}
        forged = dict(
            headers,
            **{"X-Tilik-Signature": signature(b"guess", headers["X-Tilik-Timestamp"], body)},
        )
        response = await client.post("/tilik", data=body, headers=forged)
        assert response.status == 401
        old = signed_headers(SECRET, int(time.time()) - 3600, body, dispatch.idempotency_key)
        assert (await client.post("/tilik", data=body, headers=old)).status == 401
    assert [d.dispatch_id for d in state.accepted] == [dispatch.dispatch_id]
    assert state.repeats == 1 and state.rejected == 2


async def test_the_sample_receiver_acknowledges_only_when_started_to() -> None:
    state = ReceiverState(secret=SECRET, acknowledge=True)
    dispatch = dispatch_for()
    body = dispatch.model_dump_json().encode()
    async with TestClient(TestServer(make_receiver_app(state))) as client:
        headers = signed_headers(SECRET, int(time.time()), body, dispatch.idempotency_key)
        response = await client.post("/tilik", data=body, headers=headers)
        assert await response.json() == {"ack": True}


async def test_delivery_retries_then_gives_up_without_leaking_the_secret() -> None:
    calls = 0

    async def failing(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/tilik", failing)
    import aiohttp

    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        target = WebhookTarget("bpbd", str(server.make_url("/tilik")), SECRET, timeout_s=1)
        with structlog.testing.capture_logs() as logs, pytest.raises(GaveUp) as failure:
            await deliver(
                session, target, dispatch_for(), RetryPolicy(max_attempts=3, base_delay_s=0.01)
            )
    assert calls == 3 and failure.value.attempts == 3
    assert "HTTP 500" in failure.value.reason
    assert SECRET.decode() not in json.dumps(logs, default=str)
    assert len([entry for entry in logs if entry["event"] == "webhook delivery failed"]) == 3


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_s=1, max_delay_s=8)
    rng = random.Random(7)
    delays = [policy.delay_s(n, rng) for n in range(1, 7)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(8, 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays}) == len(delays)


def test_escalation_fires_after_the_deadline_unless_acknowledged() -> None:
    routing = load_routes("tests/hub_fixtures/routes.yaml")
    tamper = alert(3).model_copy(update={"category": "tamper"})
    first = make_dispatch(tamper, routing.route(tamper)[0], NOW)
    assert first.agency == "polisi" and first.ack_deadline == NOW + timedelta(seconds=3)
    state = arm(None, [first])
    same, sent = escalate_due(state, routing, NOW + timedelta(seconds=2))
    assert sent == [] and same == state
    later, sent = escalate_due(state, routing, NOW + timedelta(seconds=4))
    assert [(d.agency, d.escalation_level) for d in sent] == [("satpol-pp", 1)]
    assert later.waiting == {}
    assert later.dispatched_to == ["polisi", "satpol-pp"]
    acked = acknowledge(state, "polisi")
    assert escalate_due(acked, routing, NOW + timedelta(seconds=60))[1] == []
    assert arm(acked, [first]).waiting == {}


def test_only_an_agency_the_alert_was_dispatched_to_can_acknowledge_it() -> None:
    routing = load_routes("tests/hub_fixtures/routes.yaml")
    tamper = alert(3).model_copy(update={"category": "tamper"})
    state = arm(None, [make_dispatch(tamper, routing.route(tamper)[0], NOW)])
    for stranger in ("dishub", "no-such-agency"):
        with pytest.raises(NotDispatched, match=f"'{stranger}' refused"):
            acknowledge(state, stranger)
    # Once escalated, the next agency of the chain may acknowledge as well.
    escalated, _ = escalate_due(state, routing, NOW + timedelta(seconds=4))
    assert acknowledge(escalated, "satpol-pp").acknowledged_by == "satpol-pp"


OFFLINE_RULES = """
version: 1
rules:
  - {id: cams-down, kind: offline, category: camera_offline, severity: critical,
     title: Camera down, after_s: 60, scope: {site_types: [market]},
     lifecycle: {cooldown_s: 600}}
"""


def engine_of(text: str) -> RuleEngine:
    return RuleEngine(load_rules(text))


def online_at(record, at: datetime):  # type: ignore[no-untyped-def]
    return camera_status(1).model_copy(update={"camera_id": record.camera_id, "checked_at": at})


def test_offline_is_due_only_after_the_silence_and_recovery_resolves_it() -> None:
    engine = engine_of(OFFLINE_RULES)
    record = camera_record(1)
    health, _ = on_registry(None, record.camera_id, record, 4, NOW, engine)
    health, alerts = on_status(health, online_at(record, NOW), 4, NOW, engine)
    assert alerts == []
    assert check_at(health, NOW, engine) == (NOW + timedelta(seconds=60)).timestamp()
    assert on_silence_check(health, NOW + timedelta(seconds=30), engine)[1] == []
    health, opened = on_silence_check(health, NOW + timedelta(seconds=61), engine)
    assert [(a.status, a.rule_id, a.severity) for a in opened] == [
        (AlertStatus.OPENED, "cams-down", Severity.CRITICAL)
    ]
    assert on_silence_check(health, NOW + timedelta(seconds=90), engine)[1] == []
    later = NOW + timedelta(seconds=95)
    health, resolved = on_status(health, online_at(record, later), 4, later, engine)
    assert [(a.status, a.alert_id, a.sequence) for a in resolved] == [
        (AlertStatus.RESOLVED, opened[0].alert_id, 1)
    ]


def test_a_registered_camera_that_never_reports_goes_offline() -> None:
    engine = engine_of(OFFLINE_RULES)
    record = camera_record(1)
    health, _ = on_registry(None, record.camera_id, record, 4, NOW, engine)
    _, opened = on_silence_check(health, NOW + timedelta(seconds=61), engine)
    assert [a.status for a in opened] == [AlertStatus.OPENED]


def test_the_worker_honours_the_offline_rules_scope_schedule_and_cooldown() -> None:
    """Health drives the offline rules through the engine, as the rule harness does."""
    night = NOW.astimezone(engine_of(OFFLINE_RULES).zone).replace(hour=2, minute=0)
    engine = engine_of(
        OFFLINE_RULES
        + "  - {id: night-only, kind: offline, category: camera_offline, title: Night,\n"
        + "     after_s: 60, scope: {site_types: [main_road]},\n"
        + '     schedule: {times: ["22:00-05:00"]}}\n'
    )
    market = camera_record(1)
    road = camera_record(2).model_copy(update={"site_type": SiteType.MAIN_ROAD})

    def silent(record, since: datetime) -> CameraHealth:  # type: ignore[no-untyped-def]
        health, _ = on_registry(None, record.camera_id, record, 0, since, engine)
        return on_status(health, online_at(record, since), 0, since, engine)[0]

    # Scope: the market camera has only cams-down; schedule: night-only opens at night only.
    day = NOW.astimezone(night.tzinfo).replace(hour=12, minute=0)
    assert on_silence_check(silent(road, day), day + timedelta(seconds=61), engine)[1] == []
    _, at_night = on_silence_check(silent(road, night), night + timedelta(seconds=61), engine)
    assert [a.rule_id for a in at_night] == ["night-only"]
    # Cooldown: after a recovery, a new silence opens no alert for 600 s.
    health, opened = on_silence_check(silent(market, NOW), NOW + timedelta(seconds=61), engine)
    assert [a.rule_id for a in opened] == ["cams-down"]
    back = NOW + timedelta(seconds=70)
    health, _ = on_status(health, online_at(market, back), 0, back, engine)
    assert on_silence_check(health, back + timedelta(seconds=200), engine)[1] == []
    _, again = on_silence_check(health, back + timedelta(seconds=700), engine)
    assert [a.status for a in again] == [AlertStatus.OPENED]


def test_a_removed_offline_rule_or_a_revoked_camera_resolves_the_open_alert() -> None:
    engine = engine_of(OFFLINE_RULES)
    record = camera_record(1)
    health, _ = on_registry(None, record.camera_id, record, 0, NOW, engine)
    later = NOW + timedelta(seconds=61)
    health, [opened] = on_silence_check(health, later, engine)
    removed = RuleEngine(RuleSet())
    after, [resolved] = on_silence_check(health, later, removed)
    assert (resolved.alert_id, resolved.status) == (opened.alert_id, AlertStatus.RESOLVED)
    assert resolved.summary == "resolved: the rule was removed" and after.offline == {}
    assert check_at(health, later, removed) == later.timestamp()
    revoked, [gone] = on_registry(health, record.camera_id, None, 0, later, engine)
    assert gone.summary == "resolved: the camera was revoked" and revoked.offline == {}


def test_offline_after_overrides_every_offline_rule(tmp_path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(OFFLINE_RULES)
    base = {"bootstrap": "127.0.0.1:9", "rules_path": rules}
    assert [r.after_s for r in HubConfig(**base).ruleset().rules] == [60]
    config = HubConfig(**base, offline_after_s=3)
    assert [r.after_s for r in config.ruleset().rules] == [3]
    assert config.silence_s(config.ruleset()) == 3
    assert HubConfig(bootstrap="127.0.0.1:9").silence_s(RuleSet()) == 300


def test_coverage_counts_per_kecamatan_and_merges_across_workers() -> None:
    cameras = []
    for seed in range(4):
        record = camera_record(seed)
        health, _ = on_registry(
            None, record.camera_id, record, seed % 2, NOW, RuleEngine(RuleSet())
        )
        if seed < 3:
            health = health.model_copy(update={"state": CameraState.ONLINE, "last_seen": NOW})
        cameras.append(health)
    cameras.append(CameraHealth(camera_id="cam-" + "0" * 20, partition=1, revoked=True))
    whole = compute_coverage(cameras, NOW, 60)
    assert (whole.total.registered, whole.total.online, whole.total.percent_online) == (4, 3, 75.0)
    halves = [compute_coverage([c for c in cameras if c.partition == p], NOW, 60) for p in (0, 1)]
    merged = merge_coverage(halves)
    assert merged is not None
    assert merged.model_dump() == whole.model_dump()
    assert merged.kecamatan["Semarang Tengah"].kelurahan["Kauman"].online == 3


def test_alert_states_fold_to_the_latest_per_alert() -> None:
    opened = alert(5)
    resolved = opened.model_copy(update={"status": AlertStatus.RESOLVED, "sequence": 2})
    other = alert(6)
    latest = fold_alerts([opened, resolved, opened, other])
    assert latest[opened.alert_id].status == AlertStatus.RESOLVED
    views = alert_views([opened, resolved, opened, other])
    assert [v.alert.alert_id for v in select_alerts(views.values(), open_only=True)] == [
        other.alert_id
    ]


def test_the_alert_list_says_who_has_each_alert_and_how_far() -> None:
    """Dispatched, delivered (a receipt), acknowledged (only by an agency that received it)."""
    from hub.delivery.receipt import delivery_receipt
    from topics.models import AlertAck

    routing = load_routes("tests/hub_fixtures/routes.yaml")
    tamper = alert(7).model_copy(update={"category": AlertCategory.TAMPER})
    flood = alert(8).model_copy(update={"category": AlertCategory.FLOOD})
    to_polisi, to_bpbd = (make_dispatch(a, routing.route(a)[0], NOW) for a in (tamper, flood))
    escalated = make_dispatch(tamper, routing.escalation_for("security", 1), NOW)  # type: ignore[arg-type]

    def ack(alert_id: str, agency: str) -> AlertAck:
        return AlertAck(alert_id=alert_id, agency=agency, acked_at=NOW, acked_by="desk")

    views = alert_views(
        [tamper, flood],
        [to_polisi, to_bpbd, escalated],
        [delivery_receipt(to_bpbd, attempts=1, at=NOW)],
        [
            ("polisi", ack(tamper.alert_id, "polisi")),
            ("dishub", ack(flood.alert_id, "dishub")),  # never dispatched to dishub
            ("bpbd", ack(tamper.alert_id, "polisi")),  # bpbd cannot acknowledge as polisi
        ],
    )
    handled = {
        v.alert.category: {a: h.state.value for a, h in v.agencies.items()} for v in views.values()
    }
    assert handled == {
        "tamper": {"polisi": "acknowledged", "satpol-pp": "dispatched"},
        "flood": {"bpbd": "delivered"},
    }
    assert [v.alert.alert_id for v in select_alerts(views.values(), agency="satpol-pp")] == [
        tamper.alert_id
    ]
    row = views[tamper.alert_id].as_json()
    assert row["acknowledged"] is True and row["camera_id"] == tamper.camera_id
    assert row["agencies"][0] == {
        "agency": "polisi",
        "escalation_level": 0,
        "dispatched_at": NOW.isoformat().replace("+00:00", "Z"),
        "delivered_at": None,
        "acknowledged_at": NOW.isoformat().replace("+00:00", "Z"),
        "acknowledged_by": "desk",
        "state": "acknowledged",
    }


def test_worker_consumer_fetches_are_batched(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    from hub.worker import batch_fetches

    def stub(self: object, transport: object) -> SimpleNamespace:
        return SimpleNamespace(_fetch_min_bytes=1, _fetch_max_wait_ms=1500)

    monkeypatch.setattr(AIOKafkaConsumerThread, "_create_worker_consumer", stub)
    batch_fetches(65536, 10)
    batch_fetches(1, 1)  # applied once per process
    consumer = AIOKafkaConsumerThread._create_worker_consumer(object(), object())  # type: ignore[arg-type]
    assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (65536, 10)


async def test_revoked_partitions_are_forgotten_by_the_gap_guard(tmp_path) -> None:
    from aiokafka import TopicPartition
    from faust.types import TP

    from hub.app import create_hub
    from hub.config import HubConfig

    hub = create_hub(
        HubConfig(
            bootstrap="127.0.0.1:1", app_id="tilik-hub-units-revoke", data_dir=tmp_path / "hub"
        )
    )
    kept, lost = (
        TopicPartition("tilik.events.device.v1", 1),
        TopicPartition("tilik.events.device.v1", 2),
    )
    hub.gaps._expected.update({kept: 10, lost: 20})
    await hub.app.on_partitions_revoked.send({TP(lost.topic, lost.partition)})
    assert hub.gaps._expected == {kept: 10}


def test_durations_for_operator_commands() -> None:
    from hub.operator import parse_duration

    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration("7d") == timedelta(days=7)
    for bad in ("", "h", "5", "5w", "-1h", "soon"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)
