"""Migration 0002: the hourly attempt rollup, its backfill and its triggers, on both databases."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import inspect, text
from sqlmodel import select

from mailconsole.store import Database
from mailconsole.store.models import AttemptHourly, DeliveryAttempt

T0 = datetime(2026, 2, 3, 4, 59, 59, 999999, tzinfo=UTC)


def _migrate(db: Database, revision: str, *, down: bool = False) -> None:
    cfg = db._alembic_config()
    with db.write_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
        conn.commit()


def _attempt(i: int, when: datetime) -> DeliveryAttempt:
    outcome, code = [("sent", None), ("transient", "http_503"), ("permanent", None)][i % 3]
    return DeliveryAttempt(
        message_id=i, attempt_no=1, backend=("main", "backup")[i % 2], started_at=when,
        outcome=outcome, error_code=code,
    )  # fmt: skip


def _expected(db: Database) -> Counter[tuple[datetime, str, str, str]]:
    with db.reading() as s:
        rows = s.exec(select(DeliveryAttempt)).all()
    return Counter(
        (a.started_at.replace(minute=0, second=0, microsecond=0), a.backend, a.outcome,
         a.error_code or "")
        for a in rows
    )  # fmt: skip


def _rollup(db: Database) -> Counter[tuple[datetime, str, str, str]]:
    with db.reading() as s:
        rows = s.exec(select(AttemptHourly)).all()
    return Counter({(r.hour, r.backend, r.outcome, r.error_code): r.attempts for r in rows})


def test_upgrading_a_0001_database_with_attempts_backfills_the_rollup_exactly(
    db: Database,
) -> None:
    _migrate(db, "0001", down=True)
    with db.engine.connect() as conn:
        assert "attempt_hourly" not in inspect(conn).get_table_names()
    times = [T0 + timedelta(microseconds=d) for d in (-1, 0, 1, 2)]
    times += [T0 - timedelta(minutes=37 * i) for i in range(60)]
    with db.writing() as s:
        for i, when in enumerate(times):
            s.add(_attempt(i, when))
    assert db.current_revision() == "0001"

    db.upgrade()
    assert db.current_revision() == db.head_revision()
    expected = _expected(db)
    assert _rollup(db) == expected
    assert sum(expected.values()) == len(times)
    assert expected[(T0.replace(minute=0, second=0, microsecond=0), "main", "sent", "")] == 1

    # The triggers work from then on, on top of the backfilled rows.
    with db.writing() as s:
        s.add(_attempt(0, T0))
        s.add(_attempt(3, T0 + timedelta(hours=1)))
    assert _rollup(db) == _expected(db)


def test_the_rollup_hour_is_the_utc_hour_whatever_the_session_time_zone(pg_db: Database) -> None:
    with pg_db.write_engine.connect() as conn:
        conn.execute(text("SET TIME ZONE 'Asia/Kolkata'"))  # UTC+05:30
        conn.execute(
            text(
                "INSERT INTO delivery_attempt (message_id, attempt_no, backend, started_at, "
                "duration_ms, outcome) VALUES (1, 1, 'main', :t, 0, 'sent')"
            ),
            {"t": T0},
        )
        conn.commit()
    assert _rollup(pg_db) == Counter(
        {(T0.replace(minute=0, second=0, microsecond=0), "main", "sent", ""): 1}
    )


def test_a_fresh_database_gets_the_rollup_triggers(db: Database) -> None:
    hour = T0.replace(minute=0, second=0, microsecond=0)
    with db.writing() as s:
        s.add(_attempt(1, T0))
        s.add(_attempt(1, T0 + timedelta(minutes=30)))
        s.add(_attempt(1, T0 + timedelta(minutes=31)))
    key = ("backup", "transient", "http_503")
    assert _rollup(db) == Counter({(hour, *key): 1, (hour + timedelta(hours=1), *key): 2})


def test_concurrent_writers_of_mixed_outcomes_take_turns_instead_of_deadlocking(
    pg_db: Database,
) -> None:
    """Two record transactions writing the same hour's keys in opposite orders both commit."""
    insert = text(
        "INSERT INTO delivery_attempt (message_id, attempt_no, backend, started_at, duration_ms, "
        "outcome, error_code) VALUES (1, 1, 'main', :t, 0, :outcome, :code)"
    )
    sent = {"t": T0, "outcome": "sent", "code": None}
    failed = {"t": T0, "outcome": "transient", "code": "http_503"}
    first_wrote, errors = threading.Event(), []

    def first() -> None:
        try:
            with pg_db.write_engine.begin() as conn:
                conn.execute(insert, sent)
                first_wrote.set()
                _wait_for_a_lock_wait(pg_db)  # the second transaction is blocked now
                conn.execute(insert, failed)
        except Exception as exc:  # reported below
            errors.append(exc)

    def second() -> None:
        first_wrote.wait(10)
        try:
            with pg_db.write_engine.begin() as conn:
                conn.execute(insert, failed)
                conn.execute(insert, sent)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    hour = T0.replace(minute=0, second=0, microsecond=0)
    assert _rollup(pg_db) == Counter(
        {(hour, "main", "sent", ""): 2, (hour, "main", "transient", "http_503"): 2}
    )


def _wait_for_a_lock_wait(db: Database) -> None:
    with db.engine.connect() as conn:
        for _ in range(2000):
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            if waiting:
                return
            time.sleep(0.005)
    raise AssertionError("the second writer never waited")
