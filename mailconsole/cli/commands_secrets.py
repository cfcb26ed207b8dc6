"""`mailconsole secrets set|delete|status`: account secrets in the OS keyring, never echoed."""

from __future__ import annotations

import sys

import click

from mailconsole.cli.common import app_context, echo_json, echo_table, format_option, handle_errors
from mailconsole.cli.options import reason_option
from mailconsole.errors import SecretError
from mailconsole.services.secrets_admin import delete_secret, secret_status, set_secret


@click.group("secrets")
def secrets_group() -> None:
    """Account secrets (tokens, SMTP passwords): keyring or environment, never the config file."""


def _read_secret(account: str) -> str:
    """From a terminal without echo (typed twice), else the first line of stdin."""
    if sys.stdin.isatty():
        return click.prompt(
            f"Secret for {account}", hide_input=True, confirmation_prompt=True, show_default=False
        )
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise SecretError(
            "no secret on stdin: pipe it in, e.g. `pass show pm | mailconsole secrets set ACCOUNT`"
        )
    return value


@secrets_group.command(
    "set",
    epilog="""\b
Reads the secret without echo, or from stdin when it is not a terminal.
Examples:
  mailconsole secrets set postmark-main
  vault kv get -field=token secret/postmark | mailconsole secrets set postmark-main
On a host without a keyring, export MAILCONSOLE_SECRET_<ACCOUNT> for the process instead.""",
)
@click.argument("account")
@reason_option
@handle_errors
def set_cmd(account: str, reason: str | None) -> None:
    """Store ACCOUNT's secret in the OS keyring."""
    ctx = app_context()
    secret_status(ctx, account)  # an unknown account is named before anything is typed
    set_secret(ctx, account, _read_secret(account), reason=reason)
    click.echo(f"secret for {account} stored in the OS keyring")


@secrets_group.command(
    "delete", epilog="\b\nExample:\n  mailconsole secrets delete postmark-main --reason rotated"
)
@click.argument("account")
@reason_option
@handle_errors
def delete_cmd(account: str, reason: str | None) -> None:
    """Remove ACCOUNT's secret from the OS keyring (the environment is not touched)."""
    removed = delete_secret(app_context(), account, reason=reason)
    click.echo(
        f"secret for {account} removed from the OS keyring"
        if removed
        else f"no keyring entry for {account}: nothing removed"
    )


@secrets_group.command(
    "status",
    epilog="""\b
Examples:
  mailconsole secrets status
  mailconsole secrets status postmark-main --format=json""",
)
@click.argument("account", required=False)
@format_option("table", "json")
@handle_errors
def status_cmd(account: str | None, fmt: str) -> None:
    """Where each account's secret comes from (keyring, environment, missing) — never the value.

    Exits 1 when an account that needs a secret has none.
    """
    views = secret_status(app_context(), account)
    if fmt == "json":
        echo_json([v.to_dict() for v in views])
    else:
        echo_table(
            ["account", "type", "source", "env var", "detail"],
            [[v.account, v.type, v.source, v.env_var, v.detail] for v in views],
        )
        if views and not views[0].keyring_usable:
            click.echo("no usable OS keyring on this host: use the environment variables", err=True)
    if any(v.source == "missing" for v in views):
        sys.exit(1)


def register(group: click.Group) -> None:
    group.add_command(secrets_group)
