"""`mailconsole alerts list|test|ack|silence|unsilence|history|evaluate`."""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import datetime

import click

from mailconsole.alerts import service
from mailconsole.cli.common import (
    app_context,
    csv_writer,
    echo_json,
    echo_table,
    format_option,
    handle_errors,
    neutralize_cell,
)
from mailconsole.clock import format_duration, parse_duration
from mailconsole.errors import ValidationError


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def _state(view: service.AlertView) -> str:
    if view.status == "silenced":
        return f"silenced until {_when(view.silenced_until)}" + (
            " (firing)" if view.state == "firing" else ""
        )
    if view.status == "acknowledged":
        return f"acknowledged by {view.acked_by} ({view.level})"
    if view.state == "firing":
        return f"FIRING {view.level}"
    return "ok" if view.enabled else "disabled"


@click.group(
    "alerts",
    epilog="""\b
Examples:
  mailconsole alerts list
  mailconsole alerts ack failure_rate --reason "Postmark 503s, fallback enabled"
  mailconsole alerts silence queue_backlog --for 2h --reason "bulk import"
  mailconsole alerts history --limit 20 --format=json
  */1 * * * * mailconsole alerts evaluate      (cron: the scheduler's dead man's switch)""",
)
def alerts_group() -> None:
    """Alert rules, their state, and the notices sent."""


@alerts_group.command(
    "list",
    epilog="\b\nExamples:\n  mailconsole alerts list\n  mailconsole alerts list --format=json",
)
@format_option("table", "json")
@handle_errors
def list_cmd(fmt: str) -> None:
    """Every rule: current value, threshold, state, last fired, cooldown left."""
    ctx = app_context()
    views = service.list_alerts(ctx)
    problems = service.notifier_problems(ctx)
    if fmt == "json":
        echo_json({"alerts": [v.to_dict() for v in views], "notifier_problems": problems})
        return
    echo_table(
        [
            "rule",
            "watches",
            "value",
            "threshold",
            "warning",
            "state",
            "last fired",
            "cooldown left",
        ],
        [
            [
                v.rule,
                v.metric + (f" ({v.backend})" if v.backend else ""),
                v.value_text,
                v.threshold_text,
                v.warning_text or "—",
                _state(v),
                _when(v.last_fired),
                format_duration(v.cooldown_left_s) if v.cooldown_left_s is not None else "—",
            ]
            for v in views
        ],
    )
    for problem in problems.values():
        click.echo(f"warning: {problem}", err=True)


@alerts_group.command(
    "test",
    epilog="""\b
Examples:
  mailconsole alerts test failure_rate
  mailconsole alerts test failure_rate --to ops-slack""",
)
@click.argument("rule")
@click.option("--to", "target", help="Send only to this notifier (default: the rule's).")
@format_option("text", "json", default="text")
@handle_errors
def test_cmd(rule: str, target: str | None, fmt: str) -> None:
    """Send a test notice of RULE (with its current value) to its notifiers."""
    ctx = app_context()
    results = service.test_alert(ctx, rule, target=target)
    if fmt == "json":
        echo_json([asdict(r) for r in results])
    else:
        for r in results:
            tail = r.detail if r.status == "sent" else r.error
            click.echo(f"{r.target}: {r.status} after {r.tries} tr{'y' if r.tries == 1 else 'ies'}"
                       + (f" ({tail})" if tail else ""))  # fmt: skip
    if any(r.status != "sent" for r in results):
        sys.exit(1)


@alerts_group.command(
    "ack",
    epilog='\b\nExample:\n  mailconsole alerts ack failure_rate --reason "fallback enabled, watching"',
)
@click.argument("rule")
@click.option("--reason", help="Why (kept in the audit log).")
@format_option("text", "json", default="text")
@handle_errors
def ack_cmd(rule: str, reason: str | None, fmt: str) -> None:
    """Acknowledge a firing RULE: no repeats until it resolves (or turns critical)."""
    ctx = app_context()
    view = service.acknowledge(ctx, rule, reason=reason)
    if fmt == "json":
        echo_json(view.to_dict())
    else:
        click.echo(f"{rule}: acknowledged by {view.acked_by}; no repeats until it resolves")


@alerts_group.command(
    "silence",
    epilog="""\b
Examples:
  mailconsole alerts silence queue_backlog --for 2h --reason "bulk import"
  mailconsole alerts silence scheduler_heartbeat --for 30m""",
)
@click.argument("rule")
@click.option("--for", "duration", required=True, help="How long: 90s, 15m, 2h, 1d…")
@click.option("--reason", help="Why (kept in the audit log).")
@format_option("text", "json", default="text")
@handle_errors
def silence_cmd(rule: str, duration: str, reason: str | None, fmt: str) -> None:
    """Send no notices for RULE for a while (its state is still evaluated)."""
    try:
        span = parse_duration(duration)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    ctx = app_context()
    view = service.silence(ctx, rule, span, reason=reason)
    if fmt == "json":
        echo_json(view.to_dict())
    else:
        click.echo(f"{rule}: silenced until {_when(view.silenced_until)} UTC")


@alerts_group.command(
    "unsilence", epilog="\b\nExample:\n  mailconsole alerts unsilence queue_backlog"
)
@click.argument("rule")
@click.option("--reason", help="Why (kept in the audit log).")
@handle_errors
def unsilence_cmd(rule: str, reason: str | None) -> None:
    """End a silence of RULE now."""
    ctx = app_context()
    service.unsilence(ctx, rule, reason=reason)
    click.echo(f"{rule}: notices resume")


HISTORY_FIELDS = [
    "id",
    "at",
    "rule",
    "kind",
    "level",
    "target",
    "status",
    "tries",
    "error",
    "summary",
]


@alerts_group.command(
    "history",
    epilog="""\b
Examples:
  mailconsole alerts history
  mailconsole alerts history --rule failure_rate --limit 200 --format=csv > notices.csv""",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--rule", help="Only this rule's notices.")
@format_option("table", "json", "csv")
@handle_errors
def history_cmd(limit: int, rule: str | None, fmt: str) -> None:
    """The notices sent (or tried), newest first."""
    ctx = app_context()
    rows = service.history(ctx, limit, rule=rule)
    if fmt == "json":
        echo_json([r.to_dict() for r in rows])
    elif fmt == "csv":
        out = csv_writer(sys.stdout)
        out.writerow(HISTORY_FIELDS)
        for r in rows:
            data = r.to_dict()
            out.writerow([neutralize_cell(data[f]) for f in HISTORY_FIELDS])
    else:
        echo_table(
            ["at", "rule", "kind", "target", "status", "tries", "error"],
            [
                [
                    _when(r.at),
                    r.rule,
                    r.kind + (f" ({r.level})" if r.level else ""),
                    r.target,
                    r.status,
                    r.tries,
                    r.error or "",
                ]
                for r in rows
            ],
        )


@alerts_group.command(
    "evaluate",
    epilog="""\b
Runs on any host, leader or not; exit 1 when a notice could not be delivered.
Example (cron, every minute):
  * * * * * mailconsole alerts evaluate --quiet""",
)
@click.option("--quiet", is_flag=True, help="Print only what changed or failed.")
@format_option("text", "json", default="text")
@handle_errors
def evaluate_cmd(quiet: bool, fmt: str) -> None:
    """Evaluate every rule once and send what it decides (the scheduler does it every minute)."""
    ctx = app_context()
    report = service.evaluate(ctx)
    if fmt == "json":
        echo_json(report.to_dict())
    else:
        for o in report.rules:
            if quiet and not o.notice:
                continue
            state = f"{o.state} {o.level}" if o.level else o.state
            notice = f" → {o.notice} notice" if o.notice else ""
            click.echo(f"{o.rule}: {state}{notice}" + (f" ({o.detail})" if o.detail else ""))
        for d in report.deliveries:
            if d.status != "sent" or not quiet:
                click.echo(f"  {d.target}: {d.status}" + (f" ({d.error})" if d.error else ""))
        if report.recovered:
            click.echo(f"delivered {report.recovered} notice(s) left pending by an earlier run")
    if report.failed:
        sys.exit(1)


def register(group: click.Group) -> None:
    group.add_command(alerts_group)
