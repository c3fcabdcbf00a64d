"""Stable identifiers: derived from what a device says about itself, never from its network address."""

from __future__ import annotations

import hashlib
from datetime import datetime


def _digest(*parts: object, length: int) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def normalise_mac(mac: str) -> str:
    hexdigits = "".join(c for c in mac.lower() if c in "0123456789abcdef")
    if len(hexdigits) != 12:
        raise ValueError(f"not a MAC address: {mac!r}")
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


def camera_id(
    *,
    vendor: str | None,
    serial: str | None = None,
    mac: str | None = None,
    endpoint_reference: str | None = None,
    hardware_id: str | None = None,
    channel: int | None = None,
) -> str:
    """The camera id: a hash of the strongest identity the device reports, plus the channel.

    Preference: serial number (with vendor), then MAC, then the ONVIF endpoint reference. An IP
    address is never an identity: a camera keeps its id when DHCP moves it.
    """
    if serial and serial.strip():
        basis = (
            "serial",
            (vendor or "").strip().lower(),
            serial.strip().upper(),
            hardware_id or "",
        )
    elif mac and mac.strip():
        basis = ("mac", normalise_mac(mac), "", "")
    elif endpoint_reference and endpoint_reference.strip():
        basis = ("epr", endpoint_reference.strip().lower(), "", "")
    else:
        raise ValueError("a camera needs a serial number, MAC or endpoint reference for its id")
    return "cam-" + _digest(*basis, "" if channel is None else channel, length=20)


def device_id(
    *,
    vendor: str | None,
    serial: str | None = None,
    mac: str | None = None,
    endpoint_reference: str | None = None,
) -> str:
    """Stable id of the physical device (an NVR and all its channels share it)."""
    return (
        "dev-"
        + camera_id(vendor=vendor, serial=serial, mac=mac, endpoint_reference=endpoint_reference)[
            4:
        ]
    )


def event_id(
    *, camera_id: str, vendor_topic: str, device_time: datetime, discriminator: object = None
) -> str:
    """Stable event id: the same device event, received twice, gets the same id."""
    return "evt-" + _digest(
        camera_id, vendor_topic.strip(), device_time.isoformat(), discriminator, length=24
    )


def alert_id(*, camera_id: str, rule_id: str, opened_at: datetime) -> str:
    return "alr-" + _digest(camera_id, rule_id, opened_at.isoformat(), length=24)


def dispatch_id(*, alert_id: str, agency: str, sequence: int, escalation_level: int) -> str:
    return "dsp-" + _digest(alert_id, agency, sequence, escalation_level, length=24)


def idempotency_key(*, alert_id: str, agency: str, sequence: int) -> str:
    """One key per alert state and agency: a consumer that has seen it may drop the repeat."""
    return f"{alert_id}:{agency}:{sequence}"


def tenant_scoped(tenant: str, site_id: str) -> str:
    """The id the city gives a camera, device or event id a tenant's site sent (``cam-``,
    ``dev-`` and ``evt-`` ids keep their prefix and length; any other id becomes a ``dev-`` id).

    Hashed with the tenant, so no id a site sends can name a city camera or another tenant's:
    whatever a site claims lands in its own tenant's part of the registry. The same site id
    always gives the same city id, so a replayed record updates what it did before.
    """
    prefix, dash, _ = site_id.partition("-")
    if not dash or prefix not in _SCOPED_LENGTHS:
        prefix = "dev"
    return f"{prefix}-" + _digest("tenant", tenant, site_id, length=_SCOPED_LENGTHS[prefix])


_SCOPED_LENGTHS = {"cam": 20, "dev": 20, "evt": 24}
