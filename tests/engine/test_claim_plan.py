"""The claim's query plan, the batch writes of a dispatch, and the store's statistics job."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, text

from mailconsole.backend_api import OutgoingMessage, SendResult
from mailconsole.clock import FakeClock
from mailconsole.engine.claim import claim_messages
from mailconsole.engine.dispatcher import run_dispatch_once
from mailconsole.engine.scheduler import load_job_modules, registered_jobs
from mailconsole.store import jobs as store_jobs
from mailconsole.store.db import SQLITE_CACHE_KIB, Database
from mailconsole.store.models import Message
from tests.engine.conftest import (
    ScriptedBackend,
    attempts_of,
    engine_config,
    enqueue,
    make_ctx,
    messages,
    ok,
    transient,
)


def _claim(ctx: Any, owner: str, limit: int) -> Any:
    with ctx.db.writing() as s:
        return claim_messages(
            s, owner=owner, backend="main", sources=["main"], include_unrouted=True,
            primary="main", limit=limit, now=ctx.clock.now(), lease_seconds=60,
        )  # fmt: skip


def _claim_plan(ctx: Any) -> list[str]:
    """EXPLAIN QUERY PLAN of the UPDATE the claim really sends, as SQLite traced it.

    The claim goes straight to the driver, so SQLite's own trace callback sees it: a fresh pool
    connection traces every statement, with its values expanded.
    """
    seen: list[str] = []

    def capture(statement: str) -> None:
        if statement.lstrip().upper().startswith("UPDATE MESSAGE"):
            seen.append(statement)

    def trace(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.set_trace_callback(capture)

    ctx.db.engine.dispose()
    event.listen(ctx.db.engine, "connect", trace)
    try:
        _claim(ctx, "explain", 5)
    finally:
        event.remove(ctx.db.engine, "connect", trace)
        ctx.db.engine.dispose()
    with ctx.db.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + seen[0]).all()
    return [row[-1] for row in rows]


def test_sqlite_claim_looks_the_chosen_ids_up_by_primary_key_with_or_without_statistics(
    sqlite_db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(sqlite_db, clock, engine_config())
    enqueue(ctx, 500)  # with statistics, a scan of a few dozen rows would rightly win
    for analyzed in (False, True):
        if analyzed:
            assert sqlite_db.optimize()
        plan = _claim_plan(ctx)
        assert any("SEARCH message USING INTEGER PRIMARY KEY" in step for step in plan), plan
        # The outer UPDATE never walks an index of every queued row.
        assert not any(
            step.startswith("SEARCH message USING") and "ix_message_updated" in step
            for step in plan
        ), plan


def test_the_claim_takes_exactly_n_due_queued_messages_and_nothing_else(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock, engine_config())
    ids = enqueue(ctx, 12)
    others = {ids[0]: "sent", ids[1]: "dead", ids[2]: "cancelled", ids[3]: "suppressed"}
    with db.writing() as s:
        for mid, status in others.items():
            s.get(Message, mid).status = status
        s.get(Message, ids[4]).next_attempt_at = clock.now() + timedelta(hours=1)
    first = _claim(ctx, "w1", 5)
    assert [m.id for m in first.messages] == ids[5:10]
    second = _claim(ctx, "w2", 5)
    assert [m.id for m in second.messages] == ids[10:12]  # only two left due
    rows = messages(ctx)
    for mid, status in others.items():
        assert rows[mid].status == status and rows[mid].attempts == 0
    assert rows[ids[4]].status == "queued" and rows[ids[4]].lease_owner is None
    assert {rows[m].lease_owner for m in ids[5:10]} == {"w1"}
    assert {rows[m].lease_owner for m in ids[10:12]} == {"w2"}


async def test_recorded_results_read_back_with_the_batchs_times_and_the_retry_delay(
    db: Database, clock: FakeClock
) -> None:
    seen_headers: dict[int, dict[str, str]] = {}
    retry = transient(retry_after=120)
    failing: set[int] = set()

    def script(m: OutgoingMessage) -> SendResult:
        seen_headers[m.id] = dict(m.headers)
        return retry(m) if m.id in failing else ok(m)

    backend = ScriptedBackend("main", script=script)
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    ids = enqueue(ctx, 3, headers={"X-Order": "42"})
    failing.add(ids[1])
    report = await run_dispatch_once(ctx, owner="w")
    assert (report.sent, report.retried) == (2, 1)
    rows = messages(ctx)
    now = clock.now()
    for mid in (ids[0], ids[2]):
        row = rows[mid]
        assert (row.status, row.sent_at, row.updated_at) == ("sent", now, now)
        assert (row.provider_message_id, row.lease_owner, row.lease_expires_at) == (
            f"pm-{mid}", None, None,
        )  # fmt: skip
        [attempt] = attempts_of(ctx, mid)
        assert (attempt.started_at, attempt.outcome, attempt.error_code) == (now, "sent", None)
        assert attempt.provider_message_id == f"pm-{mid}"
    row = rows[ids[1]]
    assert (row.status, row.attempts, row.lease_owner) == ("queued", 1, None)
    assert row.next_attempt_at is not None and row.next_attempt_at >= now + timedelta(seconds=96)
    assert (row.last_error_code, row.last_provider_code) == ("http_503", "fake:5xx")
    [attempt] = attempts_of(ctx, ids[1])
    assert (attempt.outcome, attempt.error_code, attempt.error_message) == (
        "transient", "http_503", "fake http_503",
    )  # fmt: skip
    assert seen_headers == {mid: {"X-Order": "42"} for mid in ids}


def test_sqlite_connections_keep_an_8_mb_page_cache(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -SQLITE_CACHE_KIB
    assert SQLITE_CACHE_KIB == 8192


def test_the_optimize_job_is_registered_for_the_leader() -> None:
    load_job_modules()
    [spec] = [j for j in registered_jobs() if j.name == store_jobs.OPTIMIZE_JOB]
    assert spec.leader_only and spec.seconds == store_jobs.TICK_SECONDS


def test_the_optimize_job_analyzes_sqlite_at_once_then_hourly(
    sqlite_db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(sqlite_db, clock, engine_config())
    enqueue(ctx, 20)
    store_jobs._last_run.pop(sqlite_db.url, None)
    with sqlite_db.engine.connect() as conn:
        assert not conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).scalar_one()
    assert store_jobs.optimize(ctx)["outcome"] == "ok"
    with sqlite_db.engine.connect() as conn:
        analyzed = conn.exec_driver_sql("SELECT DISTINCT tbl FROM sqlite_stat1").scalars().all()
    assert "message" in analyzed
    assert store_jobs.optimize(ctx)["outcome"] == "skipped"  # not again within the hour
    store_jobs._last_run[sqlite_db.url] -= store_jobs.INTERVAL_SECONDS
    assert store_jobs.optimize(ctx)["outcome"] == "ok"


def test_the_optimize_job_does_nothing_on_postgresql(pg_db: Database, clock: FakeClock) -> None:
    ctx = make_ctx(pg_db, clock, engine_config())
    assert pg_db.optimize() is False
    assert store_jobs.optimize(ctx)["outcome"] == "skipped"
    with pg_db.engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1


async def test_a_run_notes_success_in_the_circuit_once_per_second_not_per_batch(
    sqlite_db: Database, clock: FakeClock, monkeypatch: Any
) -> None:
    from mailconsole.engine import circuit

    notes: list[str] = []
    real = circuit.note_success

    def counting(session: Any, backend: str, now: Any) -> bool:
        notes.append(backend)
        return real(session, backend, now)

    monkeypatch.setattr(circuit, "note_success", counting)
    backend = ScriptedBackend("main", batch_size=5)
    ctx = make_ctx(sqlite_db, clock, engine_config(), main=backend)
    enqueue(ctx, 20)
    report = await run_dispatch_once(ctx, owner="w")
    assert (report.sent, report.batches) == (20, 4)
    assert notes == ["main"]  # four batches within the same second: one state write
    state = (
        sqlite_db.session()
        .execute(
            text("SELECT circuit, consecutive_failures FROM backend_state WHERE backend = 'main'")
        )
        .one()
    )
    assert tuple(state) == ("closed", 0)
