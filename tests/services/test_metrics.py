"""The Dashboard's figures, computed in SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.engine.switches import DISPATCH_PAUSED, backend_state, set_setting
from mailconsole.services.metrics import (
    dashboard_snapshot,
    failure_trend,
    last_outage,
    outages,
    qshape,
    queue_status,
)
from tests.services.factory import add_attempt, add_message, add_outage


def test_queue_status_counts_backlog_oldest_age_dead_letters_and_24h_attempts(
    ctx: AppContext, clock: FakeClock
) -> None:
    now = clock.now()
    oldest = add_message(ctx, created_at=now - timedelta(minutes=30))
    add_message(
        ctx, status="sending", created_at=now - timedelta(minutes=5), backend="sandbox-backup"
    )
    add_message(
        ctx, created_at=now - timedelta(minutes=1), next_attempt_at=now + timedelta(minutes=2)
    )
    add_message(
        ctx, status="dead", created_at=now - timedelta(days=3), updated_at=now - timedelta(days=2)
    )
    add_message(ctx, status="dead", created_at=now - timedelta(hours=2), error_code="http_503")
    add_message(ctx, status="sent")
    for i in range(6):
        add_attempt(ctx, oldest, started_at=now - timedelta(hours=1, minutes=i))
    for _ in range(2):
        add_attempt(
            ctx,
            oldest,
            outcome="transient",
            error_code="http_503",
            started_at=now - timedelta(hours=3),
        )
    add_attempt(
        ctx,
        oldest,
        outcome="permanent",
        backend="sandbox-backup",
        started_at=now - timedelta(hours=5),
    )
    # the 24 h before: 4 attempts, 1 failed; older than 48 h: ignored
    for i in range(3):
        add_attempt(ctx, oldest, started_at=now - timedelta(hours=30 + i))
    add_attempt(ctx, oldest, outcome="transient", started_at=now - timedelta(hours=40))
    add_attempt(ctx, oldest, outcome="transient", started_at=now - timedelta(hours=50))

    status = queue_status(ctx)

    assert status.queue_backlog == 3
    assert status.oldest_queue_age_s == 1800
    assert status.dead_letter_count == 2
    assert status.dead_letters_new_24h == 1
    assert (status.attempts_24h, status.failed_24h, status.sent_24h) == (9, 3, 6)
    assert status.failure_rate_24h == round(3 / 9, 6)
    assert (status.attempts_prev_24h, status.failed_prev_24h) == (4, 1)
    assert status.failure_rate_prev_24h == 0.25
    assert status.next_attempt_at == now - timedelta(minutes=30)
    assert status.paused is False
    main, backup = status.by_backend["sandbox-main"], status.by_backend["sandbox-backup"]
    assert (main.backlog, main.attempts_24h, main.failed_24h) == (2, 8, 2)
    assert (backup.backlog, backup.attempts_24h, backup.failed_24h) == (1, 1, 1)
    data = status.to_dict()
    for key in (
        "queue_backlog",
        "oldest_queue_age_s",
        "dead_letter_count",
        "failed_24h",
        "sent_24h",
        "failure_rate_24h",
        "next_attempt_at",
        "paused",
        "by_backend",
    ):
        assert key in data
    assert data["by_backend"]["sandbox-main"]["circuit"] == "closed"


def test_empty_store_reports_zeroes_and_no_oldest_age(ctx: AppContext) -> None:
    status = queue_status(ctx)
    assert status.queue_backlog == 0
    assert status.oldest_queue_age_s is None
    assert status.failure_rate_24h == 0.0
    assert status.next_attempt_at is None
    assert set(status.by_backend) == {"sandbox-main", "sandbox-backup"}


def test_queue_status_shows_pauses_open_circuits_and_open_outages(
    ctx: AppContext, clock: FakeClock
) -> None:
    now = clock.now()
    with ctx.db.writing() as s:
        set_setting(s, DISPATCH_PAUSED, True, now=now, by="tester")
        state = backend_state(s, "sandbox-backup", now)
        state.paused, state.circuit, state.circuit_reason = True, "open", "auth_error"
        s.add(state)
    add_outage(ctx, started_at=now - timedelta(minutes=10))
    status = queue_status(ctx)
    assert status.paused is True
    backup, main = status.by_backend["sandbox-backup"], status.by_backend["sandbox-main"]
    assert backup.paused and backup.circuit == "open" and backup.circuit_reason == "auth_error"
    assert main.open_outage is not None and main.open_outage.duration_s == 600
    assert backup.open_outage is None


def test_failure_trend_buckets_attempts_by_hour_with_error_codes(
    ctx: AppContext, clock: FakeClock
) -> None:
    clock.advance(minutes=30)  # 12:30
    now = clock.now()
    mid = add_message(ctx)
    add_attempt(ctx, mid, started_at=now - timedelta(minutes=10))  # this hour
    add_attempt(
        ctx, mid, outcome="transient", error_code="http_503", started_at=now - timedelta(minutes=20)
    )
    add_attempt(
        ctx, mid, outcome="transient", error_code="timeout", started_at=now - timedelta(hours=2)
    )  # 10:xx
    add_attempt(ctx, mid, started_at=now - timedelta(hours=30))  # outside
    trend = failure_trend(ctx, hours=24)
    assert len(trend.buckets) == 24
    assert trend.buckets[-1].start == now.replace(minute=0)
    assert (trend.buckets[-1].attempts, trend.buckets[-1].failed) == (2, 1)
    assert trend.buckets[-1].by_error_code == {"http_503": 1}
    assert trend.buckets[-3].by_error_code == {"timeout": 1} and trend.buckets[-3].rate == 1.0
    assert (trend.attempts, trend.failed) == (3, 2)
    weekly = failure_trend(ctx, days=7)
    assert len(weekly.buckets) == 7
    assert weekly.buckets[-1].attempts == 3 and weekly.buckets[-2].attempts == 1


def test_last_outage_prefers_an_open_one_and_reports_durations(
    ctx: AppContext, clock: FakeClock
) -> None:
    now = clock.now()
    assert last_outage(ctx) is None
    add_outage(ctx, started_at=now - timedelta(hours=5), ended_at=now - timedelta(hours=4))
    closed = last_outage(ctx)
    assert closed is not None and not closed.open and closed.duration_s == 3600
    add_outage(
        ctx, backend="sandbox-backup", started_at=now - timedelta(hours=6), code="auth_error"
    )
    add_outage(ctx, started_at=now - timedelta(minutes=2))
    current = last_outage(ctx)
    assert current is not None and current.open and current.backend == "sandbox-backup"
    assert [o.backend for o in outages(ctx, backend="sandbox-main")] == ["sandbox-main"] * 2


def test_qshape_groups_the_backlog_by_domain_and_age(ctx: AppContext, clock: FakeClock) -> None:
    now = clock.now()
    for minutes in (1, 3, 7, 100):
        add_message(ctx, to="a@gmail.com", created_at=now - timedelta(minutes=minutes))
    add_message(ctx, to="b@yahoo.com", status="sending", created_at=now - timedelta(minutes=2000))
    add_message(ctx, to="c@yahoo.com", status="sent")
    shape = qshape(ctx, top=1)
    assert shape.labels[0] == "5m" and shape.labels[-1] == "1280m+"
    assert [r.domain for r in shape.rows] == ["gmail.com"]
    assert shape.rows[0].counts[:3] == [2, 1, 0] and shape.rows[0].counts[5] == 1
    assert shape.totals.total == 5 and shape.totals.counts[-1] == 1
    assert shape.other_domains == 1


def test_dashboard_snapshot_collects_status_sparkline_and_levels(
    ctx: AppContext, clock: FakeClock
) -> None:
    now = clock.now()
    mid = add_message(ctx, created_at=now - timedelta(hours=2))
    add_attempt(ctx, mid, outcome="transient", error_code="http_503")
    snap = dashboard_snapshot(ctx)
    assert len(snap.sparkline) == 24 and snap.sparkline[-1] == 1.0
    assert snap.levels["failure_rate"] == "critical"
    assert snap.levels["oldest_age"] == "critical"
    assert snap.levels["backlog"] == "ok"
    assert {p.name for p in snap.providers} == {"sandbox-main", "sandbox-backup"}
    assert snap.to_dict()["status"]["queue_backlog"] == 1


def test_queue_status_lists_removed_accounts_seen_in_the_last_48h_and_routes_by_account(
    ctx: AppContext, clock: FakeClock
) -> None:
    now = clock.now()
    # backend unset: the backlog counts under the message's account; a message being sent
    # has no next attempt, so it never sets next_attempt_at
    add_message(ctx, account="sandbox-backup", next_attempt_at=now + timedelta(minutes=9))
    add_message(
        ctx, status="sending", backend="old-account", next_attempt_at=now - timedelta(hours=1)
    )
    mid = add_message(ctx, status="sent")
    add_attempt(ctx, mid, backend="old-account", started_at=now - timedelta(hours=47))
    add_attempt(
        ctx, mid, backend="gone", outcome="transient", started_at=now - timedelta(minutes=1)
    )
    add_attempt(ctx, mid, backend="ancient", started_at=now - timedelta(hours=49))
    add_attempt(ctx, mid, backend="aaa", started_at=now - timedelta(days=3))

    status = queue_status(ctx)

    assert status.next_attempt_at == now + timedelta(minutes=9)
    assert status.by_backend["sandbox-backup"].backlog == 1
    old, gone = status.by_backend["old-account"], status.by_backend["gone"]
    assert (old.backlog, old.attempts_24h, old.configured) == (1, 0, False)
    assert (gone.attempts_24h, gone.failed_24h, gone.configured) == (1, 1, False)
    assert "ancient" not in status.by_backend and "aaa" not in status.by_backend
    assert (status.attempts_24h, status.failed_24h) == (1, 1)
    assert (status.attempts_prev_24h, status.failed_prev_24h) == (1, 0)


def test_hourly_trend_equals_direct_counts_at_an_odd_minute_with_edge_attempts(
    ctx: AppContext, clock: FakeClock
) -> None:
    clock.advance(minutes=37, seconds=13)
    now = clock.now()
    current = now.replace(minute=0, second=0, microsecond=0)
    window_start = current - timedelta(hours=23)
    mid = add_message(ctx)
    made: list[tuple[timedelta, str, str, str | None]] = []
    offsets = [
        timedelta(0),  # the first bucket's first instant
        timedelta(microseconds=-1),  # just before the window
        timedelta(hours=24),  # the end of the window (excluded)
        timedelta(hours=24, microseconds=-1),  # the running hour's last instant
        timedelta(hours=5),
        timedelta(hours=5, minutes=59, seconds=59),
        timedelta(hours=23, minutes=37),
    ]
    for i, off in enumerate(offsets):
        for backend, outcome, code in (
            ("sandbox-main", "sent", None),
            ("sandbox-main", "transient", "http_503"),
            ("sandbox-backup", "permanent", "rejected" if i % 2 else None),
        ):
            add_attempt(
                ctx,
                mid,
                backend=backend,
                outcome=outcome,
                error_code=code,
                started_at=window_start + off,
            )
            made.append((off, backend, outcome, code))

    for only in (None, "sandbox-backup"):
        trend = failure_trend(ctx, hours=24, backend=only)
        expected_attempts = [0] * 24
        expected_failed = [0] * 24
        for off, backend, outcome, _ in made:
            if only and backend != only:
                continue
            i = int(off.total_seconds() // 3600) if off >= timedelta(0) else -1
            if 0 <= i < 24:
                expected_attempts[i] += 1
                expected_failed[i] += outcome != "sent"
        assert [b.attempts for b in trend.buckets] == expected_attempts
        assert [b.failed for b in trend.buckets] == expected_failed
        assert trend.buckets[0].start == window_start
    whole = failure_trend(ctx, hours=24)
    assert whole.by_error_code == {"http_503": 5, "unknown": 3, "rejected": 2}
