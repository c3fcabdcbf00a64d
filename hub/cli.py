"""Operator commands of the hub: ``tilik hub worker``, ``tilik coverage``, ``tilik alerts``, ``tilik dlq``.

``tilik dlq`` lists dead letters, counts the vendor events no table maps (``unknown``) and replays."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path

import click

from core.cliopts import field_option
from core.settings import get_settings
from hub.config import HubConfig
from hub.delivery.policy import RetryPolicy
from topics.models import DeadLetterKind

DEAD_LETTER_KINDS = [kind.value for kind in DeadLetterKind]


@click.group()
def hub() -> None:
    """Run and inspect the hub (health, rules, routing, delivery)."""


@hub.command()
@click.option("--bootstrap", default=None, help="Kafka bootstrap (default: TILIK_BOOTSTRAP).")
@field_option(HubConfig, "app_id", "--app-id", help="Workers sharing it share the work.")
@field_option(HubConfig, "web_port", "--web-port", help="HTTP port (/coverage).")
@field_option(HubConfig, "web_host", "--web-host")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Rules YAML (default: the city defaults shipped in hub/defaults/rules.yaml); its "
    "offline rules watch camera health.",
)
@click.option(
    "--routes",
    "routes_path",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Routes YAML (default: hub/defaults/routes.yaml).",
)
@click.option(
    "--health-only",
    is_flag=True,
    help="Run camera health (the rules' offline rules) and coverage only: no event rules, "
    "routing or delivery.",
)
@click.option(
    "--offline-after",
    type=float,
    default=None,
    help="Seconds of silence before a camera is offline, for every offline rule "
    "[default: each offline rule's after_s].",
)
@field_option(HubConfig, "health_check_every_s", "--health-check-every")
@field_option(
    HubConfig, "rules_tick_every_s", "--tick-every", help="Rule timers (windows, dwell, expiry)."
)
@field_option(HubConfig, "escalation_check_every_s", "--escalation-check-every")
@field_option(
    RetryPolicy,
    "max_attempts",
    "--webhook-attempts",
    help="Tries before a dispatch is dead-lettered.",
)
@field_option(
    RetryPolicy,
    "base_delay_s",
    "--webhook-backoff",
    help="First retry pause, seconds (doubles each time).",
)
@click.option(
    "--from-latest",
    is_flag=True,
    help="A new --app-id starts at the end of the topics instead of processing their history.",
)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--loglevel", default="info", show_default=True)
def worker(
    bootstrap: str | None,
    app_id: str,
    web_port: int,
    web_host: str,
    rules_path: Path | None,
    routes_path: Path | None,
    health_only: bool,
    offline_after: float | None,
    health_check_every: float,
    tick_every: float,
    escalation_check_every: float,
    webhook_attempts: int,
    webhook_backoff: float,
    from_latest: bool,
    data_dir: Path | None,
    loglevel: str,
) -> None:
    """Run one hub worker; start more with the same --app-id to share the load."""
    from hub.worker import agencies_of, run_worker

    settings = get_settings()
    defaults = Path(str(files("hub.defaults")))
    config = HubConfig(
        bootstrap=bootstrap or settings.bootstrap,
        app_id=app_id,
        web_port=web_port,
        web_host=web_host,
        rules_path=rules_path or defaults / "rules.yaml",
        routes_path=None if health_only else routes_path or defaults / "routes.yaml",
        health_only=health_only,
        offline_after_s=offline_after,
        health_check_every_s=health_check_every,
        rules_tick_every_s=tick_every,
        escalation_check_every_s=escalation_check_every,
        data_dir=data_dir or settings.state_dir / "hub" / app_id,
        replication_factor=settings.replication_factor,
        start_from_latest=from_latest,
        webhook_policy=RetryPolicy(max_attempts=webhook_attempts, base_delay_s=webhook_backoff),
    )
    run_worker(config, agencies_of(config), loglevel=loglevel)


bootstrap_option = click.option(
    "--bootstrap", default=None, help="Kafka bootstrap (default: TILIK_BOOTSTRAP)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")


@click.command()
@click.option(
    "--url", "urls", multiple=True, help="A worker's HTTP address; repeat for each worker."
)
@bootstrap_option
@click.option(
    "--offline-after",
    type=float,
    default=300.0,
    show_default=True,
    help="Without --url: silence that counts as offline.",
)
@json_option
def coverage(
    urls: tuple[str, ...], bootstrap: str | None, offline_after: float, as_json: bool
) -> None:
    """Cameras registered and online per kecamatan and kelurahan.

    With --url, asks running workers (and sums their partitions); without, reads the topics.
    """
    import asyncio

    from hub.health.coverage import Coverage, merge_coverage
    from hub.operator import coverage_from_topics

    if urls:
        result = merge_coverage(
            Coverage.model_validate(part) for part in asyncio.run(_fetch_all(urls))
        )
    else:
        result = asyncio.run(coverage_from_topics(bootstrap, offline_after))
    if result is None:
        raise click.ClickException("no coverage received")
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    click.echo(f"{'area':<40} {'registered':>10} {'online':>8} {'%':>6}")
    click.echo(
        f"{'Semarang (all)':<40} {result.total.registered:>10} {result.total.online:>8} {result.total.percent_online:>6}"
    )
    for name, district in sorted(result.kecamatan.items()):
        click.echo(
            f"{name:<40} {district.registered:>10} {district.online:>8} {district.percent_online:>6}"
        )
        for kelurahan, area in sorted(district.kelurahan.items()):
            click.echo(
                f"  {kelurahan:<38} {area.registered:>10} {area.online:>8} {area.percent_online:>6}"
            )


async def _fetch_all(urls: tuple[str, ...]) -> list[dict[str, object]]:
    import aiohttp

    parts = []
    async with aiohttp.ClientSession() as session:
        for url in urls:
            try:
                async with session.get(
                    url.rstrip("/") + "/coverage", timeout=aiohttp.ClientTimeout(total=10)
                ) as response:
                    response.raise_for_status()
                    parts.append(await response.json())
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise click.ClickException(f"{url}: {type(exc).__name__}: {exc}") from None
    return parts


@click.command()
@click.option("--open", "open_only", is_flag=True, help="Only alerts not resolved.")
@click.option("--kecamatan", default=None, help="Only alerts from this kecamatan.")
@click.option("--agency", default=None, help="Only alerts dispatched to this agency.")
@click.option("--max", "limit", type=int, default=100, show_default=True)
@click.option(
    "--since",
    "since_text",
    default=None,
    metavar="DURATION",
    help="Only alert states from the last DURATION (e.g. 30m, 24h, 7d) instead of the topic's "
    "whole retention; an alert whose last state is older does not show.",
)
@bootstrap_option
@json_option
def alerts(
    open_only: bool,
    kecamatan: str | None,
    agency: str | None,
    limit: int,
    since_text: str | None,
    bootstrap: str | None,
    as_json: bool,
) -> None:
    """Alerts, each folded to its latest state, newest first, with who has it.

    For each agency an alert was dispatched to: dispatched, delivered (its webhook received the
    dispatch) or acknowledged (a person there took it on; only this stops escalation).
    """
    import asyncio
    import json
    from datetime import UTC, datetime

    from hub.operator import (
        alerts_from_topics,
        parse_duration,
        registered_kecamatan,
        select_alerts,
    )
    from topics.admin import agencies_on_broker

    try:
        since = datetime.now(UTC) - parse_duration(since_text) if since_text else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    if agency is not None:
        agency = _known(agency, agencies_on_broker(bootstrap), "agency", "--agency")
    views = asyncio.run(alerts_from_topics(bootstrap, since))
    if kecamatan is not None:
        areas = {v.alert.location.area.kecamatan or "" for v in views.values()}
        areas |= asyncio.run(registered_kecamatan(bootstrap))
        kecamatan = _known(kecamatan, areas, "kecamatan", "--kecamatan")
    chosen = select_alerts(views.values(), open_only=open_only, kecamatan=kecamatan, agency=agency)[
        :limit
    ]
    if as_json:
        click.echo(json.dumps([view.as_json() for view in chosen], indent=2))
        return
    click.echo(
        f"{'updated':<19} {'status':<8} {'severity':<8} {'category':<16} {'camera':<28} "
        f"{'kecamatan':<20} {'agencies':<40} {'alert':<28} title"
    )
    for view in chosen:
        a = view.alert
        handled = " ".join(f"{h.agency}:{h.state}" for h in view.agencies.values()) or "-"
        click.echo(
            f"{a.updated_at:%Y-%m-%d %H:%M:%S} {a.status:<8} {a.severity:<8} {a.category:<16} "
            f"{a.camera_id:<28} {a.location.area.kecamatan or '-':<20} {handled:<40} "
            f"{a.alert_id:<28} {a.title}"
        )


def _known(value: str, valid: Iterable[str], what: str, option: str) -> str:
    from topics.names import UnknownName, known_name

    try:
        return known_name(value, valid, what=what)
    except UnknownName as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@click.group()
def dlq() -> None:
    """Dead letters: refused input and failed deliveries; list and replay them."""


@dlq.command("list")
@click.option("--kind", type=click.Choice(DEAD_LETTER_KINDS), default=None)
@click.option("--max", "limit", type=int, default=50, show_default=True, help="Rows to show.")
@click.option(
    "--each", is_flag=True, help="One row per dead letter instead of one per repeated cause."
)
@bootstrap_option
@json_option
def dlq_list(
    kind: str | None, limit: int, each: bool, bootstrap: str | None, as_json: bool
) -> None:
    """Dead letters, newest first, repeats of one cause (kind, component, topic and reason)
    folded into one row with their count; the first column is an id `replay --id` takes."""
    import asyncio
    import json

    from hub.operator import dead_letters, group_letters, letter_ids

    found = asyncio.run(dead_letters(bootstrap, kind))
    found.sort(key=lambda item: item[1].failed_at, reverse=True)
    if each:
        rows = found[:limit]
        if as_json:
            click.echo(
                json.dumps(
                    [
                        {"ids": sorted(letter_ids(r)), **letter.model_dump(mode="json")}
                        for r, letter in rows
                    ],
                    indent=2,
                )
            )
            return
        for record, letter in rows:
            click.echo(
                f"{record.ref:<10} {letter.failed_at:%Y-%m-%d %H:%M:%S} {letter.kind:<16} "
                f"{letter.source_topic or '-':<28} {letter.reason[:120]}"
            )
        return
    groups = group_letters(found)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {"count": g.count, "ids": g.refs, **g.newest.model_dump(mode="json")}
                    for g in groups[:limit]
                ],
                indent=2,
            )
        )
        return
    click.echo(f"{'id':<10} {'newest':<19} {'count':>6} {'kind':<16} {'source topic':<28} reason")
    for group in groups[:limit]:
        letter = group.newest
        click.echo(
            f"{group.ref:<10} {letter.failed_at:%Y-%m-%d %H:%M:%S} {group.count:>6} "
            f"{letter.kind:<16} {letter.source_topic or '-':<28} {letter.reason[:120]}"
        )
    if len(groups) > limit:
        click.echo(f"... {len(groups) - limit} more causes (--max)")


@dlq.command("unknown")
@click.option(
    "--since",
    "since_h",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Only dead letters of the last N hours [default: all retained].",
)
@click.option("--max", "limit", type=int, default=50, show_default=True)
@bootstrap_option
@json_option
def dlq_unknown(since_h: float | None, limit: int, bootstrap: str | None, as_json: bool) -> None:
    """The vendor topics and codes no event table maps, by connector, vendor and model, most
    frequent first."""
    import asyncio
    import json
    from datetime import UTC, datetime, timedelta

    from hub.event_gaps import event_gaps
    from hub.operator import dead_letters

    since = datetime.now(UTC) - timedelta(hours=since_h) if since_h is not None else None
    found = asyncio.run(dead_letters(bootstrap, DeadLetterKind.UNKNOWN_EVENT.value, since=since))
    gaps = event_gaps(letter for _record, letter in found)[:limit]
    if as_json:
        click.echo(json.dumps([gap.as_dict() for gap in gaps], indent=2))
        return
    if not gaps:
        click.echo("no unknown vendor topics or codes in the dead letters")
        return
    click.echo(
        f"{'count':>7} {'devices':>7}  {'connector':<12} {'vendor':<16} {'model':<24} "
        "vendor topic / code"
    )
    for gap in gaps:
        click.echo(
            f"{gap.count:>7} {len(gap.devices):>7}  {gap.connector[:12]:<12} {gap.vendor[:16]:<16} "
            f"{gap.model[:24]:<24} {gap.vendor_topic}"
        )


@dlq.command("replay")
@click.option(
    "--kind",
    type=click.Choice(DEAD_LETTER_KINDS),
    default="delivery_failed",
    show_default=True,
    help="processing_failed: records a defect made fail; replay them once it is fixed.",
)
@click.option(
    "--id",
    "ids",
    multiple=True,
    help="Dead letter id (partition-offset) or dispatch id; repeatable. Default: all of the kind.",
)
@click.option(
    "--actor",
    default="operator",
    show_default=True,
    help="Who replays (recorded in the audit topic).",
)
@bootstrap_option
def dlq_replay(kind: str, ids: tuple[str, ...], actor: str, bootstrap: str | None) -> None:
    """Re-send dead letters where they were going (dispatches to their agency's topic and webhook)."""
    import asyncio

    from hub.operator import NotReplayable, dead_letters, replay
    from topics.client import CatalogProducer

    async def run() -> int:
        found = await dead_letters(bootstrap, kind, ids)
        done = 0
        async with CatalogProducer(bootstrap, client_id="tilik-dlq-replay") as producer:
            for record, letter in found:
                try:
                    target = await replay(producer, record, letter, actor)
                except NotReplayable as exc:
                    click.echo(f"skipped {record.ref}: {exc}", err=True)
                    continue
                click.echo(f"replayed {record.ref} -> {target}")
                done += 1
        return done

    count = asyncio.run(run())
    click.echo(f"{count} dead letter(s) replayed")
