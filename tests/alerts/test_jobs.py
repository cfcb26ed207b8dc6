"""The evaluation job in the engine scheduler: registered, leader-only, every evaluate interval."""

from __future__ import annotations

from mailconsole.alerts.jobs import EVALUATE_JOB, TICK_SECONDS
from mailconsole.clock import FakeClock
from mailconsole.engine.scheduler import EngineScheduler
from mailconsole.store.db import Database
from mailconsole.store.models import JobRun
from tests.alerts.factory import (
    FAILURE_RATE_RULE,
    RECORDER,
    Recorder,
    add_attempts,
    alert_config,
    make_ctx,
)


async def test_the_scheduler_runs_the_evaluation_on_the_leader_at_the_configured_interval(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    ctx = make_ctx(
        db, clock, alert_config(FAILURE_RATE_RULE, RECORDER, evaluate_interval_seconds=120)
    )
    add_attempts(ctx, sent=1, failed=1)
    leader = EngineScheduler(ctx, owner="leader-1")
    viewer = EngineScheduler(make_ctx(Database(db.url), clock), owner="viewer-1")
    try:
        assert EVALUATE_JOB in leader.jobs
        assert leader.jobs[EVALUATE_JOB].seconds == TICK_SECONDS
        assert await leader.heartbeat()
        assert not await viewer.heartbeat()

        assert await viewer.run_job(EVALUATE_JOB) is None  # not the leader: skipped at once
        summary = await leader.run_job(EVALUATE_JOB)
        assert summary["notices"] == ["failure_rate:firing"]
        assert recorder.kinds() == ["firing"]

        clock.advance(60)  # half the interval: the tick does nothing
        assert (await leader.run_job(EVALUATE_JOB))["reason"] == "not due"
        clock.advance(60)
        summary = await leader.run_job(EVALUATE_JOB)
        assert summary["firing"] == ["failure_rate"] and summary["notices"] == []
        with db.reading() as s:
            run = s.get(JobRun, EVALUATE_JOB)
        assert run is not None and run.owner == "leader-1" and run.outcome == "ok"
    finally:
        await viewer.shutdown()
        await leader.shutdown()
