"""A business registers a recorder the city can reach: checked against the tenant's network policy,
probed through the SDK's one onboarding pipeline with the credentials given, its password sealed
into the vault, its cameras returned (never a secret).

    address ──► tenant policy ──► onboarding (probe: check, discover) ──► seal ──► cameras
                (public internet     the credentials offered for this      (only after the
                 + granted networks;  one reference, ``vault:<id>``;        probe proved them)
                 no host names)      no redirect is followed)

The recorder's cameras carry ``credential_ref = vault:<id>``: the connector runtime opens that
with the vault's key file; this service holds only the public key and cannot. With
``register=True`` onboarding also publishes the cameras to the registry (merged with what it
knows, audited); without, the caller publishes them when the tenant confirms them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal, get_args

from pydantic import SecretStr

from connectors.sdk.base import ConnectorConfig
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.netpolicy import ProbePolicy, join_host_port
from connectors.sdk.onboard import OnboardOptions, connector_reader, onboard
from connectors.sdk.registry import load_connector
from connectors.sdk.sealed import Offered, using
from connectors.sdk.vault import VaultRecipient, seal
from topics.catalog import SEALED_CREDENTIALS
from topics.client import CatalogProducer
from topics.models import CameraRecord, OwnerKind

#: a recorder's user name: the sealed secret is ``user:password``, split at the first colon
USERNAME = re.compile(r"[^@:\s/]{1,64}")
#: the connectors a business's recorder may be registered with
RecorderKind = Literal["hikvision", "dahua", "onvif"]
RECORDER_KINDS: tuple[str, ...] = get_args(RecorderKind)

Problem = Literal["address_refused", "credentials_refused", "unreachable", "device_error"]
# What each onboarding failure type says to the business.
_PROBLEMS: dict[str, Problem] = {
    "ConfigurationError": "address_refused",
    "AuthenticationError": "credentials_refused",
    "RetriableError": "unreachable",
}


class RecorderRefused(Exception):
    """Not registered, and why: ``problem`` for programs, ``reason`` for people (no secret)."""

    def __init__(self, problem: Problem, reason: str) -> None:
        super().__init__(reason)
        self.problem = problem
        self.reason = reason


@dataclass(frozen=True)
class Recorder:
    """What a business gives to register its recorder."""

    tenant_id: str
    site_id: str
    kind: str
    host: str
    port: int
    username: str
    password: SecretStr
    scheme: Literal["http", "https"] = "http"

    @property
    def address(self) -> str:
        # ``[::1]`` and ``::1`` are one host: the brackets are the address's, not the host's.
        return join_host_port(self.host.strip().removeprefix("[").removesuffix("]"), self.port)


@dataclass
class RegisteredRecorder:
    """A recorder probed and its password sealed: its cameras as the registry would hold them."""

    credential_id: str
    address: str
    connector: str
    records: list[CameraRecord] = field(default_factory=list)

    @property
    def credential_ref(self) -> str:
        return f"vault:{self.credential_id}"


def credential_id(tenant_id: str, address: str) -> str:
    """One credential per tenant and recorder address: registering it again replaces it."""
    digest = hashlib.sha256(f"{tenant_id}\x00{address}".encode()).hexdigest()
    return f"rec-{digest[:20]}"


async def register_recorder(
    recorder: Recorder,
    *,
    policy: ProbePolicy,
    recipient: VaultRecipient,
    producer: CatalogProducer,
    actor: str,
    register: bool = False,
    timeout_s: float = 5.0,
) -> RegisteredRecorder:
    """Probe ``recorder`` within ``policy``, seal its password to ``recipient`` and say what
    cameras it has; ``RecorderRefused`` when the address is refused, the device refuses the
    credentials, cannot be reached or answers what cannot be used (``ValueError`` for a user name
    or kind no request should have let through)."""
    if not USERNAME.fullmatch(recorder.username):
        raise ValueError("a user name has 1 to 64 characters, none of them @ : / or a space")
    if recorder.kind not in RECORDER_KINDS:
        raise ValueError(f"a recorder's kind is one of {', '.join(RECORDER_KINDS)}")
    try:
        address = policy.check_address(recorder.address)
    except ConfigurationError as exc:
        raise RecorderRefused("address_refused", str(exc)) from None
    connector_cls = load_connector(recorder.kind)
    sealed_id = credential_id(recorder.tenant_id, address)
    secret = f"{recorder.username}:{recorder.password.get_secret_value()}"
    read_device = connector_reader(connector_cls)

    async def probe_then_seal(config: ConnectorConfig) -> list[CameraRecord]:
        found = await read_device(config)
        # Sealed only once the device took the credentials, and before any camera naming the
        # reference is published: the runtime never sees a camera whose credential is not there.
        sealed = seal(
            secret,
            tenant_id=recorder.tenant_id,
            credential_id=sealed_id,
            recipient=recipient,
            actor=actor,
        )
        await producer.send(SEALED_CREDENTIALS, sealed)
        return found

    config = {
        "address": address,
        "credential_ref": f"vault:{sealed_id}",
        "scheme": recorder.scheme,
        "timeout_s": timeout_s,
        "owner": {"kind": OwnerKind.PRIVATE.value, "id": recorder.tenant_id},
    }
    with using(Offered({sealed_id: secret})):
        summary = await onboard(
            connector_cls,
            [config],
            producer=producer if register else None,
            reader=probe_then_seal,
            policy=policy,
            options=OnboardOptions(attempts=1, actor=actor),
        )
    for failure in summary.failed.values():
        raise RecorderRefused(_PROBLEMS.get(failure.error_type, "device_error"), failure.reason)
    return RegisteredRecorder(
        credential_id=sealed_id,
        address=address,
        connector=recorder.kind,
        records=sorted(summary.records.values(), key=lambda r: (r.channel or 0, r.camera_id)),
    )
