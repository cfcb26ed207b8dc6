"""Bulk retry of every dead letter on the incident dataset: plan, then apply.

Engine: `services.retry.retry_plan(ctx, MessageFilter(statuses=("dead",)))` — the counts the
confirmation shows (by status, error code, domain, backend) — then `apply_retry(ctx, plan)`, which
re-queues exactly what the plan counted, in chunks, with an audit row; the `dead` dead letters of
the dataset (100,000) all match.
There is no baseline (the issue sets an absolute target): plan + apply ≤ 3 s together, median of
`runs`. Between runs the changed rows are put back exactly as they were (not timed), so every run
acts on the same 100,000 dead letters; a marker file keeps an interrupted run from leaving a
changed dataset in the cache.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bench.common import Result, Sizes, log, median
from bench.engine_setup import incident_config, make_ctx

TARGET_S = 3.0


def dirty_marker(db_path: Path) -> Path:
    return db_path.with_name("DIRTY")


def snapshot_dead(db_path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db_path)
    rows = conn.execute(
        "SELECT status, attempts, next_attempt_at, updated_at, id FROM message "
        "WHERE status = 'dead'"
    ).fetchall()
    conn.close()
    return rows


def restore(db_path: Path, rows: list[tuple[object, ...]]) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=60)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "UPDATE message SET status = ?, attempts = ?, next_attempt_at = ?, updated_at = ?, "
        "lease_owner = NULL, lease_expires_at = NULL WHERE id = ?",
        rows,
    )
    conn.execute("COMMIT")
    conn.close()


def run(sizes: Sizes, db_path: Path) -> list[Result]:
    from mailconsole.services.filters import MessageFilter
    from mailconsole.services.retry import apply_retry, retry_plan

    saved = snapshot_dead(db_path)
    if len(saved) != sizes.dead:
        raise RuntimeError(f"the dataset has {len(saved)} dead letters, expected {sizes.dead}")
    totals, plans, applies = [], [], []
    marker = dirty_marker(db_path)
    for i in range(sizes.runs):
        ctx = make_ctx(f"sqlite:///{db_path}", incident_config())
        marker.write_text("bulk retry in progress: rebuild this dataset\n")
        try:
            t0 = time.perf_counter()
            plan = retry_plan(ctx, MessageFilter(statuses=("dead",)))
            t1 = time.perf_counter()
            changed = apply_retry(ctx, plan, reason="benchmark")
            t2 = time.perf_counter()
        finally:
            ctx.db.dispose()
            restore(db_path, saved)
            marker.unlink(missing_ok=True)
        if plan.retryable != sizes.dead or changed != sizes.dead:
            raise RuntimeError(
                f"planned {plan.retryable}, changed {changed}, expected {sizes.dead}"
            )
        plans.append(t1 - t0)
        applies.append(t2 - t1)
        totals.append(t2 - t0)
        log(f"run {i + 1}: plan {plans[-1]:.2f} s + apply {applies[-1]:.2f} s = {totals[-1]:.2f} s")
    value = median(totals)
    return [
        Result(
            figure="bulk_retry",
            label=f"bulk retry, plan + apply for {sizes.dead:,} dead letters (SQLite)",
            value=value,
            unit="s",
            baseline=None,
            baseline_label="none (absolute target)",
            ratio=None,
            target="≤ 3 s together",
            passed=value <= TARGET_S,
            limit=f"plan {median(plans):.2f} s, apply {median(applies):.2f} s",
            details={"plan_s": plans, "apply_s": applies},
        )
    ]
