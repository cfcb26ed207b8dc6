"""`mailconsole health check`, `retry`, `resend`, `suppress`, `unsuppress`: incident response."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from mailconsole.cli.common import app_context, echo_json, format_option, handle_errors
from mailconsole.cli.options import (
    build_filter,
    cell,
    confirm_count,
    counts_line,
    dry_run_option,
    echo_pairs,
    filter_options,
    ids_from,
    pop_filter,
    reason_option,
    yes_option,
)
from mailconsole.errors import StoreError
from mailconsole.services import operations
from mailconsole.services.health import Check, HealthReport, health_check
from mailconsole.services.logs import get_row
from mailconsole.services.retry import RetryPlan, apply_retry, resend, retry_plan

LABELS = {"ok": "OK", "warning": "WARNING", "critical": "CRITICAL"}


# --- health -----------------------------------------------------------------------------------


@click.group("health")
def health_group() -> None:
    """Health checks for monitoring."""


@health_group.command(
    "check",
    epilog="""\b
Exit code: 0 ok, 1 warning, 2 critical (the monitoring-plugin convention).
Thresholds: the [thresholds] section of the config.
Examples:
  mailconsole health check
  mailconsole health check --format=json || page-the-on-call""",
)
@format_option("table", "json")
@handle_errors
def health_check_cmd(fmt: str) -> None:
    """Database, scheduler heartbeat, backlog, age, failure rate, dead letters, outages, credentials."""
    try:
        report = health_check(app_context(check_schema=False))
    except StoreError as exc:  # the database cannot even be opened: that is the verdict
        report = HealthReport(
            status="critical",
            checks=[Check("database", "critical", None, str(exc))],
            exit_code=2,
            generated_at=datetime.now(UTC),
        )
    if fmt == "json":
        echo_json(report.to_dict())
    else:
        click.echo(f"{LABELS[report.status]}: mailconsole health")
        width = max(len(c.name) for c in report.checks)
        for c in report.checks:
            click.echo(f"  {LABELS[c.status]:8}  {c.name.ljust(width)}  {cell(c.reason)}")
    sys.exit(report.exit_code)


# --- retry ---------------------------------------------------------------------------------------


def _print_plan(plan: RetryPlan) -> None:
    pairs: list[tuple[str, Any]] = [
        ("Selection", cell(plan.describe())),
        ("Matched", plan.matched),
        ("Retryable", plan.retryable),
        ("Not retryable", counts_line(plan.not_retryable)),
        ("By error code", counts_line(plan.by_error_code)),
        ("By domain", counts_line(plan.by_domain)),
        ("By backend", counts_line(plan.by_backend)),
        ("Oldest", plan.oldest.isoformat() if plan.oldest else "—"),
        ("Newest", plan.newest.isoformat() if plan.newest else "—"),
    ]
    echo_pairs(pairs)


@click.command(
    "retry",
    epilog="""\b
First the plan (what matches, what is retryable, by error code, domain and backend), then the
change. Sent, queued and suppressed messages are never retried.
Examples:
  mailconsole retry --status dead --error-code http_5 --since 6h --dry-run
  mailconsole retry --status dead --search http_503 --yes --reason "postmark outage over"
  mailconsole retry --id 1201,1202 --id 1305""",
)
@click.option("--id", "ids", multiple=True, metavar="ID[,ID]", help="Retry these messages.")
@filter_options
@dry_run_option
@yes_option
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def retry_cmd(
    ids: tuple[str, ...], dry_run: bool, yes: bool, reason: str | None, fmt: str, **kwargs: Any
) -> None:
    """Re-queue failed messages: dead letters, bounces, cancelled ones."""
    ctx = app_context()
    flt = build_filter(ctx, pop_filter(kwargs))
    plan = retry_plan(ctx, flt, ids=ids_from(ids) or None)
    if fmt != "json":
        _print_plan(plan)
    if dry_run or plan.retryable == 0:
        if fmt == "json":
            echo_json({"plan": plan.to_dict(), "retried": 0, "dry_run": dry_run})
        else:
            click.echo("dry run: nothing changed" if dry_run else "nothing to retry")
        return
    what = (
        f"{plan.retryable} selected message(s)"
        if plan.selection == "ids"
        else f"all {plan.retryable} retryable message(s) matching this filter"
    )
    confirm_count(ctx, f"Retry {what}?", plan.retryable, yes=yes)
    changed = apply_retry(ctx, plan, reason=reason)
    if fmt == "json":
        echo_json({"plan": plan.to_dict(), "retried": changed, "dry_run": False})
    else:
        click.echo(f"re-queued {changed} message(s)")


@click.command(
    "resend",
    epilog="""\b
A new message copies the stored one (body, headers, tag) with your overrides and records which
message it replays; the original is never changed. With --to, the original cc/bcc are dropped.
Examples:
  mailconsole resend 1234
  mailconsole resend 1234 --to ana@example.com --subject "Your invoice (resent)" --backend smtp-fallback""",
)
@click.argument("message_id", type=int)
@click.option("--to", "to", multiple=True, metavar="ADDRESS", help="Send to these instead.")
@click.option("--subject", help="Replace the subject.")
@click.option("--backend", metavar="ACCOUNT", help="Send through this account.")
@yes_option
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def resend_cmd(
    message_id: int,
    to: tuple[str, ...],
    subject: str | None,
    backend: str | None,
    yes: bool,
    reason: str | None,
    fmt: str,
) -> None:
    """Queue a copy of a stored message, optionally to other recipients or through another account."""
    ctx = app_context()
    source = get_row(ctx, message_id)
    recipients = [a for item in to for a in item.split(",") if a.strip()]
    if fmt != "json":
        click.echo(
            f"resend message {source.id} ({source.status}) "
            f"to {cell(', '.join(recipients) or source.to_addrs)} "
            f"subject {cell(subject or source.subject)!r} "
            f"via {cell(backend or source.account or 'routing')}"
        )
    confirm_count(ctx, "Queue this copy?", 1, yes=yes)
    new_id = resend(
        ctx, message_id, to=recipients or None, subject=subject, backend=backend, reason=reason
    )
    if fmt == "json":
        echo_json({"id": new_id, "replay_of": message_id, "status": "queued"})
    else:
        click.echo(f"queued message {new_id} (replays {message_id})")


# --- suppressions -------------------------------------------------------------------------------


@click.command(
    "suppress",
    epilog='\b\nExample:\n  mailconsole suppress ana@example.com --reason "asked by phone, ticket 881"',
)
@click.argument("address")
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def suppress_cmd(address: str, reason: str | None, fmt: str) -> None:
    """Never send to ADDRESS again (queued mail to it becomes `suppressed`)."""
    changed = operations.suppress(app_context(), address, reason=reason)
    if fmt == "json":
        echo_json({"address": address, "suppressed": True, "changed": changed})
    else:
        click.echo(
            f"{cell(address)} suppressed" if changed else f"{cell(address)} was already suppressed"
        )


@click.command(
    "unsuppress",
    epilog='\b\nExample:\n  mailconsole unsuppress ana@example.com --reason "mailbox fixed"',
)
@click.argument("address")
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def unsuppress_cmd(address: str, reason: str | None, fmt: str) -> None:
    """Allow sending to ADDRESS again."""
    changed = operations.unsuppress(app_context(), address, reason=reason)
    if fmt == "json":
        echo_json({"address": address, "suppressed": False, "changed": changed})
    else:
        click.echo(
            f"{cell(address)} unsuppressed" if changed else f"{cell(address)} was not suppressed"
        )


def register(group: click.Group) -> None:
    group.add_command(health_group)
    group.add_command(retry_cmd)
    group.add_command(resend_cmd)
    group.add_command(suppress_cmd)
    group.add_command(unsuppress_cmd)
