"""Migration 0003: the partial indexes a dispatch maintains, and the queries that still use them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select

from mailconsole.clock import FakeClock
from mailconsole.engine.dispatcher import run_dispatch_once
from mailconsole.services.filters import conditions, parse_filter
from mailconsole.services.logs import count_messages
from mailconsole.store import Database
from mailconsole.store.models import Message
from tests.engine.conftest import (
    ScriptedBackend,
    engine_config,
    enqueue,
    make_ctx,
    messages,
    ok,
    transient,
)
from tests.test_store_rollup import _migrate


def _plan(db: Database, query: str, now: Any) -> str:
    stmt = select(func.count()).select_from(Message).where(*conditions(parse_filter(query, now)))
    with db.engine.connect() as conn:
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        return " ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))


def test_counting_a_domains_dead_letters_reads_the_partial_domain_index(
    sqlite_db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    assert "ix_message_domain_status" in _plan(sqlite_db, "domain:gmail.com status:dead", now)
    assert "ix_message_domain_status" in _plan(sqlite_db, "domain:gmail.com status:sent", now)
    # Queued rows are not in it: that count must not read it (it would miss every row).
    assert "ix_message_domain_status" not in _plan(sqlite_db, "domain:gmail.com status:queued", now)


async def test_domain_and_status_counts_stay_exact_across_every_status(
    db: Database, clock: FakeClock
) -> None:
    backend = ScriptedBackend("main", script=ok)
    ctx = make_ctx(db, clock, engine_config(retry={"max_attempts": 1}), main=backend)
    sent = enqueue(ctx, 4, to="a@gmail.com")
    await run_dispatch_once(ctx)
    backend.script = transient("http_503")
    enqueue(ctx, 3, to="b@gmail.com")
    await run_dispatch_once(ctx)  # one attempt allowed: dead at once
    enqueue(ctx, 2, to="c@gmail.com")  # still queued
    enqueue(ctx, 5, to="d@yahoo.com")
    rows = messages(ctx)
    truth = Counter((m.recipient_domain, m.status) for m in rows.values())
    assert truth[("gmail.com", "sent")] == len(sent)
    for domain in ("gmail.com", "yahoo.com"):
        for status in ("sent", "dead", "queued", "sent,dead", "queued,dead"):
            flt = parse_filter(f"domain:{domain} status:{status}", clock.now())
            expected = sum(truth[(domain, s)] for s in status.split(","))
            assert count_messages(ctx, flt) == expected, (domain, status)


def test_upgrading_from_0002_keeps_every_message_and_makes_the_indexes_partial(
    sqlite_db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(sqlite_db, clock, engine_config())
    _migrate(sqlite_db, "0002", down=True)
    ids = enqueue(ctx, 12)
    sqlite_db.upgrade()
    assert sqlite_db.current_revision() == sqlite_db.head_revision()
    assert set(messages(ctx)) == set(ids)
    with sqlite_db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
        sql = {name: text for name, text in rows}
    assert "ix_message_provider_id" not in sql
    assert "WHERE status = 'queued'" in sql["ix_message_claim"]
    assert "WHERE status NOT IN ('queued', 'sending')" in sql["ix_message_domain_status"]
    assert "WHERE lease_expires_at IS NOT NULL" in sql["ix_message_lease"]
