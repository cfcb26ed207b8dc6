"""`mailconsole worker [--once] [--id NAME]`: the delivery engine, headless."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from mailconsole.cli.common import app_context, handle_errors
from mailconsole.context import Actor


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(
        stream=sys.stderr,
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # APScheduler logs every job execution at INFO
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)


@click.command(
    "worker",
    epilog="""\b
Only one process per database runs the jobs; others wait and say who leads.
SIGTERM or Ctrl-C: in-flight sends finish, held messages go back to the queue, exit 0.
Examples:
  mailconsole worker
  mailconsole worker --id mail-worker-1 -v
  mailconsole worker --once          # drain what is due now, then exit (cron)""",
)
@click.option("--once", is_flag=True, help="Dispatch what is due now (until drained), then exit.")
@click.option(
    "--id",
    "worker_id",
    metavar="NAME",
    help="Name this worker in leases and logs (default host:pid).",
)
@click.option("-v", "--verbose", count=True, help="Debug logging (every dispatch run).")
@click.option("-q", "--quiet", is_flag=True, help="Log warnings and errors only.")
@handle_errors
def worker(once: bool, worker_id: str | None, verbose: int, quiet: bool) -> None:
    """Run the scheduler headless: dispatch, lease recovery, provider health, alerts."""
    from mailconsole.engine.worker import run_once, run_worker

    _setup_logging(verbose, quiet)
    ctx = app_context().with_actor(Actor.from_environment("worker"))
    ctx.require_writable("worker")
    if once:
        asyncio.run(run_once(ctx, name=worker_id, echo=click.echo))
        return
    code = asyncio.run(run_worker(ctx, name=worker_id, echo=lambda line: click.echo(line)))
    sys.exit(code)


def register(group: click.Group) -> None:
    group.add_command(worker)
