"""`mailconsole config check`: validate the file and print the effective configuration."""

from __future__ import annotations

import click

from mailconsole.cli.common import CliState, echo_json, format_option, handle_errors
from mailconsole.config import load_config
from mailconsole.secrets import SecretStore
from mailconsole.services.config_view import config_report, render_toml


@click.group("config")
def config_group() -> None:
    """The configuration file."""


@config_group.command(
    "check",
    epilog="""\b
Secret-looking values are masked; each account shows where its secret comes from.
Examples:
  mailconsole config check
  mailconsole --config /etc/mailconsole/config.toml config check --format=json""",
)
@format_option("toml", "json", default="toml")
@click.pass_obj
@handle_errors
def check_cmd(state: CliState, fmt: str) -> None:
    """Validate the config and print it with defaults filled in and secrets masked."""
    config = load_config(state.config_path)
    report = config_report(config, SecretStore())
    if fmt == "json":
        echo_json(report.to_dict())
        return
    click.echo(f"# {report.source}: valid")
    click.echo(render_toml(report.effective))
    click.echo("\n# where each account's secret comes from (values are never shown)")
    for name, cred in report.credentials.items():
        click.echo(f"#   {name}: {cred['source']} ({cred['detail']})")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)


def register(group: click.Group) -> None:
    group.add_command(config_group)
