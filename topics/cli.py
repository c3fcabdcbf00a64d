"""``tilik topics apply|list|docs``, ``tilik produce`` and ``tilik tail``: operating the catalog topics."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.settings import get_settings
from topics.catalog import TopicSpec, all_topics, get_spec

if TYPE_CHECKING:
    from aiokafka import TopicPartition

    from topics.client import Received

BOOTSTRAP_HELP = "Kafka bootstrap host:port (default: TILIK_BOOTSTRAP)."


def _spec(name: str) -> TopicSpec:
    try:
        return get_spec(name)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="TOPIC") from None


def _require_agency_topic(spec: TopicSpec, bootstrap: str | None) -> None:
    """An agency's topic names an agency the broker has: a misspelt one is an error, not a wait
    on a topic that will never exist."""
    from topics.admin import agencies_on_broker
    from topics.catalog import agency_of_topic
    from topics.names import UnknownName, known_name

    agency = agency_of_topic(spec.name)
    if agency is None:
        return
    try:
        if known_name(agency, agencies_on_broker(bootstrap), what="agency") != agency:
            raise UnknownName(f"agency names are lower case: {agency.lower()!r}")
    except UnknownName as exc:
        raise click.BadParameter(str(exc), param_hint="TOPIC") from None


@click.group()
def topics() -> None:
    """Create, list and document the catalog topics."""


@topics.command("apply")
@click.option("--bootstrap", metavar="HOST:PORT", help=BOOTSTRAP_HELP)
@click.option(
    "--replication-factor", type=click.IntRange(min=1), help="Default: TILIK_REPLICATION_FACTOR."
)
@click.option("--dry-run", is_flag=True, help="Show what would change without changing it.")
def apply_command(bootstrap: str | None, replication_factor: int | None, dry_run: bool) -> None:
    """Create missing topics, add partitions, reconcile configs. Never shrinks partitions."""
    from topics.admin import AdminError, apply_catalog
    from topics.console import render_table

    try:
        plan = apply_catalog(
            bootstrap=bootstrap, replication_factor=replication_factor, dry_run=dry_run
        )
    except AdminError as exc:
        raise click.ClickException(str(exc)) from None
    if not plan.changes:
        click.echo("no changes: every catalog topic matches its declaration")
        return
    rows = [
        {"topic": c.topic, "action": c.action.value, "details": c.details} for c in plan.changes
    ]
    click.echo(render_table(rows, ["topic", "action", "details"]))
    click.echo(f"{len(plan.changes)} change(s) {'planned (dry run)' if dry_run else 'applied'}")


@topics.command("list")
@click.option("--bootstrap", metavar="HOST:PORT", help=BOOTSTRAP_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@click.option("--timeout", default=3.0, show_default=True, help="Seconds to wait for the broker.")
def list_command(bootstrap: str | None, as_json: bool, timeout: float) -> None:
    """The catalog, and whether each topic exists on the broker (when one answers)."""
    from topics.admin import AdminError, broker_state
    from topics.console import catalog_rows, dump_json, render_table

    specs = all_topics()
    address = bootstrap or get_settings().bootstrap
    # An unreachable broker is reported once below, not as a screen of retry warnings.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        states = broker_state(specs, bootstrap=bootstrap, timeout_s=timeout)
        broker_note = None
    except AdminError as exc:
        states, broker_note = None, f"broker {address} unreachable: {exc}"
    rows = catalog_rows(specs, states)
    if as_json:
        click.echo(dump_json({"broker": address, "reachable": states is not None, "topics": rows}))
        return
    columns = ["name", "key", "model", "partitions", "cleanup", "retention"]
    if states is not None:
        for row in rows:
            row["on broker"] = (
                f"yes ({row['broker_partitions']} partitions)" if row["on_broker"] else "missing"
            )
        columns.append("on broker")
    click.echo(render_table(rows, columns))
    if broker_note:
        click.echo(broker_note)


@topics.command("docs")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs/topics"),
    show_default=True,
)
@click.option(
    "--access-doc",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Also refresh the generated role x topic table in this file (docs/access.md).",
)
def docs_command(out: Path, access_doc: Path | None) -> None:
    """Write one JSON Schema per payload, the AsyncAPI 3.0 document and the role x topic table."""
    from topics.access.docs import render_access_table, replace_table
    from topics.docs import write_docs

    settings = get_settings()
    for path in write_docs(
        out, server=settings.bootstrap.split(",")[0], replicas=settings.replication_factor
    ):
        click.echo(str(path))
    if access_doc is not None:
        text = access_doc.read_text(encoding="utf-8")
        try:
            updated = replace_table(text, render_access_table())
        except ValueError as exc:
            raise click.ClickException(f"{access_doc}: {exc}") from None
        access_doc.write_text(updated, encoding="utf-8")
        click.echo(str(access_doc))


@click.command()
@click.argument("topic")
@click.option(
    "--file",
    "path",
    type=click.File("r", encoding="utf-8"),
    required=True,
    help="JSON lines, one payload per line ('-' for stdin).",
)
@click.option("--bootstrap", metavar="HOST:PORT", help=BOOTSTRAP_HELP)
@click.option("--key", help="Record key for every line (default: the topic's key field).")
@click.option(
    "--dead-letter-invalid/--no-dead-letter-invalid",
    default=True,
    show_default=True,
    help="Publish invalid lines to the dead-letter topic with the reason.",
)
@click.option(
    "--raw", is_flag=True, help="Send lines unvalidated (to test consumers' dead letters)."
)
def produce(
    topic: str,
    path: click.utils.LazyFile,
    bootstrap: str | None,
    key: str | None,
    dead_letter_invalid: bool,
    raw: bool,
) -> None:
    """Publish a JSON-lines file to TOPIC (a full name or an alias such as `registry`)."""
    from topics.client import CatalogProducer
    from topics.console import produce_lines

    spec = _spec(topic)

    async def run() -> None:
        async with CatalogProducer(bootstrap, client_id="tilik-cli") as producer:
            report = await produce_lines(
                producer,
                spec,
                path,
                source=getattr(path, "name", "input"),
                raw=raw,
                key=key,
                dead_letter_invalid=dead_letter_invalid,
            )
        for rejected in report.rejected:
            click.echo(f"line {rejected.line}: {rejected.reason}", err=True)
        click.echo(
            f"sent {report.sent} to {spec.name}; invalid {len(report.rejected)}"
            + (f" (dead-lettered {report.dead_lettered})" if report.dead_lettered else "")
        )
        if report.rejected:
            sys.exit(1)

    asyncio.run(run())


#: how often ``tail --exit-at-end`` looks whether it has reached the end while the topic is quiet
END_CHECK_S = 0.5


@click.command()
@click.argument("topic")
@click.option("--bootstrap", metavar="HOST:PORT", help=BOOTSTRAP_HELP)
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of readable lines.")
@click.option("--max", "max_messages", type=click.IntRange(min=1), help="Stop after N messages.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    help="Stop after S seconds (exit 0), however busy the topic is.",
)
@click.option(
    "-e",
    "--exit-at-end",
    is_flag=True,
    help="Read to the end the topic's partitions have when tail starts, then exit 0 (kcat -e).",
)
@click.option("--from-beginning", is_flag=True, help="Start at the oldest retained message.")
@click.option("--group", help="Consumer group (commits offsets); default: none.")
@click.option("--key", help="Only messages with this key.")
@click.option(
    "--agency",
    help="With TOPIC `dispatch`: the agency whose dispatch topic to show (same as dispatch.AGENCY).",
)
@click.option(
    "--validate-to-dlq",
    is_flag=True,
    help="Dead-letter invalid messages instead of showing them.",
)
def tail(
    topic: str,
    bootstrap: str | None,
    as_json: bool,
    max_messages: int | None,
    timeout: float | None,
    exit_at_end: bool,
    from_beginning: bool,
    group: str | None,
    key: str | None,
    agency: str | None,
    validate_to_dlq: bool,
) -> None:
    """Show messages of TOPIC as they arrive; invalid ones are marked INVALID with the reason.

    An agency's dispatches: ``tilik tail dispatch --agency dishub`` (or ``dispatch.dishub``).
    Everything retained, then exit: ``tilik tail registry --from-beginning -e``.
    """
    from topics.client import CatalogConsumer
    from topics.console import dump_json, message_line, message_record

    if agency is not None:
        if topic != "dispatch":
            raise click.UsageError("--agency goes with the topic `dispatch`")
        topic = f"dispatch.{agency}"
    spec = _spec(topic)
    _require_agency_topic(spec, bootstrap)
    deadline = None if timeout is None else time.monotonic() + timeout

    def wait_s() -> float | None:
        """How long the next read may wait: never past the deadline, briefly when watching for the end."""
        wait = END_CHECK_S if exit_at_end else None
        if deadline is not None:
            left = max(deadline - time.monotonic(), 0.0)
            wait = left if wait is None else min(wait, left)
        return wait

    async def run() -> None:
        shown = 0
        async with CatalogConsumer(
            spec,
            group_id=group,
            component="cli.tail",
            bootstrap=bootstrap,
            auto_offset_reset="earliest" if from_beginning else "latest",
            yield_invalid=not validate_to_dlq,
        ) as consumer:
            ends = None
            while max_messages is None or shown < max_messages:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                message = await consumer.next(timeout_s=wait_s())
                if exit_at_end and not ends:
                    # The first read brings the partitions; their ends then are "the end".
                    ends = await consumer.end_offsets()
                if (
                    message is not None
                    and (key is None or message.key == key)
                    and not (ends and _past(message, ends))
                ):
                    click.echo(
                        dump_json(message_record(message)) if as_json else message_line(message)
                    )
                    shown += 1
                if ends and await consumer.caught_up(ends):
                    break

    asyncio.run(run())


def _past(message: Received, ends: Mapping[TopicPartition, int]) -> bool:
    """Whether ``message`` came after the end ``tail --exit-at-end`` set out to reach."""
    end = next(
        (
            offset
            for tp, offset in ends.items()
            if (tp.topic, tp.partition) == (message.topic, message.partition)
        ),
        None,
    )
    return end is not None and message.offset >= end
