"""The bulk enqueue path: what it stores is exactly what the ORM stores, in order, all of it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.engine.enqueue import enqueue_many
from mailconsole.store import Database, Message, MessageBody
from tests.conftest import make_config


def _ctx(db: Database, clock: FakeClock) -> AppContext:
    config = make_config(
        accounts={"sandbox-main": {"type": "sandbox", "from": "ops@example.com"}},
        routing={"primary": "sandbox-main"},
    )
    return AppContext(config=config, db=db, clock=clock)


def _raw(db: Database, sql: str) -> list[tuple[object, ...]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_bulk_rows_store_the_same_text_as_the_orm_even_on_a_whole_second(
    sqlite_db: Database,
) -> None:
    # A whole second is where a driver's own datetime formatting differs from the ORM's
    # ('…:00' against '…:00.000000'), and stored timestamps are compared as text.
    clock = FakeClock(datetime(2026, 3, 1, 9, 30, 0, tzinfo=UTC))
    ctx = _ctx(sqlite_db, clock)
    with sqlite_db.writing() as s:
        s.add(
            Message(
                created_at=clock.now(),
                updated_at=clock.now(),
                from_addr="ops@example.com",
                to_addrs="orm@example.org",
                subject="orm",
                recipient_domain="example.org",
                next_attempt_at=clock.now(),
            )
        )
        s.flush()
        s.add(MessageBody(message_id=1, text_body="x"))
    report = enqueue_many(
        ctx, [(1, {"to": "bulk@example.org", "subject": "bulk", "text": "x", "tag": "t"})]
    )
    assert report.ids == [2]
    rows = _raw(
        sqlite_db,
        "SELECT created_at, updated_at, next_attempt_at, typeof(created_at) FROM message "
        "ORDER BY id",
    )
    assert rows[0] == rows[1]
    assert rows[1][0] == "2026-03-01 09:30:00.000000"
    bodies = _raw(sqlite_db, "SELECT headers, template_data FROM message_body ORDER BY message_id")
    assert bodies[0] == bodies[1] == ("null", "null")


def test_bulk_load_in_many_chunks_returns_every_id_in_input_order(db: Database) -> None:
    ctx = _ctx(db, FakeClock())
    items = [
        (i, {"to": f"user{i}@example.org", "subject": f"n{i}", "text": "x"}) for i in range(1, 2501)
    ]
    items.insert(700, (9999, {"to": "not an address", "subject": "bad", "text": "x"}))
    report = enqueue_many(ctx, items, chunk=300)
    assert report.accepted == 2500 and [n for n, _ in report.errors] == [9999]
    assert report.ids == sorted(report.ids) and len(set(report.ids)) == 2500
    with db.reading() as s:
        stored = dict(s.execute(text("SELECT id, subject FROM message")).all())
    assert [stored[i] for i in report.ids] == [f"n{i}" for i in range(1, 2501)]
