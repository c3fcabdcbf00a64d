"""``tilik access``: agencies', tenants' and services' principals, and the ACLs the declaration gives them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from topics.access.roles import (
    AGENCY_ID_PATTERN,
    TENANT_ID_PATTERN,
    Role,
    RoleKind,
    agency_role,
    declared_roles,
    service_roles,
    tenant_role,
)

T = TypeVar("T")
BOOTSTRAP_HELP = "Kafka bootstrap host:port (default: TILIK_BOOTSTRAP or the client config's)."


@click.group()
def access() -> None:
    """Who may do what: principals (SCRAM) and their ACLs, declared in topics/access/roles.py.

    Commands run as the operator: the local broker's admin, found in the state dir, or
    TILIK_CLIENT_CONFIG.
    """


def _run(work: Callable[[], T]) -> T:
    from topics.admin import AdminError

    try:
        return work()
    except (AdminError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from None


@access.command("apply")
@click.option("--bootstrap", metavar="HOST:PORT", help=BOOTSTRAP_HELP)
@click.option("--dry-run", is_flag=True, help="Show what would change without changing it.")
def apply_command(bootstrap: str | None, dry_run: bool) -> None:
    """Reconcile the ACLs of every principal Tilik manages with the declaration."""
    from topics.access.manage import AccessAdmin

    plan = _run(lambda: asyncio.run(AccessAdmin(bootstrap).apply(dry_run=dry_run)))
    if plan.empty:
        click.echo("no changes: every principal's ACLs match the declaration")
        return
    for binding in plan.create:
        click.echo(f"+ {binding.principal} {binding.describe()}")
    for binding in plan.delete:
        click.echo(f"- {binding.principal} {binding.describe()}")
    verb = "planned (dry run)" if dry_run else "applied"
    click.echo(f"{len(plan.create)} ACL(s) to add, {len(plan.delete)} to delete: {verb}")


@access.command("roles")
def roles_command() -> None:
    """Print every role of the declaration with its grants (agency and tenant as templates)."""
    for role in declared_roles(["<agency>"], ["<tenant>"]):
        click.echo(f"{role.kind.value}: {role.principal}" + (" (super user)" if role.super_user else ""))
        click.echo(f"  {role.summary}")
        for grant in role.grants:
            ops = ",".join(op.value for op in grant.operations)
            star = "*" if grant.pattern.value == "PREFIXED" else ""
            click.echo(f"  {ops:<32} {grant.resource.value.lower()} {grant.name}{star}  ({grant.why})")


def _principal_commands(
    group: click.Group,
    kind: str,
    kinds: set[RoleKind],
    role_for: Callable[[str], Role],
    validate: Callable[[str], str],
) -> None:
    """``add``, ``rotate``, ``revoke`` and ``list`` for one kind of principal."""
    argument = click.argument("name", metavar=kind.upper(), callback=lambda _c, _p, v: validate(v))
    out_option = click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Where to write the client config (default: <state dir>/access/<principal>.properties).",
    )
    bootstrap_option = click.option("--bootstrap", metavar="HOST:PORT", help=BOOTSTRAP_HELP)

    @group.command("add")
    @argument
    @out_option
    @bootstrap_option
    def add(name: str, out: Path | None, bootstrap: str | None) -> None:
        """Create the principal, its topics and ACLs; write its client config once."""
        from topics.access.manage import AccessAdmin

        admin = AccessAdmin(bootstrap)
        issued = _run(lambda: asyncio.run(admin.add(role_for(name), out=out)))
        _show_issued(issued, "added")

    @group.command("rotate")
    @argument
    @out_option
    @bootstrap_option
    def rotate(name: str, out: Path | None, bootstrap: str | None) -> None:
        """Replace the password; the old client config stops working (open connections within
        the broker's re-authentication bound)."""
        from topics.access.manage import AccessAdmin

        admin = AccessAdmin(bootstrap)
        issued = _run(lambda: asyncio.run(admin.rotate(role_for(name), out=out)))
        _show_issued(issued, "rotated")

    @group.command("revoke")
    @argument
    @bootstrap_option
    def revoke(name: str, bootstrap: str | None) -> None:
        """Delete the credential and every ACL (open connections end within the re-authentication bound)."""
        from topics.access.manage import AccessAdmin

        role = role_for(name)
        removed = _run(lambda: asyncio.run(AccessAdmin(bootstrap).revoke(role)))
        click.echo(f"revoked {role.principal}: credential deleted, {removed} ACL(s) removed")

    @group.command("list")
    @bootstrap_option
    def list_command(bootstrap: str | None) -> None:
        """Principals of this kind with their credential and ACL count."""
        from topics.access.manage import AccessAdmin
        from topics.console import render_table

        states = _run(lambda: asyncio.run(AccessAdmin(bootstrap).list(kinds)))
        if not states:
            click.echo(f"no {kind} principals")
            return
        rows = [
            {
                kind: state.role.subject or state.role.user,
                "principal": state.role.principal,
                "credential": "yes" if state.has_credential else "NO (revoked?)",
                "acls": str(state.acls),
            }
            for state in states
        ]
        click.echo(render_table(rows, [kind, "principal", "credential", "acls"]))


def _show_issued(issued: object, verb: str) -> None:
    from topics.access.manage import Issued

    assert isinstance(issued, Issued)
    config = issued.config
    click.echo(f"{verb} {issued.role.principal} ({issued.role.kind.value})")
    click.echo(
        f"client config: {issued.path} (mode 0600; {config.security_protocol} to {config.bootstrap})"
    )
    click.echo(f"password (shown once; it is also in the client config): {issued.password}")


def _checked(pattern: str, what: str) -> Callable[[str], str]:
    def validate(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise click.BadParameter(f"{what} ids match {pattern}", param_hint=what.upper())
        return value

    return validate


SERVICES = {role.kind.value: role for role in service_roles()}
SERVICE_KINDS = (RoleKind.HUB, RoleKind.CONNECTOR, RoleKind.API)


def _service_role(name: str) -> Role:
    return SERVICES[name]


def _service_name(value: str) -> str:
    if value not in SERVICES:
        raise click.BadParameter(f"one of {', '.join(SERVICES)}", param_hint="SERVICE")
    return value


@access.group()
def agency() -> None:
    """Dispatch agencies: each reads its own dispatch topic and writes its own acknowledgements."""


@access.group()
def tenant() -> None:
    """Private tenants: their sites write only the tenant's ingest topics, read its site configuration."""


@access.group()
def service() -> None:
    """Tilik's own services: hub, connector, api (one principal each)."""


_principal_commands(
    agency, "agency", {RoleKind.AGENCY}, agency_role, _checked(AGENCY_ID_PATTERN, "agency")
)
_principal_commands(
    tenant, "tenant", {RoleKind.TENANT}, tenant_role, _checked(TENANT_ID_PATTERN, "tenant")
)
_principal_commands(service, "service", set(SERVICE_KINDS), _service_role, _service_name)
