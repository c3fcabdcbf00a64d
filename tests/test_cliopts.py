"""Command options take their defaults and bounds from the models they fill."""

from __future__ import annotations

import click
from click.testing import CliRunner

from connectors.sdk.runtime import RuntimeOptions
from core.cliopts import field_default, field_option
from hub.config import HubConfig
from hub.delivery.policy import RetryPolicy
from tilik.cli import cli


def test_an_option_has_the_fields_default_and_bounds() -> None:
    @click.command()
    @field_option(RetryPolicy, "max_attempts", "--attempts")
    def command(attempts: int) -> None:
        click.echo(attempts)

    runner = CliRunner()
    assert runner.invoke(command, []).output.strip() == str(RetryPolicy().max_attempts)
    refused = runner.invoke(command, ["--attempts", "0"])
    assert refused.exit_code == 2 and "1<=x<=50" in refused.output


def test_the_hub_and_connector_commands_show_the_models_defaults() -> None:
    runner = CliRunner()
    worker = runner.invoke(cli, ["hub", "worker", "--help"]).output
    assert f"[default: {HubConfig.model_fields['health_check_every_s'].default}" in worker
    run = runner.invoke(cli, ["connectors", "run", "--help"]).output
    assert f"[default: {field_default(RuntimeOptions, 'concurrency')};" in run
