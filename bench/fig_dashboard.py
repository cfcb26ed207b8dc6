"""The Dashboard snapshot (every card) on the incident dataset, SQLite and PostgreSQL.

Workload: the cached incident dataset (1,000,000 messages, 3,000,000 attempts; see bench/data.py)
and, for PostgreSQL, the same rows in a dedicated database.
Engine: `services.metrics.dashboard_snapshot(ctx)` — queue status, the 24 h failure trend, the last
outage, providers, leader, last dispatch, active alerts — as the console's Dashboard calls it.
Baseline: one `SELECT count(*) FROM delivery_attempt` through the same engine and connection pool.
Figure: the median of `quick_runs` calls after one warm-up (a warm cache, as on a console that has
been open for a while); target ≤ 50 ms on SQLite (PostgreSQL is reported without a target).
The time of each part of the snapshot is reported too, to name what limits it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from bench.common import Result, Sizes, log, median, repeat_ms, repeat_pair_ms
from bench.engine_setup import incident_config, make_ctx

TARGET_MS = 50.0


def parts(ctx: Any, runs: int) -> dict[str, float]:
    """Median milliseconds of each service call the snapshot makes."""
    from mailconsole.services import metrics, providers

    status = metrics.queue_status(ctx)

    def attempt_rates() -> Any:
        """The 24 h / previous 24 h attempt counts alone (rollup hours + edge hours)."""
        now = ctx.clock.now()
        with ctx.db.reading() as s:
            return metrics._attempts_by_backend(s, now - metrics.DAY, now - 2 * metrics.DAY)

    calls = {
        "queue_status": lambda: metrics.queue_status(ctx),
        "queue_status.attempt_rates": attempt_rates,  # a part of queue_status
        "failure_trend": lambda: metrics.failure_trend(ctx, hours=24),
        "last_outage": lambda: metrics.last_outage(ctx),
        "providers": lambda: providers.providers(ctx, status=status),
        "leader+job_run+alerts": lambda: (
            providers.leader_view(ctx),
            providers.last_job_run(ctx, "dispatch"),
            metrics._active_alerts(ctx),
        ),
    }
    return {name: round(median(repeat_ms(fn, runs)), 2) for name, fn in calls.items()}


def measure(url: str, runs: int) -> tuple[float, float, dict[str, float]]:
    from mailconsole.services.metrics import dashboard_snapshot

    ctx = make_ctx(url, incident_config())
    snap = dashboard_snapshot(ctx)
    assert snap.status.queue_backlog > 0, "the dataset has no backlog"
    with ctx.db.reading() as s:
        rolled = s.execute(text("SELECT sum(attempts) FROM attempt_hourly")).scalar_one()
        stored = s.execute(text("SELECT count(*) FROM delivery_attempt")).scalar_one()
    assert rolled == stored, f"attempt_hourly holds {rolled} attempts, the table {stored}"

    def count() -> int:
        with ctx.db.reading() as s:
            return int(s.execute(text("SELECT count(*) FROM delivery_attempt")).scalar_one())

    snaps, counts = repeat_pair_ms(lambda: dashboard_snapshot(ctx), count, runs)
    value, baseline = median(snaps), median(counts)
    breakdown = parts(ctx, max(3, runs // 3))
    ctx.db.dispose()
    return value, baseline, breakdown


def run(sizes: Sizes, sqlite_url: str, pg_url: str | None) -> list[Result]:
    runs = sizes.quick_runs
    results = []
    value, baseline, breakdown = measure(sqlite_url, runs)
    log(f"SQLite: snapshot {value:.1f} ms, count(*) {baseline:.1f} ms; parts {breakdown}")
    slowest = max(breakdown, key=lambda k: breakdown[k])
    results.append(
        Result(
            figure="dashboard",
            label=f"dashboard snapshot, SQLite ({sizes.messages:,} msgs / {sizes.attempts:,} attempts)",
            value=value,
            unit="ms",
            baseline=baseline,
            baseline_label="count(*) over delivery_attempt",
            ratio=value / baseline,
            target="≤ 50 ms median",
            passed=value <= TARGET_MS,
            limit=f"slowest part: {slowest} ({breakdown[slowest]:.1f} ms)",
            details={"parts_ms": breakdown},
        )
    )
    if pg_url:
        value, baseline, breakdown = measure(pg_url, runs)
        log(f"PostgreSQL: snapshot {value:.1f} ms, count(*) {baseline:.1f} ms; parts {breakdown}")
        slowest = max(breakdown, key=lambda k: breakdown[k])
        results.append(
            Result(
                figure="dashboard",
                label="dashboard snapshot, PostgreSQL (same rows)",
                value=value,
                unit="ms",
                baseline=baseline,
                baseline_label="count(*) over delivery_attempt",
                ratio=value / baseline,
                target="reported (target is for SQLite)",
                passed=None,
                limit=f"slowest part: {slowest} ({breakdown[slowest]:.1f} ms)",
                details={"parts_ms": breakdown},
            )
        )
    return results
