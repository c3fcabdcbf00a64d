"""Who decides what about a camera, as a connector config says it: ``CameraPlacement`` entries
(one camera by ``channel`` or ``camera_id``, or every camera of the device), and what a config
is built back from a registry record. Registration (``connectors.sdk.registration``) applies them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from connectors.sdk.channels import CHANNEL_REFS
from topics.models import (
    CameraId,
    CameraRecord,
    Channel,
    Location,
    Owner,
    SharingLevel,
    ShortText,
    SiteType,
)

#: the record fields that are people's decisions, not the device's word
DECIDED = ("owner", "name", "location", "site_type", "sharing")

#: record fields a config never takes from the record (the record's own bookkeeping)
_NOT_CONFIG = frozenset({"connector_config", "discovered_at", "updated_at"})


class CameraPlacement(BaseModel):
    """A decision about cameras of one device, applied by the onboarding that carries it.

    ``channel`` or ``camera_id`` names one camera; an entry with neither names every camera of
    the device. Only the fields given are decided; a camera named by a catch-all entry and a
    specific one gets both, the specific one winning.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Channel | None = None
    camera_id: CameraId | None = None
    name: ShortText | None = None
    owner: Owner | None = None
    location: Location | None = None
    site_type: SiteType | None = None
    sharing: SharingLevel | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> CameraPlacement:
        if self.channel is not None and self.camera_id is not None:
            raise ValueError("name a camera by channel or by camera_id, not both")
        return self

    @property
    def catch_all(self) -> bool:
        return self.channel is None and self.camera_id is None

    def names(self, record: CameraRecord) -> bool:
        if self.catch_all:
            return True
        if self.camera_id is not None:
            return self.camera_id == record.camera_id
        return self.channel == record.channel

    def decisions(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DECIDED if getattr(self, name) is not None}


def decided_for(record: CameraRecord, entries: Iterable[CameraPlacement]) -> dict[str, Any]:
    """The decisions the entries make for this camera (specific entries over catch-all ones)."""
    named = [entry for entry in entries if entry.names(record)]
    decided: dict[str, Any] = {}
    for entry in sorted(named, key=lambda e: not e.catch_all):
        decided.update(entry.decisions())
    return decided


def config_values_from_record(
    config_model: type[BaseModel], record: CameraRecord
) -> dict[str, Any]:
    """What a config is built from: the record's ``connector_config``, with the record's own
    fields (address, credential reference, placement, ids, name) over it."""
    own = {
        name: getattr(record, name)
        for name in config_model.model_fields
        if name in CameraRecord.model_fields and name not in _NOT_CONFIG
    }
    # Channel references are discovery's word about the device (``connectors.sdk.channels``),
    # no config field.
    given = {k: v for k, v in record.connector_config.items() if k != CHANNEL_REFS}
    return {**given, **own}
