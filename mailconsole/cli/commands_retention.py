"""`mailconsole retention run`: delete what is older than the retention windows."""

from __future__ import annotations

import click

from mailconsole.cli.common import app_context, echo_json, format_option, handle_errors
from mailconsole.services.retention import retention_plan, run_retention


@click.group("retention")
def retention_group() -> None:
    """Data retention (the worker also runs it daily)."""


@retention_group.command(
    "run",
    epilog="""\b
Examples:
  mailconsole retention run --dry-run
  mailconsole retention run --reason "disk pressure" --format=json""",
)
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; change nothing.")
@click.option("--reason", help="Why (recorded in the audit trail).")
@format_option("table", "json")
@handle_errors
def run(dry_run: bool, reason: str | None, fmt: str) -> None:
    """Delete expired attempts, events, finished messages and old audit rows (never dead letters)."""
    ctx = app_context()
    report = retention_plan(ctx) if dry_run else run_retention(ctx, reason=reason)
    if fmt == "json":
        echo_json(report.to_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    for name, count in report.counts.items():
        cutoff = report.cutoffs.get(name) or report.cutoffs.get("events")
        when = f"  (older than {cutoff:%Y-%m-%d %H:%MZ})" if cutoff else ""
        click.echo(f"{name:20} {verb} {count:>9,}{when}")
    click.echo(f"{'total':20} {verb} {report.total:>9,}")


def register(group: click.Group) -> None:
    group.add_command(retention_group)
