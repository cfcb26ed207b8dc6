"""`mailconsole` with no command: open the console, with the engine's scheduler in-process.

The scheduler leads only if no other process does (a lease in the database); otherwise this
console is a viewer and the Dashboard says who leads. Start-up failures (config, database,
schema) are one line on stderr and an exit code, never a traceback. While the app runs, log
records go to a file (a terminal UI cannot share stderr with them).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

import click

from mailconsole.cli.common import CliState, fail
from mailconsole.config import default_data_dir
from mailconsole.context import Actor, AppContext
from mailconsole.errors import MailconsoleError

LOG_FILE = "console.log"


def log_path() -> Path:
    return default_data_dir() / LOG_FILE


def configure_logging(path: Path | None = None) -> Path | None:
    """Send log records to a rotating file while the app owns the terminal."""
    path = path or log_path()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            root.removeHandler(handler)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=5_000_000, backupCount=2, encoding="utf-8"
        )
    except OSError:
        handler, path = logging.NullHandler(), None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # APScheduler logs every job run at INFO: keep its warnings (missed, failed jobs) only.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return path


def console_context(state: CliState) -> AppContext:
    """The CLI's context, with the actor recorded as the console for the audit trail."""
    ctx = state.context()
    return ctx.with_actor(Actor.from_environment("console"))


def run_app(ctx: AppContext, *, run_scheduler: bool = True, scheduler_factory: Any = None) -> int:
    """Run the console until the user quits; returns the exit code.

    A read-only console never runs the scheduler (it would write): it is a viewer.
    """
    from mailconsole.app import build_app

    configure_logging()
    app = build_app(
        ctx,
        run_scheduler=run_scheduler and not ctx.is_read_only,
        scheduler_factory=scheduler_factory,
    )
    app.run()
    return int(app.return_code or 0)


def run_console(state: CliState) -> None:
    try:
        ctx = console_context(state)
    except MailconsoleError as exc:
        fail(str(exc), exc.exit_code)
        return
    if not sys.stdout.isatty():
        fail("the console needs a terminal; for scripts use the subcommands (see --help)", 2)
    code = run_app(ctx)
    if code:
        raise click.exceptions.Exit(code)
