"""The alert evaluation as a scheduled job (imported by the engine scheduler's `load_job_modules`).

It is its own job, so it never delays dispatch: the scheduler runs it as a coroutine whose
database work happens in threads and whose deliveries run concurrently under timeouts; APScheduler's
`max_instances=1` keeps a slow round from overlapping the next.

The scheduler's registry takes a fixed period at import, before any config is read, so the job
ticks every `TICK_SECONDS` and evaluates only when `alerts.evaluate_interval_seconds` has passed
since the last evaluation recorded in the database — by this leader, a previous one, or a cron
`mailconsole alerts evaluate` — so a leader change does not evaluate twice in a row either.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from mailconsole.clock import ensure_utc
from mailconsole.context import AppContext
from mailconsole.store.models import AlertState

EVALUATE_JOB = "alerts_evaluate"
TICK_SECONDS = 10.0


def last_evaluated(ctx: AppContext) -> datetime | None:
    with ctx.db.reading() as session:
        value = session.execute(select(func.max(AlertState.last_evaluated_at))).scalar_one()
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns an aggregate over the column as text
        value = datetime.fromisoformat(value)
    return ensure_utc(value)


def is_due(ctx: AppContext) -> bool:
    """Whether the interval has passed (half a tick of slack: ticks and writes are not instant)."""
    last = last_evaluated(ctx)
    if last is None:
        return True
    elapsed = (ctx.clock.now() - last).total_seconds()
    return elapsed >= ctx.config.alerts.evaluate_interval_seconds - TICK_SECONDS / 2


async def evaluate_job(ctx: AppContext) -> dict[str, Any]:
    """One tick: evaluate if due; the summary is written to `job_run` by the scheduler."""
    from mailconsole.alerts.service import evaluate_async

    if ctx.is_read_only:
        return {"outcome": "skipped", "reason": "read-only"}
    if not await asyncio.to_thread(is_due, ctx):
        return {"outcome": "skipped", "reason": "not due"}
    report = await evaluate_async(ctx)
    return {
        "rules": len(report.rules),
        "firing": [o.rule for o in report.rules if o.state == "firing"],
        "notices": [f"{o.rule}:{o.notice}" for o in report.rules if o.notice],
        "delivered": len(report.deliveries) - report.failed,
        "failed": report.failed,
        "recovered": report.recovered,
    }


def register() -> None:
    from mailconsole.engine.scheduler import register_job

    register_job(EVALUATE_JOB, evaluate_job, TICK_SECONDS)


register()
