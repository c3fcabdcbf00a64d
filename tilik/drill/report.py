"""The drill's printed report: the timeline of faults and the ledger's counts and losses."""

from __future__ import annotations

import click

from tilik.drill.faults import FaultResult
from tilik.drill.ledger import Ledger


def print_report(
    faults: list[FaultResult], ledger: Ledger, *, send_failures: int, elapsed_s: float
) -> None:
    click.echo("\nfaults:")
    for fault in faults:
        click.echo(
            f"  {fault.name:<22} down {fault.down_s:5.1f}s, recovered in "
            f"{fault.recovered_after_s:5.1f}s: {fault.detail}"
        )
    click.echo("\nledger:")
    for name, count in ledger.counts.items():
        click.echo(f"  {name:<40} {count:>7}")
    click.echo(f"  {'sends retried by the traffic generator':<40} {send_failures:>7}")
    click.echo(f"\ndrill took {elapsed_s:.0f}s")
    if ledger.ok:
        click.secho("nothing lost", fg="green")
        return
    click.secho("LOST:", fg="red", err=True)
    for loss in ledger.losses:
        click.secho(f"  {loss}", fg="red", err=True)
