"""The conformance checks, generated as a pytest test class for one connector.

An integrator's test module::

    from connectors.sdk.conformance import SimulatedDevice, make_conformance_suite
    from connectors.sdk.secrets import camera_secret_env

    GOOD, BAD = camera_secret_env("MY_PASS"), camera_secret_env("MY_BAD_PASS")

    @asynccontextmanager
    async def my_simulator() -> AsyncIterator[SimulatedDevice]:
        async with run_my_device() as port:
            yield SimulatedDevice(
                # variables of the camera secrets namespace (TILIK_CAMERA_SECRET_* by default)
                config=MyConfig(address=f"127.0.0.1:{port}", credential_ref=f"admin@env:{GOOD}"),
                bad_credentials_config=MyConfig(..., credential_ref=f"admin@env:{BAD}"),
                secrets={GOOD: "the-password", BAD: "wrong"},
                expected_cameras=4,
                trigger_event=sim.emit_motion,          # optional: make the device send an event
                corrupt=sim.set_mode,                   # optional: "malformed" / "oversized"
            )

    TestMyConnector = make_conformance_suite(MyConnector, simulator=my_simulator)

Each generated test is one check; a failing check says what the connector author must change.
No check is skipped behind the author's back: a check that cannot apply to a connector is
declared so, with the reason, and the run lists it under "checks declared not applicable"::

    TestMyConnector = make_conformance_suite(
        MyConnector,
        simulator=my_simulator,
        not_applicable={
            "event_ids_are_stable_across_subscriptions": "the device allows one subscription",
        },
    )

Checks are named as their tests without ``test_``; the configuration and secret checks
(``ALWAYS_APPLICABLE``) cannot be declared away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
import pytest_asyncio
from pydantic import BaseModel, ValidationError
from structlog.testing import capture_logs

from connectors.sdk.base import CheckResult, Connector, ConnectorConfig, UnparsedEvent
from connectors.sdk.errors import AuthenticationError, ConnectorError, DeviceDataError
from connectors.sdk.netpolicy import join_host_port, split_host_port
from connectors.sdk.secrets import CameraSecrets
from core.redact import is_secret_key
from topics.models import CameraRecord, CameraStatus, DeviceEvent

CorruptionMode = Literal["malformed", "oversized", "normal"]


@dataclass
class SimulatedDevice:
    """What a simulator gives the kit: configs, the secrets behind them, and ways to provoke it."""

    #: config with good credentials
    config: ConnectorConfig
    #: same device, credentials the device refuses
    bad_credentials_config: ConnectorConfig
    #: environment variables the configs' credential references read (named in the camera
    #: secrets namespace, ``camera_secret_env``); their values are the secrets the kit searches
    #: every log line, error message and payload for
    secrets: dict[str, str] = field(default_factory=dict)
    #: how many cameras discover() must return (None: at least one)
    expected_cameras: int | None = None
    #: make the device emit at least one event every subscriber sees (None: it emits on its own)
    trigger_event: Callable[[], Awaitable[None]] | None = None
    #: switch the device to sending malformed or oversized answers and events (None: those
    #: checks fail unless declared not applicable)
    corrupt: Callable[[CorruptionMode], Awaitable[None]] | None = None


SimulatorFactory = Callable[[], AbstractAsyncContextManager[SimulatedDevice]]


class ConformanceFailure(AssertionError):
    """A conformance check failed; the message says what the connector author should change."""


#: how a declared opt-out reads in a skipped check's reason (the plugin's summary looks for it)
NOT_APPLICABLE = "not applicable, as declared:"
#: checks no connector can declare not applicable: its config and its handling of secrets
ALWAYS_APPLICABLE = frozenset(
    {
        "config_schema_is_declared_and_strict",
        "config_rejects_unknown_field",
        "config_serialisation_has_no_secret",
        "discovered_uris_carry_no_credentials",
        "no_secret_in_logs_errors_or_payloads",
    }
)
#: the second loopback address the same device is reached at (``relay``)
RELAY_HOST = "127.0.0.2"


def _fail(check: str, problem: str, fix: str) -> ConformanceFailure:
    return ConformanceFailure(f"[{check}] {problem}\n  How to fix: {fix}")


async def _bounded(awaitable: Awaitable[Any], seconds: float, check: str, what: str) -> Any:
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError:
        raise _fail(
            check,
            f"{what} did not finish within {seconds:g}s",
            "bound every device call with a timeout (use connectors.sdk.http.DeviceHttp or "
            "asyncio.timeout with config.timeout_s) and never wait on a device forever",
        ) from None


async def collect_events(
    connector: Connector[Any],
    *,
    want: Callable[[list[DeviceEvent | UnparsedEvent]], bool],
    timeout_s: float,
    trigger: Callable[[], Awaitable[None]] | None = None,
) -> tuple[list[DeviceEvent | UnparsedEvent], BaseException | None]:
    """Iterate ``connector.events()`` until ``want(items)`` or the timeout; return what came and
    the exception the stream raised (if any). The iterator is always closed afterwards."""
    items: list[DeviceEvent | UnparsedEvent] = []
    stream = connector.events()
    raised: BaseException | None = None

    async def consume() -> None:
        async for item in stream:
            items.append(item)
            if want(items):
                return

    task = asyncio.create_task(consume())
    try:
        if trigger is not None:
            # Let the subscription start before the device is made to emit.
            await asyncio.sleep(0.3)
            await trigger()
        await asyncio.wait({task}, timeout=timeout_s)
    finally:
        task.cancel()
        (outcome,) = await asyncio.gather(task, return_exceptions=True)
        if isinstance(outcome, Exception):
            raised = outcome
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(aclose(), 5)
    return items, raised


@asynccontextmanager
async def relay(target: str, *, host: str = RELAY_HOST) -> AsyncIterator[str]:
    """A TCP relay to ``target`` on another loopback address and port: the same device reached
    at a second address. Yields the relay's ``host:port``."""
    target_host, target_port = split_host_port(target)
    handlers: set[asyncio.Task[Any]] = set()

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()

    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            handlers.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                target_host, target_port
            )
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    try:
        server = await asyncio.start_server(connect, host, 0)
    except OSError:
        # A system with only 127.0.0.1 on loopback (macOS): another port is still another address.
        server = await asyncio.start_server(connect, "127.0.0.1", 0)
    try:
        bound_host, bound_port = server.sockets[0].getsockname()[:2]
        yield join_host_port(str(bound_host), int(bound_port))
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


def _json_of(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, default=str)


def find_secret(texts: Iterable[str], secrets: Iterable[str]) -> str | None:
    """The first text that contains any of ``secrets`` (empty secrets ignored), else None."""
    wanted = [secret for secret in secrets if secret]
    for text in texts:
        for secret in wanted:
            if secret in text:
                return text
    return None


def _secret_fields(schema: dict[str, Any], path: str = "") -> list[str]:
    found = []
    for name, prop in (schema.get("properties") or {}).items():
        if is_secret_key(name) or (isinstance(prop, dict) and prop.get("format") == "password"):
            found.append(path + name)
    return found


class ConformanceSuite:
    """Base of the generated classes; ``connector_cls`` and ``simulator`` are set by the factory."""

    connector_cls: type[Connector[Any]]
    simulator: SimulatorFactory
    event_timeout_s: float = 15.0
    call_timeout_s: float = 30.0
    close_timeout_s: float = 5.0
    #: check name -> why it does not apply to this connector (``make_conformance_suite``)
    not_applicable: Mapping[str, str] = {}

    # --- fixtures -------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _declared_not_applicable(self, request: pytest.FixtureRequest) -> None:
        # Autouse fixtures come first: a declared check starts no simulator.
        check = getattr(request.node, "originalname", request.node.name).removeprefix("test_")
        reason = self.not_applicable.get(check)
        if reason is not None:
            pytest.skip(f"{NOT_APPLICABLE} {reason}")

    @pytest_asyncio.fixture
    async def device(self, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimulatedDevice]:
        async with type(self).simulator() as simulated:
            namespace = CameraSecrets.configured()
            for name, value in simulated.secrets.items():
                if not name.startswith(namespace.env_prefix):
                    raise _fail(
                        "secrets",
                        f"the simulator's secret variable {name} is outside the camera secrets "
                        "namespace, so no credential reference may read it",
                        f"name it with connectors.sdk.secrets.camera_secret_env (`{name}` -> "
                        f"`{namespace.env_prefix}{name}`) in the secrets and the configs",
                    )
                monkeypatch.setenv(name, value)
            yield simulated

    @pytest_asyncio.fixture
    async def connector(self, device: SimulatedDevice) -> AsyncIterator[Connector[Any]]:
        instance = self.connector_cls(device.config)
        try:
            yield instance
        finally:
            await asyncio.wait_for(instance.close(), self.close_timeout_s)

    def _new(self, config: ConnectorConfig) -> Connector[Any]:
        return self.connector_cls(config)

    # --- config ---------------------------------------------------------------------------

    async def test_config_schema_is_declared_and_strict(self) -> None:
        model = self.connector_cls.config_model
        if not (isinstance(model, type) and issubclass(model, ConnectorConfig)):
            raise _fail(
                "config",
                f"{self.connector_cls.__name__}.config_model is {model!r}",
                "set `config_model = MyConfig`, a subclass of connectors.sdk.ConnectorConfig",
            )
        schema = model.model_json_schema()
        if schema.get("additionalProperties") is not False:
            raise _fail(
                "config",
                "the config model accepts unknown fields",
                "keep `extra='forbid'` (inherit ConnectorConfig's model_config)",
            )
        secret_fields = _secret_fields(schema)
        if secret_fields:
            raise _fail(
                "config",
                f"the config has plaintext secret fields: {secret_fields}",
                "store where the secret is (`credential_ref`, e.g. "
                "`admin@env:TILIK_CAMERA_SECRET_LOBBY`), never "
                "the password itself",
            )
        name = getattr(self.connector_cls, "name", None)
        if not isinstance(name, str) or not name.isidentifier():
            raise _fail(
                "config",
                f"connector name {name!r} is not a short identifier",
                "set `name = 'myvendor'` on the class (the entry-point name)",
            )

    async def test_config_rejects_unknown_field(self, device: SimulatedDevice) -> None:
        raw = device.config.model_dump(mode="json")
        raw["surely_not_a_config_field"] = 1
        try:
            self.connector_cls.config_model.model_validate(raw)
        except ValidationError:
            return
        raise _fail(
            "config",
            "a config with an unknown field was accepted",
            "do not set extra='allow'/'ignore' on the config model: a typo must be an error",
        )

    async def test_config_serialisation_has_no_secret(self, device: SimulatedDevice) -> None:
        dumped = device.config.model_dump_json()
        if find_secret([dumped, repr(device.config)], device.secrets.values()):
            raise _fail(
                "config",
                "the serialised config contains a password",
                "configs carry a credential_ref; resolve the secret only when connecting",
            )

    # --- check ----------------------------------------------------------------------------

    async def test_check_with_good_credentials(self, connector: Connector[Any]) -> None:
        result = await _bounded(connector.check(), self.call_timeout_s, "check", "check()")
        if not isinstance(result, CheckResult) or not result.ok:
            raise _fail(
                "check",
                f"check() with good credentials returned {result!r}",
                "return CheckResult(ok=True, latency_ms=...) when the device answers and accepts "
                "the credentials; raise a ConnectorError otherwise",
            )

    async def test_check_with_bad_credentials_raises_authentication_error(
        self, device: SimulatedDevice
    ) -> None:
        connector = self._new(device.bad_credentials_config)
        try:
            await _bounded(
                connector.check(), self.call_timeout_s, "check", "check() with bad creds"
            )
        except AuthenticationError:
            return
        except ConnectorError as exc:
            raise _fail(
                "check",
                f"check() with bad credentials raised {type(exc).__name__}: {exc}",
                "translate HTTP 401/403 or the protocol's auth fault to AuthenticationError",
            ) from exc
        finally:
            await asyncio.wait_for(connector.close(), self.close_timeout_s)
        raise _fail(
            "check",
            "check() with bad credentials did not raise",
            "check() must make an authenticated request and raise AuthenticationError when refused",
        )

    # --- discover -------------------------------------------------------------------------

    async def _discover(self, connector: Connector[Any]) -> list[CameraRecord]:
        records = await _bounded(
            connector.discover(), self.call_timeout_s, "discover", "discover()"
        )
        if not isinstance(records, list) or not all(isinstance(r, CameraRecord) for r in records):
            raise _fail(
                "discover",
                f"discover() returned {type(records).__name__}, not a list of CameraRecord",
                "return list[topics.models.CameraRecord]",
            )
        return records

    async def test_discover_returns_valid_records(
        self, connector: Connector[Any], device: SimulatedDevice
    ) -> None:
        records = await self._discover(connector)
        expected = device.expected_cameras
        if (expected is None and not records) or (
            expected is not None and len(records) != expected
        ):
            raise _fail(
                "discover",
                f"discover() found {len(records)} cameras, the simulator has {expected or '>= 1'}",
                "return one CameraRecord per camera (one per NVR channel)",
            )
        for record in records:
            try:
                CameraRecord.model_validate_json(record.model_dump_json())
            except ValidationError as exc:
                raise _fail(
                    "discover",
                    f"record {record.camera_id} does not survive a JSON round trip: {exc}",
                    "build records with validated values (pydantic validates on construction "
                    "unless model_construct is used: do not use it)",
                ) from exc
            if record.connector != self.connector_cls.name:
                raise _fail(
                    "discover",
                    f"record {record.camera_id} names connector {record.connector!r}",
                    f"set CameraRecord.connector = {self.connector_cls.name!r} (the class name attribute)",
                )
        ids = [r.camera_id for r in records]
        if len(set(ids)) != len(ids):
            raise _fail(
                "discover",
                f"duplicate camera ids: {ids}",
                "derive each camera id with topics.identity.camera_id(..., channel=n)",
            )

    async def test_discover_ids_are_stable(self, device: SimulatedDevice) -> None:
        first, second = self._new(device.config), self._new(device.config)
        try:
            ids_a = sorted(r.camera_id for r in await self._discover(first))
            ids_b = sorted(r.camera_id for r in await self._discover(second))
        finally:
            await asyncio.gather(first.close(), second.close())
        if ids_a != ids_b:
            raise _fail(
                "discover",
                f"two discoveries of the same device gave different ids: {ids_a} vs {ids_b}",
                "derive ids from what the device says about itself (serial, MAC, endpoint "
                "reference) with topics.identity.camera_id, never from time, order or address",
            )

    async def test_camera_ids_do_not_depend_on_the_address(self, device: SimulatedDevice) -> None:
        address = getattr(device.config, "address", None)
        if not isinstance(address, str):
            raise _fail(
                "discover",
                "the simulated device's config has no `address`",
                "keep ConnectorConfig's `address` (host:port of the device)",
            )
        async with relay(address) as second:
            # The same device, reached at another address and port (as after a DHCP renewal
            # or behind a different NAT mapping).
            here = self._new(device.config)
            there = self._new(device.config.model_copy(update={"address": second}))
            try:
                ids_here = sorted(r.camera_id for r in await self._discover(here))
                ids_there = sorted(r.camera_id for r in await self._discover(there))
            finally:
                await asyncio.gather(here.close(), there.close())
        if ids_here != ids_there:
            raise _fail(
                "discover",
                f"the same device reached at {address} and at {second} gave different camera "
                f"ids: {ids_here} vs {ids_there}",
                "derive ids from what the device says about itself (serial, MAC, endpoint "
                "reference) with topics.identity.camera_id, never from the address or port it "
                "was reached at",
            )

    async def test_discovered_uris_carry_no_credentials(
        self, connector: Connector[Any], device: SimulatedDevice
    ) -> None:
        for record in await self._discover(connector):
            if find_secret([record.model_dump_json()], device.secrets.values()):
                raise _fail(
                    "discover",
                    f"record {record.camera_id} contains the device password",
                    "stream and snapshot URIs must not embed user:password; set credential_ref",
                )

    # --- health ---------------------------------------------------------------------------

    async def test_health_reports_every_camera(self, connector: Connector[Any]) -> None:
        ids = {r.camera_id for r in await self._discover(connector)}
        statuses = await _bounded(connector.health(), self.call_timeout_s, "health", "health()")
        if not isinstance(statuses, list) or not all(isinstance(s, CameraStatus) for s in statuses):
            raise _fail(
                "health",
                "health() did not return a list of CameraStatus",
                "return list[topics.models.CameraStatus], one per camera",
            )
        reported = {s.camera_id for s in statuses}
        if reported != ids:
            raise _fail(
                "health",
                f"health() covered {sorted(reported)}, discover() found {sorted(ids)}",
                "report exactly one CameraStatus per discovered camera (offline when unreachable)",
            )

    # --- events ---------------------------------------------------------------------------

    async def test_events_are_normalised(
        self, connector: Connector[Any], device: SimulatedDevice
    ) -> None:
        ids = {r.camera_id for r in await self._discover(connector)}
        items, raised = await collect_events(
            connector,
            want=lambda got: any(isinstance(i, DeviceEvent) for i in got),
            timeout_s=self.event_timeout_s,
            trigger=device.trigger_event,
        )
        events = [i for i in items if isinstance(i, DeviceEvent)]
        if not events:
            raise _fail(
                "events",
                f"no DeviceEvent within {self.event_timeout_s:g}s "
                f"(got {len(items)} other items; stream raised {raised!r})",
                "events() must yield topics.models.DeviceEvent for the device's events; give the "
                "simulator a trigger_event that makes the device emit one",
            )
        for event in events:
            DeviceEvent.model_validate_json(event.model_dump_json())
            if event.camera_id not in ids:
                raise _fail(
                    "events",
                    f"event {event.event_id} names camera {event.camera_id}, not one discover() found",
                    "derive the event's camera_id exactly as discover() derives it",
                )
            if event.source.connector != self.connector_cls.name:
                raise _fail(
                    "events",
                    f"event source connector is {event.source.connector!r}",
                    f"set EventSource.connector = {self.connector_cls.name!r}",
                )

    async def test_event_ids_are_stable_across_subscriptions(self, device: SimulatedDevice) -> None:
        first, second = self._new(device.config), self._new(device.config)
        try:

            def want(got: list[DeviceEvent | UnparsedEvent]) -> bool:
                return any(isinstance(i, DeviceEvent) for i in got)

            (items_a, _), (items_b, _) = await asyncio.gather(
                collect_events(
                    first, want=want, timeout_s=self.event_timeout_s, trigger=device.trigger_event
                ),
                collect_events(second, want=want, timeout_s=self.event_timeout_s),
            )
        finally:
            await asyncio.gather(first.close(), second.close())

        def by_occurrence(
            items: list[DeviceEvent | UnparsedEvent],
        ) -> dict[tuple[str, str, str], str]:
            return {
                (i.camera_id, i.source.vendor_topic, i.device_time.isoformat()): i.event_id
                for i in items
                if isinstance(i, DeviceEvent)
            }

        seen_a, seen_b = by_occurrence(items_a), by_occurrence(items_b)
        common = seen_a.keys() & seen_b.keys()
        if not common:
            raise _fail(
                "events",
                f"two subscriptions at once saw no common event within {self.event_timeout_s:g}s "
                f"({len(seen_a)} and {len(seen_b)} events), so their ids cannot be compared",
                "deliver a device event to every subscription (give the simulator a "
                "trigger_event every subscriber sees), or declare the check not applicable "
                "when the device allows a single subscription: make_conformance_suite(..., "
                "not_applicable={'event_ids_are_stable_across_subscriptions': 'why'})",
            )
        for occurrence in common:
            if seen_a[occurrence] != seen_b[occurrence]:
                raise _fail(
                    "events",
                    f"the same device event got ids {seen_a[occurrence]} and {seen_b[occurrence]}",
                    "derive event_id with topics.identity.event_id(camera_id, vendor_topic, "
                    "device_time, discriminator) from the event's own fields, not receive time",
                )

    # --- hostile input --------------------------------------------------------------------

    async def _survives(self, device: SimulatedDevice, mode: CorruptionMode) -> None:
        check = f"{mode} input"
        if device.corrupt is None:
            raise _fail(
                check,
                f"the simulator has no `corrupt` hook, so the connector was never shown {mode} "
                "input",
                "give SimulatedDevice a corrupt(mode) that makes the device send malformed and "
                "oversized answers and events, or declare the check not applicable: "
                f"make_conformance_suite(..., not_applicable={{'{mode}_input_is_bounded': 'why'}})",
            )
        connector = self._new(device.config)
        try:
            await device.corrupt(mode)
            for name, call in (("discover()", connector.discover), ("health()", connector.health)):
                try:
                    await _bounded(call(), self.call_timeout_s, check, name)
                except DeviceDataError:
                    pass
                except ConformanceFailure:
                    raise
                except Exception as exc:
                    raise _fail(
                        check,
                        f"{name} raised {type(exc).__name__}: {exc}",
                        "catch parse errors and size-limit hits at the connector boundary and "
                        "raise DeviceDataError(...) from exc",
                    ) from exc
            items, raised = await collect_events(
                connector,
                want=lambda got: bool(got),
                timeout_s=min(self.event_timeout_s, 5.0),
                trigger=device.trigger_event,
            )
            if raised is not None and not isinstance(raised, ConnectorError):
                raise _fail(
                    check,
                    f"events() raised {type(raised).__name__}: {raised}",
                    "yield UnparsedEvent for input no parser understands, raise DeviceDataError "
                    "for unusable input; never let a parser exception escape",
                )
            for item in items:
                if not isinstance(item, DeviceEvent | UnparsedEvent):
                    raise _fail(
                        check, f"events() yielded {item!r}", "yield DeviceEvent or UnparsedEvent"
                    )
        finally:
            await device.corrupt("normal")
            await _bounded(connector.close(), self.close_timeout_s, "shutdown", "close()")

    async def test_malformed_input_is_bounded(self, device: SimulatedDevice) -> None:
        await self._survives(device, "malformed")

    async def test_oversized_input_is_bounded(self, device: SimulatedDevice) -> None:
        await self._survives(device, "oversized")

    # --- secrets --------------------------------------------------------------------------

    async def test_no_secret_in_logs_errors_or_payloads(
        self, device: SimulatedDevice, caplog: pytest.LogCaptureFixture
    ) -> None:
        texts: list[str] = []
        caplog.set_level(logging.DEBUG)
        good, bad = self._new(device.config), self._new(device.bad_credentials_config)
        with capture_logs() as structured:
            try:
                await _bounded(good.check(), self.call_timeout_s, "secrets", "check()")
                texts += [_json_of(r) for r in await self._discover(good)]
                texts += [_json_of(s) for s in await good.health()]
                items, raised = await collect_events(
                    good,
                    want=lambda got: any(isinstance(i, DeviceEvent) for i in got),
                    timeout_s=self.event_timeout_s,
                    trigger=device.trigger_event,
                )
                texts += [_json_of(i) if isinstance(i, BaseModel) else repr(i) for i in items]
                texts.append(repr(raised))
                try:
                    await _bounded(bad.check(), self.call_timeout_s, "secrets", "check()")
                except ConnectorError as exc:
                    texts += [str(exc), repr(exc), repr(exc.__cause__)]
                texts.append(json.dumps(good.state, default=str))
            finally:
                await asyncio.gather(good.close(), bad.close())
        texts += [json.dumps(entry, default=str) for entry in structured]
        texts += [record.getMessage() for record in caplog.records]
        leak = find_secret(texts, device.secrets.values())
        if leak is not None:
            raise _fail(
                "secrets",
                f"a password appeared in a log line, error, state or payload: {leak[:200]!r}",
                "never log or publish Credentials.password; build URLs without user info and "
                "errors from the method and path only",
            )

    # --- shutdown -------------------------------------------------------------------------

    async def test_close_stops_events_and_leaves_no_tasks(self, device: SimulatedDevice) -> None:
        before = asyncio.all_tasks()
        connector = self._new(device.config)
        stream = connector.events()

        async def drain() -> None:
            async for _ in stream:
                pass

        consumer = asyncio.create_task(drain())
        await asyncio.sleep(0.5)
        await _bounded(connector.close(), self.close_timeout_s, "shutdown", "close()")
        try:
            await asyncio.wait_for(consumer, self.close_timeout_s)
        except TimeoutError:
            raise _fail(
                "shutdown",
                f"events() kept running {self.close_timeout_s:g}s after close()",
                "make events() end (return) once close() is called, e.g. check a closed flag "
                "or an asyncio.Event between reads and cancel pending reads in close()",
            ) from None
        except ConnectorError:
            pass
        await asyncio.sleep(0.1)
        leftover = [
            t
            for t in asyncio.all_tasks() - before
            if t is not asyncio.current_task() and not t.done() and not _is_simulator_task(t)
        ]
        if leftover:
            raise _fail(
                "shutdown",
                f"tasks still pending after close(): {[t.get_coro() for t in leftover]}",
                "cancel and await every task the connector started (renewal loops, readers) in close()",
            )


def _is_simulator_task(task: asyncio.Task[Any]) -> bool:
    """Tasks of the simulator's aiohttp server (connection handlers), not the connector's.

    A task wrapping one of asyncio's own coroutines comes from ``asyncio.wait_for`` inside a
    request handler on Python 3.11; connectors start tasks of their own coroutines."""
    code = getattr(task.get_coro(), "cr_code", None)
    filename = getattr(code, "co_filename", "")
    return any(part in filename for part in ("aiohttp/web_", "aiohttp/base_protocol", "/asyncio/"))


def checks() -> list[str]:
    """Every check's name (its test without ``test_``), as ``not_applicable`` names them."""
    return sorted(
        name.removeprefix("test_") for name in dir(ConformanceSuite) if name.startswith("test_")
    )


def _declarations(not_applicable: Mapping[str, str] | None) -> dict[str, str]:
    declared = dict(not_applicable or {})
    known = checks()
    for check, reason in declared.items():
        if check not in known:
            raise ValueError(
                f"not_applicable names {check!r}, which is no conformance check; checks: "
                + ", ".join(known)
            )
        if check in ALWAYS_APPLICABLE:
            raise ValueError(f"{check!r} applies to every connector and cannot be declared away")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"not_applicable[{check!r}] needs the reason the check does not apply")
    return declared


def make_conformance_suite(
    connector_cls: type[Connector[Any]],
    *,
    simulator: SimulatorFactory,
    event_timeout_s: float = 15.0,
    call_timeout_s: float = 30.0,
    close_timeout_s: float = 5.0,
    not_applicable: Mapping[str, str] | None = None,
) -> type[ConformanceSuite]:
    """A test class running every conformance check against ``connector_cls`` and a simulated
    device; assign it to a ``Test…`` name in a test module. ``simulator`` is a zero-argument
    async context manager factory yielding a ``SimulatedDevice``. ``not_applicable`` maps a
    check that cannot apply to this connector to the reason why; the run reports each one."""
    attributes = {
        "connector_cls": connector_cls,
        "simulator": staticmethod(simulator),
        "event_timeout_s": event_timeout_s,
        "call_timeout_s": call_timeout_s,
        "close_timeout_s": close_timeout_s,
        "not_applicable": _declarations(not_applicable),
        "__test__": True,
        "pytestmark": [pytest.mark.conformance, pytest.mark.asyncio],
    }
    return type(f"Test{connector_cls.__name__}Conformance", (ConformanceSuite,), attributes)
