"""What onboarding registers for a camera: the device's word refreshed, people's decisions kept,
the whole connector config carried (and rebuilt by the runtime), every change audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from connectors.private_vendors.hikvision.connector import HikvisionConnector
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.example.connector import ExampleConfig, ExampleConnector
from connectors.sdk.placement import CameraPlacement
from connectors.sdk.registration import (
    Registration,
    connector_config_of,
    register,
)
from topics.examples import camera_record
from topics.models import (
    AdminArea,
    CameraRecord,
    Location,
    Owner,
    OwnerKind,
    SharingLevel,
    SiteType,
    utcnow,
)

OPERATOR_LOCATION = Location(area=AdminArea(kecamatan="Gayamsari"), address="Pasar Gayamsari")


def _sighting(seed: int, channel: int, *, later: bool = False) -> CameraRecord:
    """What the device reports now: default placement, a fresh time, maybe a new address."""
    now = utcnow() + (timedelta(hours=1) if later else timedelta())
    return camera_record(f"{seed}-{channel}").model_copy(
        update={
            "channel": channel,
            "name": f"ch{channel}",
            "owner": Owner(kind=OwnerKind.MUNICIPAL, id="city"),
            "location": Location(),
            "site_type": SiteType.OTHER,
            "sharing": SharingLevel.REGISTRY_ONLY,
            "address": "10.1.2.3:8443" if later else "10.1.2.3:80",
            "discovered_at": now,
            "updated_at": now,
            "connector_config": {},
        }
    )


def _config(**fields: object) -> ExampleConfig:
    return ExampleConfig.model_validate(
        {"address": "10.1.2.3:80", "credential_ref": "admin@env:TILIK_CAMERA_SECRET_X", **fields}
    )


def test_a_known_camera_keeps_its_first_sighting_and_peoples_decisions() -> None:
    config = _config(sharing="public", location={"area": {"kecamatan": "Tugu"}})
    first = register(_sighting(1, 0), None, config=config, connector_config={})
    # Its owner shares it live, an operator names and places it.
    known = first.model_copy(
        update={"sharing": SharingLevel.LIVE, "name": "Gerbang", "location": OPERATOR_LOCATION}
    )
    again = register(_sighting(1, 0, later=True), known, config=config, connector_config={})
    assert again.discovered_at == known.discovered_at < again.updated_at
    assert (again.sharing, again.name, again.location) == (
        SharingLevel.LIVE,
        "Gerbang",
        OPERATOR_LOCATION,
    )
    assert again.address == "10.1.2.3:8443"  # what the device says is refreshed


def test_an_entry_naming_a_camera_decides_for_it_and_a_specific_entry_wins() -> None:
    config = _config(
        cameras=[
            {"sharing": "alarm_live", "site_type": "market"},  # every camera of the device
            {"channel": 1, "sharing": "public", "name": "Pintu timur"},
        ]
    )
    known = {
        channel: _sighting(2, channel).model_copy(update={"sharing": SharingLevel.LIVE})
        for channel in (0, 1)
    }
    records = {
        channel: register(
            _sighting(2, channel, later=True), known[channel], config=config, connector_config={}
        )
        for channel in (0, 1)
    }
    assert records[0].sharing is SharingLevel.ALARM_LIVE
    assert records[1].sharing is SharingLevel.PUBLIC and records[1].name == "Pintu timur"
    assert {r.site_type for r in records.values()} == {SiteType.MARKET}
    assert records[0].name == known[0].name  # not decided by any entry: kept


def test_an_entry_names_a_camera_by_channel_or_by_id_never_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        CameraPlacement(channel=1, camera_id="cam-" + "0" * 20, sharing=SharingLevel.LIVE)


def test_the_record_carries_the_whole_config_and_the_runtime_rebuilds_it() -> None:
    config = _config(scheme="https", timeout_s=4, heartbeat_s=7, sharing="live")
    values = connector_config_of(config)
    # What the record holds itself (address, reference, placement) and defaults are left out.
    assert values == {"scheme": "https", "timeout_s": 4.0, "heartbeat_s": 7}
    record = register(_sighting(3, 0), None, config=config, connector_config=values)
    rebuilt = ExampleConnector.config_from_record(record)
    assert isinstance(rebuilt, ExampleConfig)
    assert (rebuilt.base_url, rebuilt.timeout_s, rebuilt.heartbeat_s) == (
        "https://10.1.2.3:80",
        4.0,
        7,
    )
    assert rebuilt.credential_ref == config.credential_ref


def test_a_recorders_custom_ports_and_timeouts_survive_into_the_watch_config() -> None:
    config = HikvisionConnector.config_model.model_validate(
        {
            "address": "10.1.2.4:8443",
            "scheme": "https",
            "rtsp_port": 10554,
            "stream_idle_timeout_s": 90,
            "credential_ref": "admin@env:TILIK_CAMERA_SECRET_NVR",
        }
    )
    record = register(
        _sighting(4, 1).model_copy(update={"address": "10.1.2.4:8443"}),
        None,
        config=config,
        connector_config=connector_config_of(config),
    )
    rebuilt = HikvisionConnector.config_from_record(record)
    assert rebuilt.model_dump() == config.model_dump()


def test_a_config_field_holding_a_secret_is_refused_naming_only_the_field() -> None:
    class LeakyConfig(ExampleConfig):
        api_key: SecretStr

    leaky = LeakyConfig(address="10.1.2.3:80", api_key=SecretStr("plaintext-key-9"))
    with pytest.raises(ConfigurationError, match="api_key") as refused:
        connector_config_of(leaky)
    assert "plaintext-key-9" not in str(refused.value)


def test_only_a_change_is_audited_and_the_audit_says_what_changed() -> None:
    config = _config()
    first = register(_sighting(5, 0), None, config=config, connector_config={})
    registered = Registration(first, None).audit("operator-ani")
    assert registered is not None and registered.action == "camera_registered"
    assert (registered.subject, registered.details["device_id"]) == (
        first.camera_id,
        first.device_id,
    )

    same = register(
        _sighting(5, 0).model_copy(update={"updated_at": utcnow() + timedelta(minutes=5)}),
        first,
        config=config,
        connector_config={},
    )
    assert Registration(same, first).audit("operator-ani") is None

    shared = register(
        _sighting(5, 0),
        first,
        config=_config(cameras=[{"channel": 0, "sharing": "public"}]),
        connector_config={},
    )
    updated = Registration(shared, first).audit("owner:toko")
    assert updated is not None and updated.action == "camera_updated"
    assert updated.details["fields"] == "sharing"
    assert (updated.details["sharing_was"], updated.details["sharing"]) == (
        "registry_only",
        "public",
    )
