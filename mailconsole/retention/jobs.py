"""The daily retention run, registered with the engine scheduler (imported by `load_job_modules`).

It runs as the worker (the audit row says interface `worker`), only on the leader, and never in
a read-only process. The job ticks hourly and runs when a day has passed since the last completed
run recorded in the audit trail, so a process restarted more often than daily still runs it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from mailconsole.context import Actor, AppContext

RETENTION_JOB = "retention"
DAY_SECONDS = 86400.0
TICK_SECONDS = 3600.0


def is_due(ctx: AppContext) -> bool:
    from mailconsole.services.retention import last_run

    last = last_run(ctx)
    return (
        last is None or (ctx.clock.now() - last).total_seconds() >= DAY_SECONDS - TICK_SECONDS / 2
    )


async def retention_job(ctx: AppContext) -> dict[str, Any]:
    from mailconsole.services.retention import run_retention

    if ctx.is_read_only:
        return {"outcome": "skipped", "reason": "read-only"}
    if not await asyncio.to_thread(is_due, ctx):
        return {"outcome": "skipped", "reason": "not due"}
    worker_ctx = replace(ctx, actor=Actor(name=ctx.actor.name, interface="worker"))
    report = await asyncio.to_thread(run_retention, worker_ctx, reason="daily retention")
    return {"deleted": report.counts}


def register() -> None:
    from mailconsole.engine.scheduler import register_job

    register_job(RETENTION_JOB, retention_job, TICK_SECONDS)


register()
