"""The store's scheduled job: keep SQLite's planner statistics current (leader only).

The scheduler's registry takes a fixed period at import, so the job ticks every `TICK_SECONDS`
and refreshes when `INTERVAL_SECONDS` have passed since this process last did: the first tick
after a process starts leading refreshes at once, later ones hourly. On PostgreSQL it does
nothing (autovacuum analyzes).
"""

from __future__ import annotations

import time
from typing import Any

from mailconsole.context import AppContext
from mailconsole.engine.scheduler import register_job

OPTIMIZE_JOB = "store_optimize"
TICK_SECONDS = 60.0
INTERVAL_SECONDS = 3600.0

_last_run: dict[str, float] = {}  # database URL -> time.monotonic() of the last refresh


def optimize(ctx: AppContext) -> dict[str, Any]:
    """Refresh the statistics if due; the summary says what happened."""
    db = ctx.db
    if not db.is_sqlite:
        return {"outcome": "skipped", "reason": "PostgreSQL keeps its own statistics"}
    last = _last_run.get(db.url)
    now = time.monotonic()
    if last is not None and now - last < INTERVAL_SECONDS:
        return {"outcome": "skipped", "reason": "refreshed recently"}
    t0 = time.monotonic()
    db.optimize()
    _last_run[db.url] = time.monotonic()
    return {"outcome": "ok", "seconds": round(time.monotonic() - t0, 3)}


register_job(OPTIMIZE_JOB, optimize, TICK_SECONDS)
