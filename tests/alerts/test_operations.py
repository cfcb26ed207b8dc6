"""Acknowledge and silence: audited operator actions, refused in read-only mode."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from mailconsole.alerts.service import (
    acknowledge,
    active_alerts,
    evaluate,
    list_alerts,
    silence,
    unsilence,
)
from mailconsole.clock import FakeClock
from mailconsole.errors import ConflictError, NotFoundError, ReadOnlyError, ValidationError
from mailconsole.store.db import Database
from mailconsole.store.models import AuditEvent
from tests.alerts.factory import Recorder, add_attempts, make_ctx


def audit(db: Database) -> list[tuple[str, str, str, dict | None, str | None]]:
    with db.reading() as s:
        rows = s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
        return [(r.action, r.actor, r.outcome, r.target, r.reason) for r in rows]


def test_acknowledging_a_firing_alert_stops_repeats_and_is_audited(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    ctx = make_ctx(db, clock, actor="ana")
    add_attempts(ctx, sent=1, failed=1)
    evaluate(ctx)
    view = acknowledge(ctx, "failure_rate", reason="looking into the 503s")
    assert view.status == "acknowledged" and view.acked_by == "ana"
    assert audit(db) == [
        ("alerts.ack", "ana", "ok", {"rule": "failure_rate"}, "looking into the 503s")
    ]
    clock.advance(7200)  # two cooldowns
    evaluate(ctx)
    assert recorder.kinds() == ["firing"]
    assert [a.rule for a in active_alerts(ctx)] == ["failure_rate"]


def test_acknowledging_an_alert_that_is_not_firing_says_so_and_records_the_failure(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    ctx = make_ctx(db, clock)
    with pytest.raises(ConflictError, match="not firing"):
        acknowledge(ctx, "failure_rate")
    assert audit(db)[0][:3] == ("alerts.ack", "tester", "failed")
    with pytest.raises(NotFoundError, match="the rules are failure_rate"):
        acknowledge(ctx, "no-such-rule")


def test_silence_until_a_time_then_notices_resume(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    ctx = make_ctx(db, clock)
    view = silence(ctx, "failure_rate", timedelta(hours=2), reason="maintenance window")
    assert view.status == "silenced"
    assert view.silenced_until == clock.now() + timedelta(hours=2)
    add_attempts(ctx, failed=3)
    evaluate(ctx)
    assert recorder.kinds() == []
    assert list_alerts(ctx)[0].state == "firing"  # state still tracked
    clock.advance(7200)
    evaluate(ctx)
    assert recorder.kinds() == ["firing"]
    assert recorder.payloads[0]["suppressed_repeats"] == 1
    action, _actor, outcome, target, reason = audit(db)[0]
    assert (action, outcome, reason) == ("alerts.silence", "ok", "maintenance window")
    assert target == {
        "rule": "failure_rate",
        "until": (clock.now()).isoformat(),
        "seconds": 7200.0,
    }


def test_unsilence_ends_a_silence_early(db: Database, clock: FakeClock, recorder: Recorder) -> None:
    ctx = make_ctx(db, clock)
    silence(ctx, "failure_rate", timedelta(days=1))
    add_attempts(ctx, failed=3)
    evaluate(ctx)
    assert unsilence(ctx, "failure_rate").status == "critical"
    clock.advance(60)
    evaluate(ctx)
    assert recorder.kinds() == ["firing"]
    assert [a[0] for a in audit(db)] == ["alerts.silence", "alerts.unsilence"]


def test_silence_needs_a_sensible_duration(db: Database, clock: FakeClock) -> None:
    ctx = make_ctx(db, clock)
    for bad in (timedelta(0), timedelta(days=91)):
        with pytest.raises(ValidationError, match="between 1 s and 90 days"):
            silence(ctx, "failure_rate", bad)


def test_read_only_mode_refuses_ack_silence_test_and_evaluate_and_audits_the_refusals(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    from mailconsole.alerts.service import test_alert

    writer = make_ctx(db, clock)
    add_attempts(writer, failed=3)
    evaluate(writer)
    viewer = make_ctx(db, clock, read_only=True, actor="viewer")
    with pytest.raises(ReadOnlyError):
        acknowledge(viewer, "failure_rate")
    with pytest.raises(ReadOnlyError):
        silence(viewer, "failure_rate", timedelta(hours=1))
    with pytest.raises(ReadOnlyError):
        test_alert(viewer, "failure_rate")
    with pytest.raises(ReadOnlyError):
        evaluate(viewer)
    assert [(a[0], a[1], a[2]) for a in audit(db)] == [
        ("alerts.ack", "viewer", "refused"),
        ("alerts.silence", "viewer", "refused"),
        ("alerts.test", "viewer", "refused"),
    ]
    view = list_alerts(viewer)[0]  # reading is fine
    assert view.state == "firing" and view.acked_by is None and view.silenced_until is None
    assert recorder.kinds() == ["firing"]
