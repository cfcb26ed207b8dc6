"""`mailconsole demo`: a fresh demo database with a week of traffic, and the console on it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mailconsole.cli.common import CliState, fail, handle_errors, pass_state
from mailconsole.demo import (
    DEFAULT_MESSAGES,
    DEFAULT_SEED,
    OUTAGE_MINUTES,
    build_demo,
    default_demo_path,
    demo_context,
    demo_scheduler_factory,
    print_progress,
)


@click.command(
    "demo",
    epilog="""\b
Examples:
  mailconsole demo                       300,000 messages, then open the console
  mailconsole demo --messages 20000 --no-open --db /tmp/demo.db""",
)
@click.option(
    "--messages",
    type=click.IntRange(min=100),
    default=DEFAULT_MESSAGES,
    show_default=True,
    help="How many messages the week of traffic holds.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to create the SQLite file (default: the user data dir's demo/demo.db). An "
    "earlier demo there is replaced; any other file is refused.",
)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Random seed.")
@click.option("--no-open", is_flag=True, help="Only build the database.")
@pass_state
@handle_errors
def demo(state: CliState, messages: int, db_path: Path | None, seed: int, no_open: bool) -> None:
    """Build a demo database (a realistic week ending now) and open the console on it.

    The console runs the scheduler in-process with two sandbox accounts that keep sending (and
    failing a little), plus a demo job that queues fresh messages every few seconds.
    """
    path = (db_path or default_demo_path()).expanduser().resolve()
    click.echo(f"demo database: {path}", err=True)
    result = build_demo(path, messages=messages, seed=seed, progress=print_progress)
    click.echo(
        f"demo ready in {result.seconds:.1f}s: {result.messages:,} messages, "
        f"{result.attempts:,} attempts, {result.dead:,} dead letters, {result.queued:,} queued, "
        f"a {OUTAGE_MINUTES}-minute outage of sandbox-main at {result.outage_start:%Y-%m-%d %H:%MZ}",
        err=True,
    )
    click.echo(
        f"config: {result.config_path}  (reopen: mailconsole --config {result.config_path})",
        err=True,
    )
    if no_open:
        return
    if not sys.stdout.isatty():
        fail("built the demo, but the console needs a terminal (use --no-open in scripts)", 2)
    from mailconsole.cli.console import run_app

    ctx = demo_context(result)
    if state.read_only:
        ctx.read_only = True
    code = run_app(ctx, scheduler_factory=demo_scheduler_factory(result.seed))
    if code:
        raise click.exceptions.Exit(code)


def register(group: click.Group) -> None:
    group.add_command(demo)
