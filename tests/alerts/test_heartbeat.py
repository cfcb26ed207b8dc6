"""The scheduler's dead man's switch: any process notices that no leader is running the jobs."""

from __future__ import annotations

from mailconsole.alerts.service import evaluate, list_alerts
from mailconsole.clock import FakeClock
from mailconsole.engine.leader import LEADER, release, try_acquire
from mailconsole.store.db import Database
from mailconsole.store.models import JobRun
from tests.alerts.factory import RECORDER, Recorder, alert_config, make_ctx

HEARTBEAT = {
    "scheduler_heartbeat": {
        "metric": "scheduler_heartbeat_age_s",
        "threshold": 300,
        "notify": ["rec"],
    }
}


def test_heartbeat_rule_fires_when_the_leader_stops_and_resolves_when_a_leader_returns(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    leader = make_ctx(db, clock, alert_config(HEARTBEAT, RECORDER))
    # A viewer (or cron) on another host evaluates; it never leads itself.
    viewer = make_ctx(Database(db.url), clock, alert_config(HEARTBEAT, RECORDER))
    assert try_acquire(leader, LEADER, "worker-a:1:abc", ttl_s=30).acquired

    for _ in range(3):  # a healthy leader renews every 10 s
        evaluate(viewer)
        for _ in range(6):
            clock.advance(10)
            try_acquire(leader, LEADER, "worker-a:1:abc", ttl_s=30)
    assert recorder.kinds() == []

    # The leader hangs: no more renewals. Quiet until 300 s, then firing once.
    clock.advance(290)
    evaluate(viewer)
    assert recorder.kinds() == []
    clock.advance(20)
    evaluate(viewer)
    assert recorder.kinds() == ["firing"]
    assert "worker-a:1:abc" in recorder.payloads[0]["detail"]
    clock.advance(60)
    evaluate(viewer)
    assert recorder.kinds() == ["firing"]

    # Another worker takes the expired lease: the rule resolves, once.
    try_acquire(leader, LEADER, "worker-b:2:def", ttl_s=30)
    evaluate(viewer)
    clock.advance(10)
    try_acquire(leader, LEADER, "worker-b:2:def", ttl_s=30)
    evaluate(viewer)
    assert recorder.kinds() == ["firing", "resolved"]
    assert list_alerts(viewer)[0].state == "ok"


def test_a_leader_that_left_gracefully_is_missed_from_its_last_job_run(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    ctx = make_ctx(db, clock, alert_config(HEARTBEAT, RECORDER))
    try_acquire(ctx, LEADER, "worker-a:1:abc", ttl_s=30)
    with db.writing() as s:
        s.add(JobRun(job="dispatch", started_at=clock.now(), finished_at=clock.now()))
    release(ctx, LEADER, "worker-a:1:abc")  # the lease row is gone
    clock.advance(301)
    evaluate(ctx)
    assert recorder.kinds() == ["firing"]
    assert "no leader" in recorder.payloads[0]["detail"]


def test_a_database_that_never_had_a_scheduler_is_not_judged(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    ctx = make_ctx(db, clock, alert_config(HEARTBEAT, RECORDER))
    report = evaluate(ctx)
    assert report.rules[0].value is None
    assert recorder.kinds() == []
    assert list_alerts(ctx)[0].detail == "no scheduler has run on this database yet"
