"""What onboarding registers for a camera: the device's word, the registry's memory, people's decisions.

Every onboarding (``connectors.sdk.onboard``, and so ``tilik connectors onboard`` and ``tilik
discover onvif``) builds the record it publishes here, from the record the device's connector
made, the record the registry already holds for that camera id, and the config it onboarded with:

    field                              a camera the registry        a camera the registry knows
                                       does not know yet
    what the device says (address,
    vendor, model, firmware, serial,
    MAC, channel, streams,
    capabilities)                      the device's                 the device's (refreshed)
    credential_ref                     the config's                 the config's, else the known one
    connector_config                   the config's, and the        the config's (it just worked),
                                       device's channel references  and the channel references
    owner, name, location,             a ``cameras`` entry naming   a ``cameras`` entry naming the
    site_type, sharing                 the camera, else the         camera, else the known value
    (people's decisions)               config's device-wide value
                                       (name: else the device's)
    discovered_at                      now                          the first sighting's

So a scan or a second onboarding never undoes an owner's sharing choice or an operator's name or
location: only an entry that names the camera does (``CameraPlacement``; by ``channel`` or
``camera_id``, or neither for every camera of the device), and the audit topic says who did it.
And when the watching runtime cannot use a new credential reference or connector config, the
camera gets the ones it had back (``restore_connection``): a failed attempt never breaks a
working registration.

``connector_config`` is the config's own fields (``connector_config_of``): whatever the record
does not already hold (scheme, timeouts, ports, ...), defaults left out, and never a secret. The
watching runtime rebuilds the config from it and the record (``config_from_record``), so a device
onboarded over HTTPS with custom timeouts is watched over HTTPS with those timeouts. Beside those
fields it keeps the channel references the device's connector wrote at discovery
(``connectors.sdk.channels``), which select the camera an event of that channel belongs to.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import (
    SecretBytes,
    SecretStr,
    TypeAdapter,
    ValidationError,
)

from connectors.sdk.channels import discovered_refs
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.placement import DECIDED, decided_for
from connectors.sdk.records import model_problems
from topics.models import (
    AuditRecord,
    CameraRecord,
    CameraRemoval,
    ConnectorConfigValues,
    utcnow,
)

if TYPE_CHECKING:
    from connectors.sdk.base import ConnectorConfig

_CONFIG_VALUES: TypeAdapter[dict[str, Any]] = TypeAdapter(ConnectorConfigValues)


def connector_config_of(config: ConnectorConfig) -> dict[str, Any]:
    """The config fields a registry record carries for the runtime (ConfigurationError if it
    cannot: a secret or a nested value among them). Names only, never values, in the error."""
    fields = type(config).model_fields
    held = {name for name in fields if name in CameraRecord.model_fields} | {"cameras"}
    secrets = sorted(
        name for name in fields if isinstance(getattr(config, name), SecretStr | SecretBytes)
    )
    if secrets:
        raise ConfigurationError(
            f"config fields {', '.join(secrets)} hold secrets, which a registry record never "
            "carries: give a credential reference instead",
            device=config.address,
        )
    values = config.model_dump(mode="json", exclude=held, exclude_defaults=True)
    try:
        return _CONFIG_VALUES.validate_python(values)
    except ValidationError as exc:
        raise ConfigurationError(
            f"config values a registry record cannot carry: {model_problems(exc)}",
            device=config.address,
        ) from None


def register(
    fresh: CameraRecord,
    known: CameraRecord | None,
    *,
    config: ConnectorConfig,
    connector_config: Mapping[str, Any],
) -> CameraRecord:
    """The record to publish for a camera the device reported as ``fresh`` (module docstring)."""
    decided = decided_for(fresh, config.cameras)
    update: dict[str, Any] = {
        "credential_ref": config.credential_ref or fresh.credential_ref,
        "connector_config": {**discovered_refs(fresh.connector_config), **connector_config},
    }
    if known is not None:
        update["discovered_at"] = known.discovered_at
        update.update({name: getattr(known, name) for name in DECIDED})
        if update["credential_ref"] is None:
            update["credential_ref"] = known.credential_ref
    update.update(decided)
    return fresh.model_copy(update=update)


def changed_fields(record: CameraRecord, known: CameraRecord | None) -> list[str]:
    """The fields a publication changes (all of them for a new camera), bookkeeping aside."""
    if known is None:
        return []
    now = record.model_dump(exclude={"updated_at"})
    before = known.model_dump(exclude={"updated_at"})
    return sorted(name for name in now if now[name] != before.get(name))


def _audit(actor: str, action: str, subject: str, details: dict[str, str]) -> AuditRecord:
    return AuditRecord(
        audit_id=f"aud-{uuid.uuid4().hex[:24]}",
        at=utcnow(),
        actor=actor,
        action=action,
        subject=subject,
        details={key: value[:4096] for key, value in details.items()},
    )


@dataclass(frozen=True)
class Registration:
    """One camera's publication and what it changes: what the audit topic says about it."""

    record: CameraRecord
    known: CameraRecord | None
    readmitted: CameraRemoval | None = None

    @property
    def changes(self) -> list[str]:
        return changed_fields(self.record, self.known)

    @property
    def changed(self) -> bool:
        return self.known is None or bool(self.changes) or self.readmitted is not None

    def audit(self, actor: str) -> AuditRecord | None:
        """``camera_registered``, ``camera_readmitted`` or ``camera_updated`` (with the fields
        it changed); None when nothing but the time of the sighting changed."""
        record = self.record
        details = {
            "connector": record.connector,
            "device_id": record.device_id,
            "address": record.address,
            "owner": record.owner.id,
            "sharing": record.sharing.value,
        }
        if self.readmitted is not None:
            details["removed_by"] = self.readmitted.actor
            return _audit(actor, "camera_readmitted", record.camera_id, details)
        if self.known is None:
            return _audit(actor, "camera_registered", record.camera_id, details)
        changes = self.changes
        if not changes:
            return None
        details["fields"] = ",".join(changes)
        if "sharing" in changes:
            details["sharing_was"] = self.known.sharing.value
        if "owner" in changes:
            details["owner_was"] = self.known.owner.id
        return _audit(actor, "camera_updated", record.camera_id, details)


def restore_connection(published: CameraRecord, before: CameraRecord) -> CameraRecord | None:
    """``published`` with the credential reference and connector config of ``before`` (a new
    version, so the runtime takes it), or None when those did not change."""
    if (published.credential_ref, published.connector_config) == (
        before.credential_ref,
        before.connector_config,
    ):
        return None
    return published.model_copy(
        update={
            "credential_ref": before.credential_ref,
            "connector_config": before.connector_config,
            "updated_at": max(utcnow(), published.updated_at + timedelta(microseconds=1)),
        }
    )


def restoration_audit(record: CameraRecord, actor: str) -> AuditRecord:
    """The audit record of a registration given back its previous connection."""
    return _audit(
        actor,
        "camera_restored",
        record.camera_id,
        {
            "connector": record.connector,
            "device_id": record.device_id,
            "address": record.address,
            "fields": "credential_ref,connector_config",
            "why": "the runtime that watches it could not use the new ones",
        },
    )


def removal_audit(removal: CameraRemoval, *, registered: bool) -> AuditRecord:
    """The audit record of one removal."""
    details = {
        "connector": removal.connector or "",
        "device_id": removal.device_id or "",
        "address": removal.address or "",
        "registered": "yes" if registered else "no",
    }
    if removal.reason:
        details["reason"] = removal.reason
    return _audit(removal.actor, "camera_removed", removal.camera_id, details)


def removed_reason(removal: CameraRemoval) -> str:
    """Why a camera found again is not registered: who removed it, when, how to take it back."""
    when = removal.removed_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"removed by {removal.actor} at {when}; onboard with readmit to register it again"
