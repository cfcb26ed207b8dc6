"""Issue 5, "How it is shown": fire once, quiet through the cooldown, repeat with the count of
suppressed repeats, resolve once — and the same across a process restart."""

from __future__ import annotations

from sqlalchemy import select

from mailconsole.alerts.service import decide, evaluate, history, list_alerts
from mailconsole.clock import FakeClock
from mailconsole.store.db import Database
from mailconsole.store.models import AlertNotification, DeliveryAttempt
from tests.alerts.factory import Recorder, add_attempts, make_ctx


def clear_attempts(db: Database) -> None:
    with db.writing() as s:
        for row in s.execute(select(DeliveryAttempt)).scalars():
            s.delete(row)


def test_failure_rate_breach_fires_once_repeats_after_cooldown_and_resolves_once(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    ctx = make_ctx(db, clock)
    add_attempts(ctx, sent=80, failed=20)  # 20 % ≥ 10 %: critical

    report = evaluate(ctx)
    assert [(o.rule, o.notice) for o in report.rules] == [("failure_rate", "firing")]
    assert recorder.kinds() == ["firing"]
    first = recorder.payloads[0]
    assert first["state"] == "firing" and first["level"] == "critical"
    assert first["threshold"] == 0.10 and first["warning"] == 0.05
    assert first["value"] == 0.2
    assert first["metrics"]["failure_rate_24h"] == 0.2  # the figures of `queue status`
    assert first["metrics"]["attempts_24h"] == 100
    assert "20 %" in first["summary"] and "http" not in first["summary"]

    # Still breached through the cooldown (3600 s): quiet, but every evaluation is counted.
    for _ in range(59):
        clock.advance(60)
        assert evaluate(ctx).rules[0].notice is None
    assert recorder.kinds() == ["firing"]
    view = list_alerts(ctx)[0]
    assert view.state == "firing" and view.suppressed_repeats == 59
    assert view.cooldown_left_s == 60

    clock.advance(60)  # the cooldown is over
    assert evaluate(ctx).rules[0].notice == "repeat"
    assert recorder.kinds() == ["firing", "repeat"]
    assert recorder.payloads[1]["suppressed_repeats"] == 59
    assert "59 repeats suppressed" in recorder.payloads[1]["summary"]

    clock.advance(60)
    clear_attempts(db)  # nothing failed in 24 h any more
    add_attempts(ctx, sent=10)
    assert evaluate(ctx).rules[0].notice == "resolved"
    for _ in range(3):
        clock.advance(60)
        assert evaluate(ctx).rules[0].notice is None
    assert recorder.kinds() == ["firing", "repeat", "resolved"]
    assert recorder.payloads[2]["state"] == "ok"
    assert recorder.payloads[2]["since"] == first["since"] == first["time"]  # fired at, not now
    assert [n.kind for n in history(ctx)] == ["resolved", "repeat", "firing"]
    assert {n.status for n in history(ctx)} == {"sent"}


def test_a_restart_neither_loses_nor_repeats_a_notice(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    first_process = make_ctx(db, clock)
    add_attempts(first_process, sent=50, failed=50)
    evaluate(first_process)
    assert recorder.kinds() == ["firing"]
    clock.advance(600)
    evaluate(first_process)

    # A new process: a new context (and engine) on the same database.
    second_process = make_ctx(Database(db.url), clock)
    for _ in range(49):
        clock.advance(60)
        evaluate(second_process)
    assert recorder.kinds() == ["firing"]  # no second "firing" after the restart
    clock.advance(60)  # 600 + 50 × 60 = 3600 s since the first notice
    evaluate(second_process)
    assert recorder.kinds() == ["firing", "repeat"]
    assert recorder.payloads[-1]["suppressed_repeats"] == 50

    third_process = make_ctx(Database(db.url), clock)
    clear_attempts(db)
    clock.advance(60)
    evaluate(third_process)
    evaluate(make_ctx(Database(db.url), clock))
    assert recorder.kinds() == ["firing", "repeat", "resolved"]


def test_notices_left_pending_by_a_crash_are_delivered_once_by_the_next_evaluation(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    crashed = make_ctx(db, clock)
    add_attempts(crashed, sent=1, failed=9)
    decision = decide(crashed)  # decided and committed, then the process died before delivering
    assert [n[1] for n in decision.notices] == ["rec"]
    with db.reading() as s:
        assert [r.status for r in s.execute(select(AlertNotification)).scalars()] == ["pending"]

    survivor = make_ctx(Database(db.url), clock)
    clock.advance(30)  # the crashed process's delivery lease still runs: hands off
    assert evaluate(survivor).recovered == 0
    assert recorder.kinds() == []

    clock.advance(120)  # lease (60 s total delivery bound + 60 s) has run out
    report = evaluate(survivor)
    assert report.recovered == 1
    assert recorder.kinds() == ["firing"]
    clock.advance(60)
    evaluate(survivor)
    assert recorder.kinds() == ["firing"]  # delivered once, not again
    assert [n.status for n in history(survivor)] == ["sent"]


def test_a_warning_that_becomes_critical_notifies_at_once_despite_the_cooldown(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    ctx = make_ctx(db, clock)
    add_attempts(ctx, sent=93, failed=7)  # 7 %: warning
    evaluate(ctx)
    assert [(p["kind"], p["level"]) for p in recorder.payloads] == [("firing", "warning")]
    clock.advance(60)
    add_attempts(ctx, failed=10)  # 17 of 110: critical
    evaluate(ctx)
    assert [(p["kind"], p["level"]) for p in recorder.payloads] == [
        ("firing", "warning"),
        ("escalated", "critical"),
    ]


def test_rules_without_data_keep_their_state_and_notify_nothing(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    from tests.alerts.factory import RECORDER, alert_config

    config = alert_config(
        {"quota": {"metric": "quota_used", "threshold": 0.9, "notify": ["rec"]}}, RECORDER
    )
    ctx = make_ctx(db, clock, config)
    report = evaluate(ctx)
    assert report.rules[0].value is None
    assert report.rules[0].detail == "no account reports a quota"
    assert recorder.kinds() == []


def test_two_evaluators_at_once_announce_a_transition_once(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    import threading

    ctx = make_ctx(db, clock)
    add_attempts(ctx, sent=1, failed=1)
    others = [make_ctx(Database(db.url), clock) for _ in range(3)]
    barrier = threading.Barrier(len(others))

    def run(c: object) -> None:
        barrier.wait()
        evaluate(c)  # type: ignore[arg-type]

    threads = [threading.Thread(target=run, args=(c,)) for c in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert recorder.kinds() == ["firing"]
