"""The scheduler in one event loop: leadership, jobs, job_run rows, draining, graceful shutdown.

These run on real time (APScheduler's) with short intervals, and wait on events or on the
database reaching a state, never on fixed sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from mailconsole.clock import SYSTEM_CLOCK
from mailconsole.context import AppContext
from mailconsole.engine.leader import LeaseInfo, current_leader
from mailconsole.engine.scheduler import (
    DISPATCH_JOB,
    HEALTH_JOB,
    EngineScheduler,
    JobSpec,
    register_job,
    registered_jobs,
    unregister_job,
)
from mailconsole.store.db import Database
from mailconsole.store.models import JobRun
from tests.engine.conftest import (
    ScriptedBackend,
    engine_config,
    enqueue,
    make_ctx,
    sandbox_account,
    state_of,
    statuses,
)

FAST = {"interval_seconds": 0.1, "leader_lease_seconds": 5, "recover_interval_seconds": 0.5}


async def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Wait until `check()` is truthy (polling the database or a counter), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = (
            await asyncio.to_thread(check)
            if not asyncio.iscoroutinefunction(check)
            else await check()
        )
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


def ctx_for(sqlite_db: Database, **kwargs: Any) -> AppContext:
    config = engine_config(dispatch={**FAST, **kwargs.pop("dispatch", {})}, **kwargs)
    return make_ctx(sqlite_db, SYSTEM_CLOCK, config)  # type: ignore[arg-type]


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.changed = asyncio.Event()

    def __call__(self, event: str, holder: LeaseInfo | None) -> None:
        self.seen.append((event, holder.owner if holder else None))
        self.changed.set()

    async def wait_for(self, event: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e == event for e, _ in self.seen):
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.01, deadline - time.monotonic()))


def job_run(ctx: AppContext, name: str) -> JobRun | None:
    with ctx.db.reading() as s:
        return s.get(JobRun, name)


async def test_only_the_leader_runs_jobs_the_other_waits_and_takes_over_when_it_stops(
    sqlite_db: Database,
) -> None:
    ctx = ctx_for(sqlite_db)
    runs: list[str] = []

    def counting(owner: str) -> JobSpec:
        return JobSpec("count", lambda _ctx: runs.append(owner) or {"n": len(runs)}, 0.1)

    a_events, b_events = Events(), Events()
    a = EngineScheduler(ctx, owner="worker-a", jobs=[counting("a")], on_leadership=a_events)
    b = EngineScheduler(ctx, owner="worker-b", jobs=[counting("b")], on_leadership=b_events)
    a.start()
    await a_events.wait_for("leading")
    b.start()
    await b_events.wait_for("waiting")
    assert b_events.seen[0] == ("waiting", "worker-a")
    await until(lambda: runs.count("a") >= 3)
    assert "b" not in runs
    row = await until(lambda: job_run(ctx, "count"))
    assert row.owner == "worker-a" and row.outcome == "ok" and row.summary["n"] >= 1
    assert row.next_run_at is not None and row.next_run_at >= row.started_at
    await a.shutdown()
    assert current_leader(ctx) is None or current_leader(ctx).owner != "worker-a"
    await b_events.wait_for("leading", timeout=5)  # at its next heartbeat, not after expiry
    await until(lambda: "b" in runs)
    assert current_leader(ctx).owner == "worker-b"
    await b.shutdown()
    assert current_leader(ctx) is None


async def test_the_dispatch_job_drains_a_backlog_beyond_the_claim_limit(
    sqlite_db: Database,
) -> None:
    # One tick every 30 s and 10 messages per run: only looping within the job drains 35 now.
    ctx = ctx_for(sqlite_db, dispatch={"claim_limit": 10, "interval_seconds": 30})
    backend = ScriptedBackend("main", batch_size=5)
    ctx.backend_overrides["main"] = backend
    enqueue(ctx, 35)
    scheduler = EngineScheduler(ctx, owner="drainer")
    scheduler.start()
    try:
        await until(lambda: statuses(ctx) == {"sent": 35}, timeout=10)
        row = await until(lambda: job_run(ctx, DISPATCH_JOB))
        assert row.outcome == "ok" and row.owner == "drainer"
        assert row.summary["runs"] == 4 and row.summary["sent"] == 35
        assert (row.next_run_at - row.started_at).total_seconds() > 20
    finally:
        await scheduler.shutdown()
    assert len(backend.sent_ids) == 35 == len(set(backend.sent_ids))


async def test_shutdown_lets_the_batch_in_flight_finish_and_releases_everything_else(
    sqlite_db: Database,
) -> None:
    ctx = ctx_for(sqlite_db)
    backend = ScriptedBackend("main", batch_size=5, max_connections=1)
    backend.gate = asyncio.Event()
    ctx.backend_overrides["main"] = backend
    enqueue(ctx, 12)
    scheduler = EngineScheduler(ctx, owner="stopping")
    scheduler.start()
    await asyncio.wait_for(backend.entered.wait(), 10)
    stopping = asyncio.create_task(scheduler.shutdown())
    await asyncio.sleep(0.1)
    assert not stopping.done()  # it waits for the send in flight
    backend.gate.set()
    await asyncio.wait_for(stopping, 10)
    assert backend.calls == [[1, 2, 3, 4, 5]]  # no new batch after the stop
    assert statuses(ctx) == {"sent": 5, "queued": 7}
    assert current_leader(ctx) is None


async def test_job_defaults_are_explicit_and_cover_each_interval(sqlite_db: Database) -> None:
    ctx = ctx_for(sqlite_db, dispatch={"health_interval_seconds": 600})
    scheduler = EngineScheduler(ctx, owner="defaults")
    scheduler.start()
    try:
        defaults = scheduler._scheduler._job_defaults
        assert defaults["coalesce"] is True and defaults["max_instances"] == 1
        for job in scheduler._scheduler.get_jobs():
            assert job.max_instances == 1 and job.coalesce is True
            assert job.misfire_grace_time >= job.trigger.interval.total_seconds()
    finally:
        await scheduler.shutdown()


async def test_a_failing_job_is_recorded_with_its_error_and_the_others_keep_running(
    sqlite_db: Database,
) -> None:
    ctx = ctx_for(sqlite_db)

    def broken(_ctx: AppContext) -> None:
        raise RuntimeError("disk on fire")

    scheduler = EngineScheduler(ctx, owner="x", jobs=[JobSpec("broken", broken, 0.1)])
    scheduler.start()
    try:
        row = await until(lambda: job_run(ctx, "broken"))
        assert row.outcome == "error" and "disk on fire" in row.summary["error"]
        await until(lambda: job_run(ctx, "recover_leases"))
    finally:
        await scheduler.shutdown()


async def test_jobs_registered_by_other_modules_join_every_new_scheduler(
    sqlite_db: Database,
) -> None:
    ctx = ctx_for(sqlite_db)
    seen = asyncio.Event()

    async def evaluate(_ctx: AppContext) -> dict[str, int]:
        seen.set()
        return {"rules": 0}

    register_job("test_alerts", evaluate, 0.1)
    try:
        assert "test_alerts" in [j.name for j in registered_jobs()]
        scheduler = EngineScheduler(ctx, owner="y")
        assert "test_alerts" in scheduler.jobs
        scheduler.start()
        try:
            await asyncio.wait_for(seen.wait(), 10)
        finally:
            await scheduler.shutdown()
    finally:
        unregister_job("test_alerts")
    with pytest.raises(ValueError):
        register_job("bad", evaluate, 0)


async def test_the_health_job_stores_provider_health_and_quota(sqlite_db: Database) -> None:
    config = engine_config(
        {"main": sandbox_account(daily_quota=1000), "broken": {"type": "postmark"}},
        dispatch=FAST,
    )
    ctx = make_ctx(sqlite_db, SYSTEM_CLOCK, config)  # type: ignore[arg-type]
    scheduler = EngineScheduler(ctx, owner="health", include_registered=False)
    assert await scheduler.heartbeat()
    summary = await scheduler.run_job(HEALTH_JOB)
    assert summary["main"]["ok"] is True and summary["broken"]["ok"] is False
    main, broken = state_of(ctx, "main"), state_of(ctx, "broken")
    assert main.health_ok and main.health_checked_at is not None
    assert (main.quota_sent, main.quota_max) == (0.0, 1000.0)
    assert broken.health_ok is False and "secrets set broken" in broken.health_detail
    assert job_run(ctx, HEALTH_JOB).outcome == "ok"
    await scheduler.shutdown()


async def test_start_outside_an_event_loop_fails_clearly(sqlite_db: Database) -> None:
    ctx = ctx_for(sqlite_db)
    scheduler = EngineScheduler(ctx, owner="z")

    def start_in_thread() -> None:
        scheduler.start()

    with pytest.raises(RuntimeError):
        await asyncio.to_thread(start_in_thread)


async def test_a_read_only_console_never_leads_it_only_shows_who_does(sqlite_db: Database) -> None:
    ctx = ctx_for(sqlite_db)
    leader_events, viewer_events = Events(), Events()
    leading = EngineScheduler(ctx, owner="worker", on_leadership=leader_events)
    leading.start()
    await leader_events.wait_for("leading")
    viewer_ctx = ctx_for(sqlite_db)
    viewer_ctx.read_only = True
    viewer = EngineScheduler(viewer_ctx, owner="viewer", on_leadership=viewer_events)
    assert await viewer.heartbeat() is False
    assert viewer_events.seen == [("waiting", "worker")]
    await leading.shutdown()
    assert await viewer.heartbeat() is False  # even with nobody leading
    assert viewer_events.seen[-1] == ("waiting", None)
    assert current_leader(ctx) is None
    await viewer.shutdown()
