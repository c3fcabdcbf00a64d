"""``tilik access``: agencies', tenants' and services' principals, and the ACLs the declaration gives them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

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

if TYPE_CHECKING:
    from topics.access.manage import Issued

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


@access.command("provision")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Each service's client config goes to <dir>/<service>/client.properties.",
)
@click.option(
    "--service",
    "services",
    multiple=True,
    type=click.Choice(["hub", "connector", "api"]),
    default=("hub", "connector"),
    show_default=True,
)
@click.option("--bootstrap", metavar="HOST:PORT", help=BOOTSTRAP_HELP)
def provision_command(out_dir: Path, services: tuple[str, ...], bootstrap: str | None) -> None:
    """Apply the catalog, give each service its principal and client config (once), apply every
    ACL: what a new cluster needs before the hub and connectors start. No password is printed."""
    from topics.access.manage import AccessAdmin

    roles = [SERVICES[name] for name in services]
    paths = _run(lambda: asyncio.run(AccessAdmin(bootstrap).provision(out_dir, roles)))
    for role, path in zip(roles, paths, strict=True):
        click.echo(f"{role.principal}: {path}")


@access.command("roles")
def roles_command() -> None:
    """Print every role of the declaration with its grants (agency and tenant as templates)."""
    for role in declared_roles(["<agency>"], ["<tenant>"]):
        click.echo(
            f"{role.kind.value}: {role.principal}" + (" (super user)" if role.super_user else "")
        )
        click.echo(f"  {role.summary}")
        for grant in role.grants:
            ops = ",".join(op.value for op in grant.operations)
            star = "*" if grant.pattern.value == "PREFIXED" else ""
            click.echo(
                f"  {ops:<32} {grant.resource.value.lower()} {grant.name}{star}  ({grant.why})"
            )


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
    show_option = click.option(
        "--show-password/--no-show-password",
        default=True,
        show_default=True,
        help="Print the password once (it is in the client config either way); scripts whose "
        "output is kept, such as compose services, say --no-show-password.",
    )

    @group.command("add")
    @argument
    @out_option
    @bootstrap_option
    @show_option
    @click.option(
        "--if-missing",
        is_flag=True,
        help="Do nothing when the principal exists and its client config file is there "
        "(a principal whose file is lost gets a new password); for provisioning scripts.",
    )
    def add(
        name: str, out: Path | None, bootstrap: str | None, show_password: bool, if_missing: bool
    ) -> None:
        """Create the principal, its topics and ACLs; write its client config once."""
        from topics.access.manage import AccessAdmin

        admin = AccessAdmin(bootstrap)
        role = role_for(name)
        if if_missing:
            ensured = _run(lambda: asyncio.run(admin.ensure(role, out=out)))
            if ensured is None:
                click.echo(f"{role.principal} exists with its client config; nothing to do")
                return
            issued = ensured
        else:
            issued = _run(lambda: asyncio.run(admin.add(role, out=out)))
        _show_issued(issued, "added", show_password)

    @group.command("rotate")
    @argument
    @out_option
    @bootstrap_option
    @show_option
    def rotate(name: str, out: Path | None, bootstrap: str | None, show_password: bool) -> None:
        """Replace the password; the old client config stops working (open connections within
        the broker's re-authentication bound)."""
        from topics.access.manage import AccessAdmin

        admin = AccessAdmin(bootstrap)
        issued = _run(lambda: asyncio.run(admin.rotate(role_for(name), out=out)))
        _show_issued(issued, "rotated", show_password)

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


def _show_issued(issued: Issued, verb: str, show_password: bool) -> None:
    config = issued.config
    click.echo(f"{verb} {issued.role.principal} ({issued.role.kind.value})")
    click.echo(
        f"client config: {issued.path} (mode 0600; {config.security_protocol} to {config.bootstrap})"
    )
    if show_password:
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
