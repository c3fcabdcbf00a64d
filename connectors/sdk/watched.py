"""What the watching runtime keeps of each registry record: a slim, frozen ``WatchedCamera`` built
once per record version, and ``DeviceTarget``, the cameras watched through one connection.

A ``CameraRecord`` as a pydantic model is about 9.5 KB in memory (its streams, capabilities,
placement and ``connector_config``); watching reads a handful of its fields. So the runtime
builds a ``WatchedCamera`` when a record version arrives and lets the record go: the ids, the
record version, what dead letters and audits name (vendor, model, address, credential
reference), the channel references, and the connector config the record makes, with its
connection key (a digest of the config) computed there, once, instead of on every reconcile.
The config is the object the device's connector is given, so a watched single-camera device
holds it once. It is the record's config without its placement (location, site type, sharing,
per-camera decisions): those fields only place cameras onboarding finds, watching never reads
them, and they are most of a config's size; left at their defaults (one shared object each), a
camera whose location or sharing changes in the registry also keeps its running watch. The
owner stays: whose device it is decides which credentials open for it (a sealed one opens only
for its tenant) and which probe policy its address is checked against; configs of one owner
share one ``Owner`` object.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connectors.sdk.channels import ChannelCamera, ChannelMap, record_refs
from topics.models import CameraRecord, Owner

if TYPE_CHECKING:
    from connectors.sdk.base import Connector, ConnectorConfig


#: the fields of every ``ConnectorConfig`` that place the cameras onboarding finds
PLACEMENT_FIELDS = ("location", "site_type", "sharing", "cameras")
#: one ``Owner`` object per distinct owner, shared by the configs of its devices
_OWNERS: dict[str, Owner] = {}


@functools.cache
def _placement_defaults(config_model: type[ConnectorConfig]) -> dict[str, Any]:
    """The placement fields' defaults, made once per config model and shared by its configs."""
    fields = config_model.model_fields
    return {
        name: fields[name].get_default(call_default_factory=True)
        for name in PLACEMENT_FIELDS
        if name in fields
    }


def shared_owner(owner: Owner) -> Owner:
    """The one ``Owner`` object equal to ``owner`` (owners are few; their devices are many)."""
    return _OWNERS.setdefault(owner.model_dump_json(), owner)


def watch_config(config: ConnectorConfig) -> ConnectorConfig:
    """The config a device is watched with: ``config`` without its placement, its owner shared
    (see the module docstring)."""
    return config.model_copy(
        update={**_placement_defaults(type(config)), "owner": shared_owner(config.owner)}
    )


def connection_key(config: ConnectorConfig) -> bytes:
    """What must stay equal for a running connection to keep serving a device: its whole config,
    as a 128-bit digest (equal configs, equal keys)."""
    return hashlib.blake2b(config.model_dump_json().encode(), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class WatchedCamera:
    """One registry record version, as much of it as watching needs (see the module docstring)."""

    camera_id: str
    device_id: str
    partition: int
    #: the record version (its ``updated_at``): watch reports are said once per version
    updated_at: datetime
    channel: int | None
    channel_refs: tuple[str, ...]
    address: str
    credential_ref: str | None
    vendor: str | None
    model: str | None
    #: the config the record makes, or None with ``problem`` saying why it makes none
    config: ConnectorConfig | None
    key: bytes | None
    problem: ValueError | None

    @classmethod
    def of(
        cls, record: CameraRecord, connector_cls: type[Connector[Any]], *, partition: int = 0
    ) -> WatchedCamera:
        config: ConnectorConfig | None = None
        problem: ValueError | None = None
        try:
            config = watch_config(connector_cls.config_from_record(record))
        except ValueError as exc:
            # Kept without its traceback: the frames must not stay alive with the camera.
            problem = exc.with_traceback(None)
        return cls(
            camera_id=record.camera_id,
            device_id=record.device_id,
            partition=partition,
            updated_at=record.updated_at,
            channel=record.channel,
            channel_refs=tuple(record_refs(record)),
            address=record.address,
            credential_ref=record.credential_ref,
            vendor=record.vendor,
            model=record.model,
            config=config,
            key=None if config is None else connection_key(config),
            problem=problem,
        )

    @property
    def owner(self) -> Owner | None:
        """Whose device it is (None when the record makes no config)."""
        return None if self.config is None else self.config.owner

    def make_config(self) -> ConnectorConfig:
        """The config to watch the device with; the ``ValueError`` when the record makes none."""
        if self.config is None:
            assert self.problem is not None
            raise self.problem
        return self.config


@dataclass(frozen=True, slots=True)
class DeviceTarget:
    """The cameras a runtime watches through one connection: one device, its cameras.

    An NVR's channels share a ``device_id``; they become one target (one connector instance)
    whose events and statuses are published only for ``camera_ids``.
    """

    device_id: str
    #: sorted by camera id
    records: tuple[WatchedCamera, ...]

    @property
    def camera_ids(self) -> frozenset[str]:
        return frozenset(r.camera_id for r in self.records)

    @property
    def representative(self) -> WatchedCamera:
        """The record the connection config is built from (the lowest camera id: deterministic)."""
        return self.records[0]

    @property
    def connection_key(self) -> bytes | None:
        """The representative's connection key (None: its record makes no config)."""
        return self.representative.key

    def channel_map(self) -> ChannelMap:
        """The channel references of the target's cameras (``connectors.sdk.channels``)."""
        found = ChannelMap()
        for record in self.records:
            found.add(ChannelCamera(record.camera_id, record.channel), record.channel_refs)
        return found

    def with_camera(self, camera: WatchedCamera) -> DeviceTarget:
        """This target with ``camera`` added, or its older version replaced."""
        kept = [r for r in self.records if r.camera_id != camera.camera_id]
        return DeviceTarget(self.device_id, _sorted([*kept, camera]))

    def without(self, camera_id: str) -> DeviceTarget | None:
        """This target without that camera; None when none is left."""
        kept = tuple(r for r in self.records if r.camera_id != camera_id)
        return DeviceTarget(self.device_id, kept) if kept else None


def _sorted(records: Iterable[WatchedCamera]) -> tuple[WatchedCamera, ...]:
    return tuple(sorted(records, key=lambda r: r.camera_id))
