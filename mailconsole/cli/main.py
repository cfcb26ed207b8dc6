"""`mailconsole`: with no command, the console; otherwise the runbooks' commands."""

from __future__ import annotations

import click

from mailconsole import __version__
from mailconsole.cli.common import CliState

EPILOG = """\b
Examples:
  mailconsole                         open the console (runs the scheduler unless another process leads)
  mailconsole demo                    open the console on a demo database
  mailconsole queue status --format=json
  mailconsole health check            exit 0 ok, 1 warning, 2 critical
"""


@click.group(
    invoke_without_command=True,
    epilog=EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="MAILCONSOLE_CONFIG",
    help="Configuration file (TOML).",
)
@click.option("--read-only", is_flag=True, help="Refuse every change (viewers, audits).")
@click.option(
    "--database-url",
    envvar="MAILCONSOLE_DATABASE_URL",
    help="Override the database (sqlite:///… or postgresql://…).",
)
@click.version_option(__version__, prog_name="mailconsole")
@click.pass_context
def cli(
    ctx: click.Context, config_path: str | None, read_only: bool, database_url: str | None
) -> None:
    """mailconsole: the operations console and delivery engine for outbound email."""
    ctx.obj = CliState(config_path=config_path, read_only=read_only, database_url=database_url)
    if ctx.invoked_subcommand is None:
        from mailconsole.cli.console import run_console

        run_console(ctx.obj)


def _register() -> None:
    from mailconsole.cli.registry import register_all

    register_all(cli)


_register()


def main() -> None:
    cli(prog_name="mailconsole")


if __name__ == "__main__":
    main()
