"""``tilik api serve``, ``tilik keys`` and ``tilik tenants``: the HTTP service and the operator's
key and tenant commands.

``tilik keys`` works on the keys topic directly, as the operator's Kafka principal (the local
admin, or ``TILIK_CLIENT_CONFIG``): a running service picks its changes up at once.
"""

from __future__ import annotations

import asyncio
import getpass
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from topics.models import ApiKeyKind

if TYPE_CHECKING:
    from api.audit import AuditTrail
    from api.keys import Issued, KeyStore
    from topics.access.manage import AccessAdmin
    from topics.client import CatalogProducer
    from topics.models import ApiKey

T = TypeVar("T")


@click.group()
def api() -> None:
    """The HTTP API: agencies' inboxes, the public camera catalog, API keys."""


@api.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
def serve(host: str, port: int) -> None:
    """Serve the API (OpenAPI at /openapi.json, /docs) as this process's Kafka principal
    (`tilik access service add api` issues its client config; TILIK_CLIENT_CONFIG names it)."""
    from api.server import api_server
    from api.service import ApiService

    api_server(ApiService(), host=host, port=port).run()


@click.group()
def keys() -> None:
    """API keys of `tilik api` for the operator, agencies and tenants (shown once, stored hashed)."""


def _operator() -> str:
    from topics.connection import client_identity

    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):
        os_user = "unknown"
    return f"{client_identity().username or 'anonymous'} ({os_user}, cli)"


def _with_store(work: Callable[[KeyStore, AuditTrail], Awaitable[T]]) -> T:
    from api.audit import AuditTrail
    from api.keys import KeyStore, UnknownKey
    from topics.client import CatalogProducer

    async def run() -> T:
        async with CatalogProducer(client_id="tilik-keys") as producer:
            store = KeyStore(producer=producer, component="keys-cli")
            async with store:
                await store.ready.wait()
                return await work(store, AuditTrail(producer))

    try:
        return asyncio.run(run())
    except UnknownKey as exc:
        raise click.ClickException(str(exc)) from None


def _show_token(token: str) -> None:
    click.echo(f"key: {token}")
    click.echo("Shown this once: it is stored only as a hash. Keep it secret.", err=True)


@keys.command("add")
@click.argument("kind", type=click.Choice([k.value for k in ApiKeyKind]))
@click.argument("subject", required=False)
@click.option("--label", help="What the key is for, e.g. `Dishub control room`.")
def add(kind: str, subject: str | None, label: str | None) -> None:
    """A new key: `add operator`, `add agency dishub`, `add tenant mall-paragon`."""
    from pydantic import ValidationError

    actor = _operator()

    async def issue(store: KeyStore, audit: AuditTrail) -> Issued:
        issued = await store.issue(ApiKeyKind(kind), subject, actor=actor, label=label)
        await audit.record(
            actor=actor, action="api.key.issue", subject=issued.record.key_id, client="cli",
            details={"kind": kind, "for": subject or "operator"},
        )  # fmt: skip
        return issued

    try:
        issued = _with_store(issue)
    except ValidationError as exc:
        raise click.ClickException("; ".join(str(e["msg"]) for e in exc.errors())) from None
    click.echo(f"added {issued.record.key_id} ({kind}{' ' + subject if subject else ''})")
    _show_token(issued.key.token)


@keys.command("rotate")
@click.argument("key_id")
def rotate(key_id: str) -> None:
    """A new secret for a key; the old one stops working at once."""
    actor = _operator()

    async def work(store: KeyStore, audit: AuditTrail) -> Issued:
        issued = await store.rotate(key_id, actor=actor)
        await audit.record(actor=actor, action="api.key.rotate", subject=key_id, client="cli")
        return issued

    issued = _with_store(work)
    click.echo(f"rotated {key_id}")
    _show_token(issued.key.token)


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """The key stops working at once."""
    actor = _operator()

    async def work(store: KeyStore, audit: AuditTrail) -> None:
        await store.revoke(key_id, actor=actor)
        await audit.record(actor=actor, action="api.key.revoke", subject=key_id, client="cli")

    _with_store(work)
    click.echo(f"revoked {key_id}")


@keys.command("list")
@click.option("--all", "everything", is_flag=True, help="Revoked keys too.")
def list_keys(everything: bool) -> None:
    """Every key: id, kind, subject, label, when made or changed (never a secret)."""

    async def work(store: KeyStore, audit: AuditTrail) -> list[ApiKey]:
        return store.records()

    for record in _with_store(work):
        if record.revoked_at is not None and not everything:
            continue
        state = f"revoked {record.revoked_at:%Y-%m-%d %H:%M}" if record.revoked_at else "live"
        click.echo(
            f"{record.key_id}  {record.kind.value:<8}  {record.subject or '-':<20}  {state:<22}  "
            f"{record.label or ''}"
        )


@click.group()
def tenants() -> None:
    """Businesses (tenants): add one with its principal, client config and API key; list them
    with their sites and cameras; remove one with everything it had."""


def _with_tenants(work: Callable[[AccessAdmin, CatalogProducer], Awaitable[T]]) -> T:
    from topics.access.manage import AccessAdmin
    from topics.admin import AdminError
    from topics.client import CatalogProducer

    async def run() -> T:
        async with CatalogProducer(client_id="tilik-tenants") as producer:
            return await work(AccessAdmin(actor=_operator()), producer)

    try:
        return asyncio.run(run())
    except (AdminError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from None


def _tenant_id(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from topics.access.roles import TENANT_ID_PATTERN

    if not re.fullmatch(TENANT_ID_PATTERN, value):
        raise click.BadParameter(f"tenant ids match {TENANT_ID_PATTERN}", param_hint="TENANT")
    return value


@tenants.command("add")
@click.argument("tenant", callback=_tenant_id)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write its Kafka client config (default: <state dir>/access/tenant-<id>.properties).",
)
@click.option("--label", help="What its API key is for, e.g. `Toko Sinar, Jl. Pemuda`.")
def tenants_add(tenant: str, out: Path | None, label: str | None) -> None:
    """Add a business: principal, topics, ACLs, client config (for its edge agents) and API key."""
    from api.tenant_admin import add_tenant

    added = _with_tenants(
        lambda access, producer: add_tenant(
            tenant, access=access, producer=producer, out=out, label=label
        )
    )
    click.echo(f"added tenant {tenant} ({added.principal.role.principal})")
    click.echo(
        f"client config for its edge agents: {added.principal.path} (mode 0600; hand it over)"
    )
    click.echo(f"API key {added.key.record.key_id} for `tilik api`:")
    _show_token(added.key.key.token)


@tenants.command("list")
def tenants_list() -> None:
    """Every tenant with its sites and its cameras in the registry."""
    from api.tenant_admin import list_tenants
    from topics.console import render_table

    found = _with_tenants(lambda access, producer: list_tenants(access=access, producer=producer))
    if not found:
        click.echo("no tenants")
        return
    rows = [
        {
            "tenant": t.tenant,
            "credential": "yes" if t.has_credential else "NO (revoked?)",
            "sites": str(t.sites),
            "cameras": str(t.cameras),
        }
        for t in found
    ]
    click.echo(render_table(rows, ["tenant", "credential", "sites", "cameras"]))


@tenants.command("remove")
@click.argument("tenant", callback=_tenant_id)
@click.confirmation_option(prompt="Revoke every camera, key and credential of this tenant?")
def tenants_remove(tenant: str) -> None:
    """Remove a business: every camera revoked (tombstoned, marked removed), its sites, API keys
    and principal removed."""
    from api.tenant_admin import remove_tenant

    removed = _with_tenants(
        lambda access, producer: remove_tenant(tenant, access=access, producer=producer)
    )
    click.echo(
        f"removed tenant {tenant}: {len(removed.cameras)} camera(s) revoked, "
        f"{len(removed.sites)} site(s), {len(removed.keys)} API key(s), {removed.acls} ACL(s)"
    )
