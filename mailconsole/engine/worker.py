"""`mailconsole worker`: the engine's scheduler, headless, until SIGTERM or SIGINT.

It prints one line when it starts leading and one when it waits for another leader ("waiting:
leader is host:pid since …"); logs (one line per dispatch run that did something) go to stderr.
On SIGTERM/SIGINT it stops claiming, lets in-flight sends finish and be recorded, releases the
messages it still holds and the leader lease, and returns 0.

`--once` runs without the scheduler: recover expired leases, then dispatch until nothing due is
left (runs back to back while each stops at its claim limit), through the same `dispatch` lease
as the scheduler, so it never runs beside another dispatch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from mailconsole.context import AppContext
from mailconsole.engine.backends import BackendRegistry
from mailconsole.engine.claim import recover_expired_leases
from mailconsole.engine.dispatcher import DispatchReport, run_dispatch_once
from mailconsole.engine.leader import LeaseInfo, make_owner_id
from mailconsole.engine.scheduler import EngineScheduler

log = logging.getLogger(__name__)

Echo = Callable[[str], None]


def _describe(holder: LeaseInfo | None) -> str:
    return holder.describe() if holder else "unknown"


async def run_once(
    ctx: AppContext, *, name: str | None = None, echo: Echo = print
) -> DispatchReport:
    """Recover expired leases, then dispatch until the due backlog is drained; returns the totals."""
    owner = make_owner_id(name)
    recovered = await asyncio.to_thread(recover_expired_leases, ctx)
    if recovered.total:
        echo(f"recovered {recovered.total} message(s) whose lease had expired")
    registry = BackendRegistry(ctx)
    total = DispatchReport()
    try:
        while True:
            report = await run_dispatch_once(ctx, registry=registry, owner=owner)
            log.info("dispatch: %s", report.summary())
            _add(total, report)
            if not report.more_waiting:
                break
    finally:
        await registry.aclose()
    echo(f"dispatch: {total.summary()}")
    return total


def _add(total: DispatchReport, report: DispatchReport) -> None:
    for key in ("claimed", "sent", "retried", "dead", "deferred", "suppressed", "stale", "probes",
                "batches"):  # fmt: skip
        setattr(total, key, getattr(total, key) + getattr(report, key))
    total.limit += report.limit
    total.duration_s += report.duration_s
    total.paused = total.paused or report.paused
    total.by_error_code.update(report.by_error_code)
    for backend, counts in report.by_backend.items():
        total.by_backend.setdefault(backend, type(counts)()).update(counts)
    total.circuits_opened += report.circuits_opened
    total.circuits_closed += report.circuits_closed
    total.notes += [n for n in report.notes if n not in total.notes]
    if total.started_at is None:
        total.started_at = report.started_at


async def run_worker(
    ctx: AppContext,
    *,
    name: str | None = None,
    echo: Echo = print,
    stop: asyncio.Event | None = None,
    install_signals: bool = True,
) -> int:
    """Run the scheduler until `stop` is set or a SIGTERM/SIGINT arrives; returns the exit code."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    # A long-running process: keep SQLite's page caches small, whatever the backlog they scan.
    ctx.db.limit_sqlite_cache(ctx.config.dispatch.worker_sqlite_cache_kib)
    installed: list[int] = []
    if install_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)

    def on_leadership(event: str, holder: LeaseInfo | None) -> None:
        if event == "leading":
            echo(f"leading: this worker ({scheduler.owner}) runs the jobs")
        elif event == "waiting":
            echo(f"waiting: leader is {_describe(holder)}")
        elif event == "lost":
            echo(f"waiting: leadership lost to {_describe(holder)}")

    scheduler = EngineScheduler(ctx, owner=make_owner_id(name), on_leadership=on_leadership)
    scheduler.start()
    try:
        await stop.wait()
        echo("stopping: finishing in-flight sends")
    finally:
        await scheduler.shutdown()
        for sig in installed:
            loop.remove_signal_handler(sig)
    echo("stopped")
    return 0
