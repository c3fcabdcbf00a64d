"""Both vendors' event streams over real sockets: every fault mode, oversized parts, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from connectors.private_vendors.kits import VENDORS
from connectors.sdk.errors import AuthenticationError
from connectors.sdk.simulation.faults import Faults
from connectors.sdk.simulation.testing import VendorKit, collect_numbered
from topics.models import DeadLetterKind

PASSWORD = "s3cret-Stream-pw"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_VENDOR_PASS"
FAST = {
    "reconnect_initial_s": 0.05,
    "reconnect_max_s": 0.5,
    "timeout_s": 3.0,
    "stream_idle_timeout_s": 3.0,
}


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_VENDOR_PASS", PASSWORD)


@pytest.fixture(params=sorted(VENDORS))
def kit(request: pytest.FixtureRequest) -> VendorKit:
    return VENDORS[request.param]


# ``lax`` is not combined with ``garbage``: junk after a part whose Content-Length is short is
# read as the end of its body, so that part is dead-lettered (kept, not lost silently).
FAULTS = [
    "",
    "split",
    "garbage",
    "drop",
    "401",
    "slow",
    "lax",
    "split,garbage,drop,401",
    "split,drop,401,lax",
]


@pytest.mark.parametrize("faults", FAULTS, ids=[f or "clean" for f in FAULTS])
async def test_stream_survives_fault_without_losing_undamaged_events(
    kit: VendorKit, faults: str
) -> None:
    count = 30
    async with kit.simulator(
        channels=4, password=PASSWORD, event_rate=100, max_events=count, faults=faults
    ) as sim:
        device = sim.devices[0]
        connector = kit.make(sim.addresses[0], REF, **FAST)
        try:
            run = await collect_numbered(connector, device, count, timeout_s=30)
        finally:
            await connector.close()
    assert not run.missing(device, count), f"lost events {sorted(run.missing(device, count))}"
    assert run.unparsed == []
    if "drop" in faults:
        assert device.damaged, "the drop fault should have cut at least one part"
        assert len(device.damaged) <= count // device.faults.every_parts
        assert device.stream_connections > len(device.damaged)
    else:
        assert not device.damaged
    if "401" in faults:
        assert device.reauth.challenges >= 1
    # Every delivered event is distinct: a fault must not duplicate events either.
    assert len(run.seen) == len(set(run.seen))


async def test_oversized_part_becomes_a_dead_letter_record_and_the_stream_goes_on(
    kit: VendorKit,
) -> None:
    async with kit.simulator(password=PASSWORD, event_rate=50) as sim:
        device = sim.devices[0]
        connector = kit.make(sim.addresses[0], REF, max_event_part_bytes=64 * 1024, **FAST)
        try:
            await connector.device_context()  # identity read before the device turns hostile
            device.set_corruption("oversized")
            run = await collect_numbered(
                connector, device, 0, timeout_s=10, stop=lambda r: len(r.unparsed) >= 2
            )
            device.set_corruption("normal")
            after = await collect_numbered(
                connector, device, 0, timeout_s=10, stop=lambda r: len(r.events) >= 3
            )
        finally:
            await connector.close()
    assert len(run.unparsed) >= 2
    record = run.unparsed[0]
    assert "exceeds the 65536 byte limit" in record.reason
    assert record.device_id.startswith("dev-") and len(record.payload) <= 1024
    assert len(after.events) >= 3


async def test_malformed_parts_are_kept_as_unparsed_with_the_raw_payload(kit: VendorKit) -> None:
    async with kit.simulator(password=PASSWORD, event_rate=50) as sim:
        device = sim.devices[0]
        connector = kit.make(sim.addresses[0], REF, **FAST)
        try:
            await connector.device_context()
            device.set_corruption("malformed")
            run = await collect_numbered(
                connector, device, 0, timeout_s=10, stop=lambda r: len(r.unparsed) >= 2
            )
        finally:
            await connector.close()
    assert run.unparsed and "EventNotificationAlert" in run.unparsed[0].payload


async def test_a_bad_part_is_dead_lettered_and_the_parts_after_it_arrive_on_the_same_connection(
    kit: VendorKit,
) -> None:
    # Parts 1, 8, 15 and 22 have an unreadable Content-Length and channel number ("²"), which
    # used to raise ValueError out of the stream: a reconnect each time, the rest of the chunk lost.
    count = 28
    async with kit.simulator(
        channels=4, password=PASSWORD, event_rate=100, max_events=count, faults="badpart"
    ) as sim:
        device = sim.devices[0]
        connector = kit.make(sim.addresses[0], REF, **FAST)
        try:
            run = await collect_numbered(connector, device, count, timeout_s=30)
        finally:
            await connector.close()
    assert device.malformed == {1, 8, 15, 22}
    assert not run.missing(device, count), f"lost events {sorted(run.missing(device, count))}"
    assert sorted(run.seen) == sorted(set(range(count)) - device.malformed)
    assert device.stream_connections == 1
    assert len(run.unparsed) == len(device.malformed)
    for record in run.unparsed:
        assert record.kind is DeadLetterKind.DEVICE_INPUT
        assert record.device_id.startswith("dev-")
        assert "not a channel" in record.reason
        assert "\u00b2" in record.payload


async def test_close_ends_the_event_stream_promptly(kit: VendorKit) -> None:
    async with kit.simulator(password=PASSWORD, event_rate=1) as sim:
        connector = kit.make(sim.addresses[0], REF, **FAST)
        first = asyncio.Event()

        async def drain() -> None:
            async for _ in connector.events():
                first.set()

        task = asyncio.create_task(drain())
        await asyncio.wait_for(first.wait(), 10)
        await connector.close()
        await asyncio.wait_for(task, 2)


async def test_password_changed_mid_stream_surfaces_as_authentication_error(kit: VendorKit) -> None:
    async with kit.simulator(password=PASSWORD, event_rate=100, faults="drop") as sim:
        device = sim.devices[0]
        connector = kit.make(sim.addresses[0], REF, **FAST)
        raised: BaseException | None = None
        delivered = 0
        try:
            async for _ in connector.events():
                delivered += 1
                device.users["admin"] = "changed-by-owner"  # the next reconnect is refused
        except AuthenticationError as exc:
            raised = exc
        finally:
            await connector.close()
    assert delivered >= 1
    assert isinstance(raised, AuthenticationError)
    assert PASSWORD not in str(raised) and "changed-by-owner" not in str(raised)


def test_fault_names_are_checked() -> None:
    assert Faults.parse("split, 401").reauth and Faults.parse("split, 401").split
    with pytest.raises(ValueError, match="unknown fault"):
        Faults.parse("split,flood")
