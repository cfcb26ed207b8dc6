"""`mailconsole queue status|run|purge|pause|resume|reset-circuit` and `fallback enable|disable`."""

from __future__ import annotations

import asyncio

import click

from mailconsole.cli.common import app_context, echo_json, echo_table, format_option, handle_errors
from mailconsole.cli.options import (
    cell,
    confirm_count,
    counts_line,
    dry_run_option,
    echo_pairs,
    reason_option,
    yes_option,
)
from mailconsole.clock import format_duration, parse_duration
from mailconsole.errors import ValidationError
from mailconsole.services import operations
from mailconsole.services.filters import parse_statuses
from mailconsole.services.metrics import QueueStatus, queue_status


@click.group("queue")
def queue_group() -> None:
    """The outbound queue: status, process now, purge, pause and resume."""


def _print_status(status: QueueStatus) -> None:
    age = status.oldest_queue_age_s
    echo_pairs(
        [
            ("Queue backlog", f"{status.queue_backlog} (queued + sending)"),
            ("Oldest queued", format_duration(age) if age is not None else "—"),
            ("Next attempt", status.next_attempt_at.isoformat() if status.next_attempt_at else "—"),
            (
                "Dead letters",
                f"{status.dead_letter_count} ({status.dead_letters_new_24h} new in 24 h)",
            ),
            (
                "Failure rate 24 h",
                f"{status.failure_rate_24h:.1%} ({status.failed_24h} of "
                f"{status.attempts_24h} attempts failed; previous 24 h "
                f"{status.failure_rate_prev_24h:.1%})",
            ),
            ("Sent 24 h", status.sent_24h),
            ("Dispatch", "PAUSED" if status.paused else "running"),
            ("Fallback", "enabled" if status.fallback_enabled else "disabled"),
        ]
        + [
            (
                "Never sent",
                f"{n} queued for {cell(name)}, not in the config: add it back, or purge them",
            )
            for name, n in status.stranded.items()
        ]
    )
    if status.by_backend:
        click.echo()
        echo_table(
            ["backend", "backlog", "sent_24h", "failed_24h", "rate", "paused", "circuit", "outage"],
            [
                [
                    cell(b.name),
                    b.backlog,
                    b.sent_24h,
                    b.failed_24h,
                    f"{b.failure_rate_24h:.1%}",
                    "yes" if b.paused else "",
                    b.circuit if b.circuit == "closed" else f"OPEN ({cell(b.circuit_reason)})",
                    (
                        f"open {format_duration(b.open_outage.duration_s)} "
                        f"({cell(b.open_outage.first_error_code)})"
                        if b.open_outage
                        else ""
                    ),
                ]
                for b in status.by_backend.values()
            ],
        )


@queue_group.command(
    "status",
    epilog="""\b
Examples:
  mailconsole queue status
  mailconsole queue status --format=json | jq .queue_backlog""",
)
@format_option("table", "json")
@handle_errors
def status_cmd(fmt: str) -> None:
    """Backlog, oldest age, dead letters, 24 h failure rate, switches and per-backend state."""
    status = queue_status(app_context())
    if fmt == "json":
        echo_json(status.to_dict())
    else:
        _print_status(status)


@queue_group.command(
    "run",
    epilog="""\b
Runs one dispatch through the scheduler's own path; it waits for (never runs beside) a dispatch
already in progress on any host.
Examples:
  mailconsole queue run
  mailconsole queue run --limit 500 --format=json""",
)
@click.option("--limit", type=click.IntRange(min=1), help="Claim at most N messages.")
@format_option("text", "json", default="text")
@handle_errors
def run_cmd(limit: int | None, fmt: str) -> None:
    """Process the queue now, then print what happened."""
    ctx = app_context()
    report = asyncio.run(operations.process_now(ctx, limit=limit))
    if fmt == "json":
        echo_json(report.to_dict())
        return
    click.echo(report.summary())
    if report.by_error_code:
        click.echo("by error code: " + counts_line(dict(report.by_error_code.most_common())))
    for name, counts in report.by_backend.items():
        click.echo(f"  {cell(name)}: " + counts_line(dict(counts)))
    if report.more_waiting:
        click.echo("more messages may be due: run it again, or let the worker continue")


@queue_group.command(
    "purge",
    epilog="""\b
Without --status, finished messages are purged (never queued or sending ones). Export first if
you may need them: `mailconsole logs export --until 30d --output old.csv`.
Examples:
  mailconsole queue purge --older-than=2592000 --dry-run
  mailconsole queue purge --older-than=30d --status dead --yes --reason "retention"
  mailconsole queue purge --all --status cancelled""",
)
@click.option(
    "--older-than", metavar="SECONDS", help="Created more than this long ago (90, 15m, 30d)."
)
@click.option("--all", "all_", is_flag=True, help="Purge whatever the age (explicit on purpose).")
@click.option("--status", multiple=True, metavar="STATUS[,STATUS]", help="Only these statuses.")
@dry_run_option
@yes_option
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def purge_cmd(
    older_than: str | None,
    all_: bool,
    status: tuple[str, ...],
    dry_run: bool,
    yes: bool,
    reason: str | None,
    fmt: str,
) -> None:
    """Delete old messages (with their bodies, attempts and events)."""
    if older_than is None and not all_:
        raise ValidationError(
            "refusing to purge without --older-than=SECONDS (or --all to purge regardless of age)"
        )
    if older_than is not None and all_:
        raise ValidationError("give --older-than or --all, not both")
    seconds = None
    if older_than is not None:
        try:
            seconds = parse_duration(older_than).total_seconds()
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
    statuses = [s for item in status for s in parse_statuses(item)]
    ctx = app_context()
    plan = operations.purge_plan(ctx, older_than_s=seconds, all=all_, statuses=statuses or None)
    when = f"created before {plan.cutoff.isoformat()}" if plan.cutoff else "of any age"
    summary = f"{plan.count} message(s) {when} with status {', '.join(plan.statuses)}"
    if dry_run or plan.count == 0:
        if fmt == "json":
            echo_json({"plan": plan.to_dict(), "purged": 0, "dry_run": dry_run})
        else:
            click.echo(("would purge " if dry_run else "nothing to purge: ") + summary)
        return
    if fmt != "json":
        click.echo(f"will purge {summary}")
    confirm_count(ctx, f"Purge {plan.count} message(s)?", plan.count, yes=yes)
    purged = operations.purge(ctx, plan, reason=reason)
    if fmt == "json":
        echo_json({"plan": plan.to_dict(), "purged": purged, "dry_run": False})
    else:
        click.echo(f"purged {purged} message(s)")


def _switch_output(fmt: str, data: dict[str, object], text: str) -> None:
    if fmt == "json":
        echo_json(data)
    else:
        click.echo(text)


@queue_group.command(
    "pause",
    epilog="""\b
Examples:
  mailconsole queue pause --reason "provider incident"
  mailconsole queue pause --backend postmark-main""",
)
@click.option("--backend", metavar="ACCOUNT", help="Pause one account only.")
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def pause_cmd(backend: str | None, reason: str | None, fmt: str) -> None:
    """Stop dispatching (every process on this database sees it at its next run)."""
    changed = operations.pause(app_context(), backend=backend, reason=reason)
    what = f"backend {backend}" if backend else "dispatch"
    _switch_output(
        fmt,
        {"backend": backend, "paused": True, "changed": changed},
        f"{what} paused" if changed else f"{what} was already paused",
    )


@queue_group.command(
    "resume",
    epilog="""\b
Examples:
  mailconsole queue resume
  mailconsole queue resume --backend postmark-main --reason "incident over\"""",
)
@click.option("--backend", metavar="ACCOUNT", help="Resume one account only.")
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def resume_cmd(backend: str | None, reason: str | None, fmt: str) -> None:
    """Dispatch again after a pause."""
    changed = operations.resume(app_context(), backend=backend, reason=reason)
    what = f"backend {backend}" if backend else "dispatch"
    _switch_output(
        fmt,
        {"backend": backend, "paused": False, "changed": changed},
        f"{what} resumed" if changed else f"{what} was not paused",
    )


@queue_group.command(
    "reset-circuit",
    epilog="""\b
Example, after fixing what opened it (a rotated token, a lifted suspension):
  mailconsole secrets set postmark-main
  mailconsole queue reset-circuit postmark-main --reason "token rotated\"""",
)
@click.argument("backend")
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def reset_circuit_cmd(backend: str, reason: str | None, fmt: str) -> None:
    """Close an account's circuit and end its open outage, so dispatch uses it again."""
    changed = operations.reset_circuit(app_context(), backend, reason=reason)
    _switch_output(
        fmt,
        {"backend": backend, "changed": changed},
        f"circuit of {backend} closed" if changed else f"circuit of {backend} was not open",
    )


@click.group("fallback")
def fallback_group() -> None:
    """Routing to the fallback account while the primary is in an outage."""


@fallback_group.command(
    "enable",
    epilog='\b\nExample:\n  mailconsole fallback enable --reason "postmark outage"',
)
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def fallback_enable(reason: str | None, fmt: str) -> None:
    """Let routing use the fallback account while the primary is in an outage."""
    changed = operations.set_fallback(app_context(), True, reason=reason)
    _switch_output(
        fmt,
        {"fallback_enabled": True, "changed": changed},
        "fallback enabled" if changed else "fallback was already enabled",
    )


@fallback_group.command(
    "disable", epilog='\b\nExample:\n  mailconsole fallback disable --reason "primary back"'
)
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def fallback_disable(reason: str | None, fmt: str) -> None:
    """Send through the primary only."""
    changed = operations.set_fallback(app_context(), False, reason=reason)
    _switch_output(
        fmt,
        {"fallback_enabled": False, "changed": changed},
        "fallback disabled" if changed else "fallback was already disabled",
    )


def register(group: click.Group) -> None:
    group.add_command(queue_group)
    group.add_command(fallback_group)
