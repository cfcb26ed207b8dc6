"""`mailconsole db upgrade|status`: schema migrations."""

from __future__ import annotations

import click

from mailconsole.cli.common import app_context, echo_json, format_option, handle_errors
from mailconsole.store.db import redact_url


@click.group("db")
def db_group() -> None:
    """Database schema: check and upgrade."""


@db_group.command("upgrade", epilog="\b\nExample:\n  mailconsole db upgrade")
@handle_errors
def upgrade() -> None:
    """Apply pending schema migrations (back up first on PostgreSQL)."""
    ctx = app_context(check_schema=False)
    before, after = ctx.db.upgrade()
    if before == after:
        click.echo(f"{redact_url(ctx.db.url)}: already at schema {after}")
    else:
        click.echo(f"{redact_url(ctx.db.url)}: upgraded schema {before or 'empty'} → {after}")


@db_group.command("status", epilog="\b\nExample:\n  mailconsole db status --format=json")
@format_option("table", "json")
@handle_errors
def status(fmt: str) -> None:
    """Show the database, its schema revision and the one this version needs."""
    ctx = app_context(check_schema=False)
    current, head = ctx.db.current_revision(), ctx.db.head_revision()
    data = {
        "database": redact_url(ctx.db.url),
        "current": current,
        "head": head,
        "up_to_date": current == head,
    }
    if fmt == "json":
        echo_json(data)
    else:
        for key, value in data.items():
            click.echo(f"{key:11} {value}")


def register(group: click.Group) -> None:
    group.add_command(db_group)
