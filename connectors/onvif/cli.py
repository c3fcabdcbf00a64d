"""``tilik discover onvif``: find ONVIF cameras, probe them and register them through the SDK's one
onboarding pipeline (merged with the registry, audited, removed cameras withheld, watch checked)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from connectors.onvif.onboard_run import OnboardRequest
from connectors.sdk.boundary import DEADLINE_IN_TIMEOUTS
from connectors.sdk.cli import actor_or_os_user, onboarding_options
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.netpolicy import ProbePolicy, split_host_port
from connectors.sdk.secrets import CameraSecrets
from core.cliopts import field_option


def _credential_ref(username: str | None, password_env: str | None, ref: str | None) -> str | None:
    """The reference for every probed device, refused (ConfigurationError) before any probe when
    it is not one or leaves the camera secrets namespace."""
    if ref:
        chosen = ref
    elif password_env:
        chosen = f"{username}@env:{password_env}" if username else f"env:{password_env}"
    elif username:
        raise click.UsageError("--username needs --password-env (passwords are never arguments)")
    else:
        return None
    CameraSecrets.configured().confine(chosen)
    return chosen


def _progress(done: int, total: int) -> None:
    click.echo(f"probed {done}/{total}", err=True)


@click.command("onvif")
@click.option(
    "--ws-discovery",
    is_flag=True,
    help="Send a WS-Discovery Probe by multicast (with --interface).",
)
@click.option("--interface", help="IPv4 address of the one interface multicast Probes use.")
@click.option("--ws-target", help="host:port to send the WS-Discovery Probe to by unicast instead.")
@field_option(OnboardRequest, "ws_timeout_s", "--ws-timeout", type=float)
@click.option("--hosts", help="Comma-separated host:port list to probe.")
@click.option("--cidr", help="CIDR range to probe (with --port).")
@field_option(OnboardRequest, "port", "--port", type=int)
@click.option("--inventory", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--username", help="User name for every probed device (with --password-env).")
@click.option(
    "--password-env",
    help="Environment variable holding the password (TILIK_CAMERA_SECRET_* by default).",
)
@click.option(
    "--credential-ref", help="Credential reference, e.g. admin@env:TILIK_CAMERA_SECRET_LOBBY."
)
@click.option(
    "--allow",
    multiple=True,
    help="CIDR the hub may probe (repeatable; default loopback + RFC 1918 or $TILIK_PROBE_ALLOW).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of camera records.")
@click.option("--dry-run", is_flag=True, help="Probe and print; publish nothing.")
@field_option(OnboardRequest, "concurrency", "--concurrency", type=int)
@field_option(
    OnboardRequest,
    "processes",
    "--processes",
    type=click.IntRange(min=1, max=64),
    help="Processes probing devices (the probe's CPU over that many cores; 1: this process).",
)
@field_option(
    OnboardRequest,
    "timeout_s",
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Each request's total deadline (connect, send, read), s.",
)
@click.option(
    "--device-deadline",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help=f"Each device's whole probe, s (default: {DEADLINE_IN_TIMEOUTS} x --timeout).",
)
@click.option("--bootstrap", help="Kafka bootstrap servers (default: $TILIK_BOOTSTRAP).")
@onboarding_options
def discover_onvif(
    ws_discovery: bool,
    interface: str | None,
    ws_target: str | None,
    ws_timeout: float,
    hosts: str | None,
    cidr: str | None,
    port: int,
    inventory: Path | None,
    username: str | None,
    password_env: str | None,
    credential_ref: str | None,
    allow: tuple[str, ...],
    as_json: bool,
    dry_run: bool,
    concurrency: int,
    processes: int,
    timeout: float,
    device_deadline: float | None,
    bootstrap: str | None,
    actor: str | None,
    readmit: bool,
    verify_s: float,
    watch_group: str | None,
) -> None:
    """Probe ONVIF cameras and register them (progress on stderr).

    Cameras the registry knows keep their owner, name, location, site type and sharing unless
    an inventory row gives them; removed cameras are withheld unless --readmit.
    """
    from connectors.onvif.onboard_run import run_onboarding

    if not (ws_discovery or ws_target or hosts or cidr or inventory):
        raise click.UsageError(
            "nothing to probe: give --ws-discovery, --hosts, --cidr or --inventory"
        )
    try:
        policy = ProbePolicy.of(allow) if allow else ProbePolicy.default()
        request = OnboardRequest(
            policy=policy,
            ws_discovery=ws_discovery,
            interface=interface,
            ws_target=split_host_port(ws_target) if ws_target else None,
            ws_timeout_s=ws_timeout,
            hosts=[h for h in (hosts or "").split(",") if h.strip()],
            cidr=cidr,
            port=port,
            inventory=inventory,
            credential_ref=_credential_ref(username, password_env, credential_ref),
            concurrency=concurrency,
            processes=processes,
            timeout_s=timeout,
            device_deadline_s=device_deadline,
            bootstrap=bootstrap,
            publish=not dry_run,
            actor=actor_or_os_user(actor),
            readmit=readmit,
            verify_s=verify_s,
            watch_group=watch_group,
        )
        outcome = asyncio.run(run_onboarding(request, progress=_progress))
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    summary = outcome.summary
    for failure in outcome.report.failures + outcome.refused:
        click.echo(f"{failure.address}: {failure.error_type}: {failure.reason}", err=True)
    for heading, cameras in (
        ("withheld", summary.withheld),
        ("not watched", summary.not_watched),
        ("unconfirmed", summary.unconfirmed),
    ):
        # One line per reason: a scan of thousands with no runtime yet says it once.
        by_reason: dict[str, list[str]] = {}
        for camera, reason in sorted(cameras.items()):
            by_reason.setdefault(reason, []).append(camera)
        for reason, ids in by_reason.items():
            which = ids[0] if len(ids) == 1 else f"{len(ids)} cameras ({ids[0]}, ...)"
            click.echo(f"{which}: {heading}: {reason}", err=True)
    records = sorted(outcome.records, key=lambda r: r.address)
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
    else:
        click.echo(f"{'CAMERA ID':<26} {'ADDRESS':<22} {'VENDOR':<14} {'MODEL':<16} NAME")
        for r in records:
            click.echo(
                f"{r.camera_id:<26} {r.address:<22} {(r.vendor or '-')[:14]:<14} "
                f"{(r.model or '-')[:16]:<16} {r.name}"
            )
    verb = "published" if outcome.published else "found (dry run)"
    click.echo(
        f"{len(records)} cameras {verb}, {len(outcome.report.failures)} failed, "
        f"{len(outcome.refused)} refused by the probe policy, {len(summary.withheld)} withheld "
        f"(removed), {len(summary.not_watched)} not watched where they run",
        err=True,
    )
    # A scan meets empty addresses; what it published must be watchable, though.
    if summary.not_watched or (not records and (outcome.report.failures or outcome.refused)):
        sys.exit(1)
