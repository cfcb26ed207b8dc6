"""What every command shares: building the AppContext, output formats, and error handling.

Commands never print tracebacks for expected failures: a `MailconsoleError` becomes one line on
stderr (`mailconsole: <message>`) and its exit code.
"""

from __future__ import annotations

import csv
import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import click

from mailconsole.context import AppContext, open_context
from mailconsole.errors import MailconsoleError
from mailconsole.services.export import neutralize_cell as neutralize_cell  # the one CSV rule

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliState:
    """Global options, and the context built from them on first use."""

    config_path: str | None = None
    read_only: bool = False
    database_url: str | None = None
    _ctx: AppContext | None = None

    def context(self, *, check_schema: bool = True) -> AppContext:
        if self._ctx is None:
            self._ctx = open_context(
                self.config_path,
                read_only=self.read_only,
                interface="cli",
                database_url=self.database_url,
                check_schema=check_schema,
            )
        return self._ctx


pass_state = click.make_pass_decorator(CliState, ensure=True)


def app_context(click_ctx: click.Context | None = None, *, check_schema: bool = True) -> AppContext:
    """The AppContext for the running command."""
    click_ctx = click_ctx or click.get_current_context()
    return click_ctx.ensure_object(CliState).context(check_schema=check_schema)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"mailconsole: {message}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Turn expected failures into one line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MailconsoleError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper  # type: ignore[return-value]


def format_option(*choices: str, default: str = "table") -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=default,
        show_default=True,
        help="Output format.",
    )


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, default=json_default, indent=2, ensure_ascii=False))


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A plain aligned table; values are printed as text, never interpreted."""
    rows = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), 60)
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    click.echo(line.rstrip())
    for row in rows:
        cells = [
            (c if len(c) <= 60 else c[:59] + "…").ljust(w) for c, w in zip(row, widths, strict=True)
        ]
        click.echo("  ".join(cells).rstrip())


def csv_writer(stream: Any) -> Any:
    return csv.writer(stream, quoting=csv.QUOTE_ALL, lineterminator="\n")


def confirm_or_abort(prompt: str, *, yes: bool, expected: str | None = None) -> None:
    """Ask before a change; with `expected`, the user must type it (large counts)."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail("refusing to change anything without a terminal to confirm: add --yes", 2)
    if expected is not None:
        typed = click.prompt(
            f"{prompt}\nType {expected} to confirm", default="", show_default=False
        )
        if typed.strip() != expected:
            fail("not confirmed: nothing changed", 1)
        return
    if not click.confirm(prompt, default=False):
        fail("not confirmed: nothing changed", 1)
