"""`mailconsole audit`: the append-only trail of operator actions."""

from __future__ import annotations

import json
import sys

import click

from mailconsole.cli.common import (
    app_context,
    csv_writer,
    echo_json,
    echo_table,
    format_option,
    handle_errors,
    neutralize_cell,
)
from mailconsole.cli.options import cell
from mailconsole.services.audit import audit_log
from mailconsole.services.filters import parse_time

COLUMNS = [
    "id",
    "at",
    "actor",
    "ssh_client",
    "interface",
    "action",
    "count",
    "outcome",
    "reason",
    "target",
    "detail",
]


@click.command(
    "audit",
    epilog="""\b
Examples:
  mailconsole audit --since 24h
  mailconsole audit --action retry --format=json
  mailconsole audit --actor alice --since 2026-11-01 --format=csv > audit.csv""",
)
@click.option("--since", metavar="WHEN", help="At or after: 24h (ago), 7d, or a date.")
@click.option("--until", metavar="WHEN", help="Before: 1h (ago) or a date.")
@click.option("--actor", help="Who (the login name).")
@click.option("--action", help="Action, or its prefix: retry, purge, fallback., secrets.…")
@click.option("--outcome", type=click.Choice(["ok", "refused", "failed", "dry-run"]))
@click.option("--limit", default=500, show_default=True, type=click.IntRange(1, 100_000))
@format_option("table", "json", "csv")
@handle_errors
def audit_cmd(
    since: str | None,
    until: str | None,
    actor: str | None,
    action: str | None,
    outcome: str | None,
    limit: int,
    fmt: str,
) -> None:
    """Who did what, when, to what, how many, why, and how it ended (newest first)."""
    ctx = app_context()
    now = ctx.clock.now()
    rows = audit_log(
        ctx,
        since=parse_time(since, now) if since else None,
        until=parse_time(until, now) if until else None,
        actor=actor,
        action=action,
        outcome=outcome,
        limit=limit,
    )
    if fmt == "json":
        echo_json([r.to_dict() for r in rows])
    elif fmt == "csv":
        writer = csv_writer(sys.stdout)
        writer.writerow(COLUMNS)
        for r in rows:
            data = r.to_dict()
            data["target"] = json.dumps(r.target, ensure_ascii=False) if r.target else None
            writer.writerow([neutralize_cell(data[c]) for c in COLUMNS])
    else:
        echo_table(
            ["at", "actor", "action", "count", "outcome", "reason", "target"],
            [
                [
                    r.at.strftime("%Y-%m-%d %H:%M:%S"),
                    cell(r.actor + (f"@{r.ssh_client}" if r.ssh_client else "")),
                    cell(r.action),
                    "" if r.count is None else r.count,
                    r.outcome,
                    cell(r.reason),
                    cell(json.dumps(r.target, ensure_ascii=False) if r.target else ""),
                ]
                for r in rows
            ],
        )


def register(group: click.Group) -> None:
    group.add_command(audit_cmd)
