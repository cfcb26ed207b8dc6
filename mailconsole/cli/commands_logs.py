"""`mailconsole logs export|list|show`: the mail log from a shell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from mailconsole.cli.common import app_context, echo_json, echo_table, format_option, handle_errors
from mailconsole.cli.options import build_filter, cell, echo_pairs, filter_options, pop_filter
from mailconsole.errors import StoreError
from mailconsole.services.export import export_messages
from mailconsole.services.logs import MessageDetail, message_detail, page_messages


@click.group("logs")
def logs_group() -> None:
    """The mail log: export, list and show messages."""


@logs_group.command(
    "export",
    epilog="""\b
Streams any number of rows in constant memory. CSV cells that start with =, +, -, @, tab or CR
get a leading ' so a spreadsheet never runs them.
Examples:
  mailconsole logs export --status dead --search http_5 --format=csv --output failures.csv
  mailconsole logs export --since 24h --backend postmark-main --format=jsonl | gzip > day.jsonl.gz
  mailconsole logs export --filter 'status:dead err:smtp_5 domain:gmail.com' --format=json""",
)
@filter_options
@format_option("csv", "json", "jsonl", default="csv")
@click.option("--output", "-o", default="-", metavar="FILE", help="Write here (default: stdout).")
@handle_errors
def export_cmd(fmt: str, output: str, **kwargs: Any) -> None:
    """Export the messages that match the filter (metadata only, never bodies)."""
    ctx = app_context()
    flt = build_filter(ctx, pop_filter(kwargs))
    if output == "-":
        export_messages(ctx, flt, fmt, sys.stdout, destination="stdout")  # type: ignore[arg-type]
        return
    path = Path(output)
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            count = export_messages(ctx, flt, fmt, out, destination=str(path))  # type: ignore[arg-type]
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror}") from None
    click.echo(f"exported {count} message(s) to {path}", err=True)


@logs_group.command(
    "list",
    epilog="""\b
Examples:
  mailconsole logs list --status dead --limit 20
  mailconsole logs list --search "invoice" --format=json""",
)
@filter_options
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 5000))
@format_option("table", "json")
@handle_errors
def list_cmd(limit: int, fmt: str, **kwargs: Any) -> None:
    """The newest messages that match the filter."""
    ctx = app_context()
    page = page_messages(ctx, build_filter(ctx, pop_filter(kwargs)), limit=limit)
    if fmt == "json":
        echo_json({"rows": [r.to_dict() for r in page.rows], "has_more": page.has_more})
        return
    echo_table(
        ["id", "created", "status", "backend", "to", "subject", "error"],
        [
            [
                r.id,
                r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                r.status,
                cell(r.backend or r.account),
                cell(r.to_addrs),
                cell(r.subject),
                cell(r.last_error_code),
            ]
            for r in page.rows
        ],
    )
    if page.has_more:
        click.echo(f"… more: narrow the filter or raise --limit (showing {len(page.rows)})")


def _print_detail(d: MessageDetail) -> None:
    r = d.row
    pairs: list[tuple[str, Any]] = [
        ("Message", r.id),
        ("Status", r.status),
        ("Created", r.created_at.isoformat()),
        ("From", cell(r.from_addr)),
        ("To", cell(r.to_addrs)),
        ("Subject", cell(r.subject)),
        ("Backend", cell(r.backend or r.account or "(routing)")),
        ("Attempts", r.attempts),
        ("Last error", cell(f"{r.last_error_code or ''} {r.last_error or ''}".strip()) or "—"),
        ("Provider id", cell(r.provider_message_id) or "—"),
    ]
    if d.replay_source is not None:
        pairs.append(("Replays", f"message {d.replay_source.id} ({d.replay_source.status})"))
    if d.replays:
        pairs.append(("Resent as", ", ".join(f"{m.id} ({m.status})" for m in d.replays)))
    echo_pairs(pairs)
    if d.attempts:
        click.echo()
        echo_table(
            ["#", "at", "backend", "outcome", "error", "provider", "ms"],
            [
                [
                    a.attempt_no,
                    a.at.strftime("%Y-%m-%d %H:%M:%S"),
                    cell(a.backend),
                    a.outcome,
                    cell(a.error_code),
                    cell(a.provider_code),
                    f"{a.duration_ms:.0f}",
                ]
                for a in d.attempts
            ],
        )
    if d.events:
        click.echo()
        echo_table(
            ["at", "event", "detail"],
            [[e.at.strftime("%Y-%m-%d %H:%M:%S"), cell(e.type), cell(e.detail)] for e in d.events],
        )


@logs_group.command(
    "show",
    epilog="""\b
Examples:
  mailconsole logs show 1234
  mailconsole logs show 1234 --format=json --body""",
)
@click.argument("message_id", type=int)
@click.option("--body", is_flag=True, help="Include the stored body (JSON output only).")
@format_option("text", "json", default="text")
@handle_errors
def show_cmd(message_id: int, body: bool, fmt: str) -> None:
    """One message with its attempts, provider events and resends."""
    detail = message_detail(app_context(), message_id)
    if fmt == "json":
        data = detail.to_dict()
        if not body:
            data.pop("body", None)
        echo_json(data)
    else:
        _print_detail(detail)


def register(group: click.Group) -> None:
    group.add_command(logs_group)
