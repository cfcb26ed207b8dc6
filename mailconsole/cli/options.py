"""Options shared by the operations commands: the message filter, --reason, --yes, confirmations.

`logs export`, `logs list` and `retry` take the same filter options, turned into the one
`MessageFilter` that the services use, so `retry --error-code http_5` acts on exactly the rows
`logs export --error-code http_5` writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click

from mailconsole.cli.common import confirm_or_abort
from mailconsole.context import AppContext
from mailconsole.sanitize import clean
from mailconsole.services.filters import (
    MessageFilter,
    parse_filter,
    parse_ids,
    parse_statuses,
    parse_time,
)

F = TypeVar("F", bound=Callable[..., Any])

FILTER_KEYS = (
    "filter_expr",
    "status",
    "search",
    "since",
    "until",
    "backend",
    "error_code",
    "domain",
    "tag",
    "to",
)


def filter_options(func: F) -> F:
    """Add the message-filter options (as in `logs export`) to a command."""
    options = [
        click.option(
            "--filter",
            "filter_expr",
            metavar="EXPR",
            help="Filter-bar expression, e.g. 'status:dead err:http_5 since:2h'.",
        ),
        click.option(
            "--status",
            multiple=True,
            metavar="STATUS[,STATUS]",
            help="queued, sending, sent, delivered, bounced, complained, dead, suppressed, cancelled.",
        ),
        click.option(
            "--search",
            metavar="TEXT",
            help="Matches subject, recipients, error message, provider id and error code.",
        ),
        click.option(
            "--since", metavar="WHEN", help="Created at or after: 2h (ago), 7d, or a date."
        ),
        click.option("--until", metavar="WHEN", help="Created before: 30m (ago) or a date."),
        click.option(
            "--backend", metavar="ACCOUNT", help="Account that handled (or will handle) it."
        ),
        click.option(
            "--error-code", metavar="PREFIX", help="Last error code prefix: http_5, smtp_550…"
        ),
        click.option("--domain", metavar="DOMAIN", help="Recipient domain."),
        click.option("--tag", metavar="TAG"),
        click.option("--to", metavar="TEXT", help="Recipient address contains TEXT."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_filter(ctx: AppContext, opts: dict[str, Any]) -> MessageFilter:
    """The MessageFilter for the filter options; explicit options override `--filter` terms."""
    now = ctx.clock.now()
    expr = opts.get("filter_expr")
    flt = parse_filter(expr, now) if expr else MessageFilter()
    changes: dict[str, Any] = {}
    statuses = [s for item in opts.get("status") or () for s in parse_statuses(item)]
    if statuses:
        changes["statuses"] = tuple(dict.fromkeys(statuses))
    for key, field in (
        ("search", "search"),
        ("backend", "backend"),
        ("error_code", "error_code"),
        ("domain", "domain"),
        ("tag", "tag"),
        ("to", "recipient"),
    ):
        if opts.get(key):
            changes[field] = opts[key]
    for key in ("since", "until"):
        if opts.get(key):
            changes[key] = parse_time(opts[key], now)
    return flt.with_(**changes) if changes else flt


def pop_filter(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: kwargs.pop(key, None) for key in FILTER_KEYS}


def ids_from(values: Iterable[str]) -> tuple[int, ...]:
    return tuple(i for value in values for i in parse_ids(value))


reason_option = click.option(
    "--reason", metavar="TEXT", help="Why (kept in the audit trail with who and when)."
)
yes_option = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Show what would change; change nothing."
)


def confirm_count(ctx: AppContext, prompt: str, count: int, *, yes: bool) -> None:
    """Confirm a change of `count` rows; above `ui.typed_confirm_threshold`, type the count.

    In read-only mode nothing is asked: the service refuses (and audits the refusal) at once.
    """
    if ctx.is_read_only:
        return
    threshold = ctx.config.ui.typed_confirm_threshold
    confirm_or_abort(prompt, yes=yes, expected=str(count) if count > threshold else None)


def cell(value: Any) -> str:
    """Untrusted text for a terminal line: control and bidi characters made visible."""
    return clean("" if value is None else value, one_line=True)


def counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{cell(k)} {v}" for k, v in counts.items()) or "—"


def echo_pairs(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max((len(k) for k, _ in pairs), default=0)
    for key, value in pairs:
        click.echo(f"{key.ljust(width)}  {value}")
