"""The store: schema creation and checks, UTC round trips, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import select

from mailconsole.errors import SchemaOutdatedError, StoreError
from mailconsole.store import Database, Message
from mailconsole.store.models import metadata


def _message(now: datetime) -> Message:
    return Message(
        created_at=now, updated_at=now, from_addr="a@example.com", to_addrs="b@example.org",
        subject="s", recipient_domain="example.org", next_attempt_at=now,
    )  # fmt: skip


def test_timestamps_come_back_aware_utc_whatever_zone_went_in(db: Database) -> None:
    paris = timezone(timedelta(hours=1))
    written = datetime(2026, 3, 1, 13, 30, tzinfo=paris)
    with db.writing() as s:
        s.add(_message(written))
    with db.reading() as s:
        got = s.exec(select(Message)).one()
    assert got.created_at.tzinfo is not None
    assert got.created_at.utcoffset() == timedelta(0)
    assert got.created_at == written
    assert got.created_at.hour == 12


def test_naive_datetimes_are_refused_by_the_store(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"), db.writing() as s:
        s.add(_message(datetime(2026, 1, 1)))
        s.flush()


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), metadata
        )
    assert diff == []


def test_fresh_sqlite_database_is_created_at_head(tmp_path: Path) -> None:
    fresh = Database(f"sqlite:///{tmp_path / 'sub' / 'new.db'}")
    fresh.check_schema()
    assert fresh.current_revision() == fresh.head_revision()


def test_older_schema_gets_a_clear_message_not_a_traceback(tmp_path: Path) -> None:
    old = Database(f"sqlite:///{tmp_path / 'old.db'}")
    with old.engine.begin() as conn:
        conn.execute(text("CREATE TABLE message (id INTEGER PRIMARY KEY)"))
    with pytest.raises(SchemaOutdatedError, match="mailconsole db upgrade"):
        old.check_schema()


def test_unwritable_database_path_is_one_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        import os

        if os.access(locked, os.W_OK):  # running as root: permissions are not enforced
            target = "/proc/mailconsole/x.db"
        else:
            target = str(locked / "x.db")
        with pytest.raises(StoreError, match="MAILCONSOLE_DATABASE_URL"):
            Database(f"sqlite:///{target}").check_schema()
    finally:
        locked.chmod(0o700)


def test_sqlite_runs_in_wal_mode(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_utc_constant_is_used_for_now() -> None:
    from mailconsole.clock import utcnow

    assert utcnow().tzinfo is UTC
