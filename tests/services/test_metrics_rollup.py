"""The Dashboard's attempt figures from the hourly rollup equal a plain count of the attempts.

`attempt_hourly` is kept by triggers; `queue_status` and `failure_trend` read whole hours from it
and the partial edge hours from `delivery_attempt`. Each test builds attempts on and around every
boundary (the windows' edges to the microsecond, hour boundaries, the current hour, the future),
then changes them the ways the application does (new attempts, lease recovery, retention) and a
few ways it does not (updates and bulk deletes), and compares with a raw aggregation in Python.
Also the backlog's time figures, which queue_status reads apart from the per-route counts.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import select

from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.engine.claim import recover_expired_leases
from mailconsole.services.metrics import failure_trend, queue_status
from mailconsole.services.retention import run_retention
from mailconsole.store.db import Database
from mailconsole.store.models import AttemptHourly, DeliveryAttempt, Message
from tests.services.factory import add_message, make_ctx, sample_config

DAY = timedelta(hours=24)
START = datetime(2026, 3, 10, 12, 34, 56, 789012, tzinfo=UTC)
OUTCOMES = [
    ("sent", None),
    ("transient", "http_503"),
    ("permanent", None),  # a failure without a code: "unknown" in the trend
    ("account", "auth"),
    ("transient", ""),
]
BACKENDS = ["sandbox-main", "sandbox-backup", "removed-account"]


def _edges(now: datetime) -> list[datetime]:
    """Times on and next to every boundary the figures depend on, plus some in between."""
    us = timedelta(microseconds=1)
    day_ago, two_days_ago = now - DAY, now - 2 * DAY
    marks = [now, day_ago, two_days_ago, now - 3 * DAY]
    for mark in list(marks):
        floor = mark.replace(minute=0, second=0, microsecond=0)
        marks += [floor, floor + timedelta(hours=1), floor - timedelta(hours=1)]
    times = [t + d for t in marks for d in (-us, timedelta(0), us)]
    times += [now + timedelta(minutes=5), now + timedelta(hours=2)]  # clock skew: the future
    times += [now - timedelta(hours=h, minutes=17 * h % 60) for h in range(1, 75, 5)]
    times += [now - timedelta(days=d, hours=3) for d in range(3, 40, 6)]  # for retention
    return times


def _add_attempts(ctx: AppContext, message_id: int, times: list[datetime], seed: int = 0) -> None:
    with ctx.db.writing() as s:
        for i, when in enumerate(times):
            outcome, code = OUTCOMES[(i + seed) % len(OUTCOMES)]
            s.add(
                DeliveryAttempt(
                    message_id=message_id,
                    attempt_no=i + 1,
                    backend=BACKENDS[(i * 7 + seed) % len(BACKENDS)],
                    started_at=when,
                    outcome=outcome,
                    error_code=code,
                )
            )


def _raw(ctx: AppContext) -> list[DeliveryAttempt]:
    with ctx.db.reading() as s:
        return list(s.exec(select(DeliveryAttempt)).all())


def _raw_rates(rows: list[DeliveryAttempt], now: datetime) -> dict[str, tuple[int, int, int, int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for a in rows:
        if a.started_at >= now - DAY:
            offset = 0
        elif a.started_at >= now - 2 * DAY:
            offset = 2
        else:
            continue
        counts[a.backend][offset] += 1
        counts[a.backend][offset + 1] += a.outcome != "sent"
    return {k: (v[0], v[1], v[2], v[3]) for k, v in counts.items()}


def _raw_trend(
    rows: list[DeliveryAttempt], now: datetime, unit: str, count: int, backend: str | None
) -> list[tuple[int, int, dict[str, int]]]:
    if unit == "day":
        width = timedelta(days=1)
        current = now.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        width = timedelta(hours=1)
        current = now.replace(minute=0, second=0, microsecond=0)
    start = current - width * (count - 1)
    buckets: list[list[object]] = [[0, 0, defaultdict(int)] for _ in range(count)]
    for a in rows:
        if backend and a.backend != backend:
            continue
        i = (a.started_at - start) // width
        if not 0 <= i < count:
            continue
        buckets[i][0] += 1  # type: ignore[operator]
        if a.outcome != "sent":
            buckets[i][1] += 1  # type: ignore[operator]
            buckets[i][2][a.error_code or "unknown"] += 1  # type: ignore[index]
    return [(int(n), int(f), dict(c)) for n, f, c in buckets]  # type: ignore[call-overload]


def assert_figures_match_raw_attempts(ctx: AppContext) -> None:
    now = ctx.clock.now()
    rows = _raw(ctx)
    expected = _raw_rates(rows, now)
    status = queue_status(ctx)
    got = {
        name: (b.attempts_24h, b.failed_24h)
        for name, b in status.by_backend.items()
        if b.attempts_24h
    }
    assert got == {k: (v[0], v[1]) for k, v in expected.items() if v[0]}
    assert (status.attempts_24h, status.failed_24h) == (
        sum(v[0] for v in expected.values()),
        sum(v[1] for v in expected.values()),
    )
    assert (status.attempts_prev_24h, status.failed_prev_24h) == (
        sum(v[2] for v in expected.values()),
        sum(v[3] for v in expected.values()),
    )
    for unit, count, backend in [
        ("hour", 24, None),
        ("hour", 80, None),
        ("hour", 24, "sandbox-backup"),
        ("day", 7, None),
        ("day", 45, "removed-account"),
    ]:
        kwargs = {"hours": count} if unit == "hour" else {"days": count}
        trend = failure_trend(ctx, backend=backend, **kwargs)  # type: ignore[arg-type]
        got_buckets = [(b.attempts, b.failed, b.by_error_code) for b in trend.buckets]
        assert got_buckets == _raw_trend(rows, now, unit, count, backend), (unit, count, backend)


def _rollup_rows(db: Database) -> list[AttemptHourly]:
    with db.reading() as s:
        return list(s.exec(select(AttemptHourly)).all())


def test_rates_and_trends_from_the_rollup_equal_counting_the_attempts_at_any_clock(
    db: Database,
) -> None:
    clock = FakeClock(START)
    ctx = make_ctx(db, clock)
    mid = add_message(ctx, status="sent")
    _add_attempts(ctx, mid, _edges(START))
    assert sum(r.attempts for r in _rollup_rows(db)) == len(_raw(ctx))
    for step in (
        timedelta(0),
        timedelta(minutes=25, seconds=3, microseconds=211_000),  # 13:00:00 exactly
        timedelta(microseconds=1),
        timedelta(minutes=59, seconds=59, microseconds=999_999),  # 14:00:00 exactly
        timedelta(hours=5, minutes=1),
        timedelta(days=1, minutes=7),
    ):
        clock.advance(step.total_seconds())
        assert_figures_match_raw_attempts(ctx)


def test_figures_stay_exact_after_new_attempts_lease_recovery_and_retention(db: Database) -> None:
    clock = FakeClock(START)
    config = sample_config(retention={"attempts_days": 1, "messages_days": 2})
    ctx = make_ctx(db, clock, config)
    kept = add_message(ctx, status="dead")
    finished = add_message(ctx, status="sent", updated_at=START - timedelta(days=5))
    _add_attempts(ctx, kept, _edges(START))
    _add_attempts(ctx, finished, _edges(START)[::3], seed=1)
    assert_figures_match_raw_attempts(ctx)

    # The dispatcher's next tries land in the current hour, on top of existing rollup rows.
    _add_attempts(ctx, kept, [clock.now() + timedelta(seconds=s) for s in range(4)], seed=2)
    assert_figures_match_raw_attempts(ctx)

    # A worker died mid-send: recovery records the lost try, started a lease before expiry.
    lease_s = config.dispatch.lease_seconds
    for backend, expired_ago in (("sandbox-main", 10), ("removed-account", 1234)):
        with ctx.db.writing() as s:
            s.add(
                Message(
                    created_at=START - DAY,
                    updated_at=START,
                    status="sending",
                    backend=backend,
                    from_addr="ops@example.com",
                    to_addrs="x@example.org",
                    subject="s",
                    recipient_domain="example.org",
                    attempts=1,
                    lease_owner="crashed",
                    lease_expires_at=START - timedelta(seconds=expired_ago),
                )
            )
    before = len(_raw(ctx))
    report = recover_expired_leases(ctx)
    assert report.requeued == 2
    rows = _raw(ctx)
    assert len(rows) == before + 2
    assert min(a.started_at for a in rows[-2:]) < START - timedelta(seconds=lease_s)
    assert_figures_match_raw_attempts(ctx)

    # Retention deletes attempts older than a day (a cut in the middle of an hour, inside the
    # previous 24 h window) and the finished message's attempts with it.
    result = run_retention(ctx)
    assert result.counts["attempts"] > 0 and result.counts["messages"] == 1
    assert all(a.started_at >= START - DAY for a in _raw(ctx))
    assert_figures_match_raw_attempts(ctx)
    clock.advance(hours=7, minutes=13)
    assert_figures_match_raw_attempts(ctx)


def test_updates_and_bulk_deletes_of_attempts_keep_the_rollup_exact(db: Database) -> None:
    clock = FakeClock(START)
    ctx = make_ctx(db, clock)
    mid = add_message(ctx, status="dead")
    _add_attempts(ctx, mid, _edges(START))
    moved = [a for a in _raw(ctx) if a.outcome == "transient"]
    with db.writing() as s:
        for a in moved:
            s.execute(
                update(DeliveryAttempt)
                .where(DeliveryAttempt.id == a.id)
                .values(
                    started_at=a.started_at - timedelta(minutes=45),
                    backend="sandbox-backup",
                    error_code=None,
                )
            )
        s.execute(
            update(DeliveryAttempt)
            .where(DeliveryAttempt.outcome == "account")
            .values(outcome="sent")
        )
    assert_figures_match_raw_attempts(ctx)
    with db.writing() as s:
        s.execute(delete(DeliveryAttempt).where(DeliveryAttempt.backend == "sandbox-main"))
    assert_figures_match_raw_attempts(ctx)
    rollup = _rollup_rows(db)
    assert all(r.attempts > 0 for r in rollup)  # hours emptied by deletes leave no rows
    assert {r.backend for r in rollup} == {a.backend for a in _raw(ctx)}
    with db.writing() as s:
        s.execute(delete(DeliveryAttempt))
    assert _rollup_rows(db) == []
    assert_figures_match_raw_attempts(ctx)


def test_oldest_age_counts_messages_being_sent_and_next_attempt_only_queued_ones(
    ctx: AppContext, clock: FakeClock
) -> None:
    """The backlog's two time figures come from index seeks, apart from its per-route counts."""
    now = clock.now()
    add_message(ctx, status="sending", created_at=now - timedelta(hours=2), backend="sandbox-backup",
                next_attempt_at=now - timedelta(hours=3))  # fmt: skip
    add_message(
        ctx, created_at=now - timedelta(hours=1), next_attempt_at=now + timedelta(minutes=9)
    )
    add_message(
        ctx, created_at=now - timedelta(minutes=5), next_attempt_at=now + timedelta(minutes=2)
    )
    add_message(ctx, status="dead", created_at=now - timedelta(days=9), next_attempt_at=now)
    status = queue_status(ctx)
    assert status.oldest_queued_at == now - timedelta(hours=2)
    assert status.oldest_queue_age_s == 7200
    assert status.next_attempt_at == now + timedelta(minutes=2)
    assert status.queue_backlog == 3
    assert {k: b.backlog for k, b in status.by_backend.items()} == {
        "sandbox-main": 2, "sandbox-backup": 1,
    }  # fmt: skip
