"""`mailconsole worker`: the engine's scheduler, headless, until SIGTERM or SIGINT.

It prints one line when it starts leading and one when it waits for another leader ("waiting:
leader is host:pid since …"); logs (one line per dispatch run that did something) go to stderr.
On SIGTERM/SIGINT it stops claiming, lets in-flight sends finish and be recorded, releases the
messages it still holds and the leader lease, and returns 0.

`--once` runs without the scheduler: recover expired leases, then dispatch until nothing due is
left (runs back to back while each stops at its claim limit), through the same `dispatch` lease
as the scheduler, so it never runs beside another dispatch.

Memory: the scheduler's jobs count the whole backlog (alerts, health) in threads while dispatch
claims and records in others, so the worker keeps it bounded whatever the queue's length: its
SQLite connections get a small page cache (`dispatch.worker_sqlite_cache_kib`), and on glibc at
most `WORKER_MALLOC_ARENAS` malloc arenas, because each thread's own arena keeps the pages those
scans freed and the process would grow with the backlog and the number of threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from mailconsole.context import AppContext
from mailconsole.engine.backends import BackendRegistry
from mailconsole.engine.claim import recover_expired_leases
from mailconsole.engine.dispatcher import DispatchReport, run_dispatch_once
from mailconsole.engine.leader import LeaseInfo, make_owner_id
from mailconsole.engine.scheduler import EngineScheduler

log = logging.getLogger(__name__)

Echo = Callable[[str], None]

WORKER_MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


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


def _libc() -> Any:
    return ctypes.CDLL(None)


def limit_malloc_arenas(arenas: int = WORKER_MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas (default: 8 per core); returns whether the cap was set.

    Threads started afterwards share the capped arenas, so memory one thread frees is reused by
    the others instead of staying in a private heap. An operator's `MALLOC_ARENA_MAX` wins; other
    C libraries (no `mallopt`, or one that ignores the parameter) are left alone.
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = _libc().mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))


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
    # A long-running process: its memory must not follow the backlog (see the module docstring).
    ctx.db.limit_sqlite_cache(ctx.config.dispatch.worker_sqlite_cache_kib)
    limit_malloc_arenas()
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
