"""Mail logs over 1,000,000 messages: scroll to the end and back, filter, mark all matching.

The database is built once per session with bulk executemany inserts through SQLAlchemy's
connection (indexes dropped during the load and rebuilt after; a fixed pattern, so expected ids
and counts are known exactly; about 20 s). Message i
(1-based) was created at start + i × 0.6048 s, so ids and time order agree: the newest row is
id 1,000,000 and the row at position p (0-based, newest first) is id N - p. Every 50th message
is dead, with error code CODES[(i // 50) % 5]. The assertions are about correctness (ids, counts,
contiguity of the window); timings belong in the benchmarks.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from mailconsole.app import build_app
from mailconsole.clock import FakeClock
from mailconsole.screens.mail_logs import MailLogsScreen
from mailconsole.store.db import Database
from mailconsole.widgets.retry_dialogs import RetryPlanDialog
from tests.console_logs.conftest import make_ctx, settle

N = 1_000_000
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=7)
STEP_US = 604_800  # 7 days / 1,000,000 in microseconds
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "example.com", "corp.example")
CODES = ("http_503", "http_500", "http_429", "smtp_550", "timeout")
CHUNK = 50_000


COLUMNS = (
    "id", "created_at", "updated_at", "status", "from_addr", "to_addrs", "subject",
    "recipient_domain", "attempts", "backend", "last_error_code", "size_bytes",
)  # fmt: skip
INSERT = f"INSERT INTO message ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"


def _rows(first: int, last: int, rng: random.Random) -> list[tuple[Any, ...]]:
    """Rows as the store keeps them on SQLite (UTCDateTime: naive UTC, fixed format), so one
    executemany per chunk loads them without per-row type processing."""
    start = START.replace(tzinfo=None)
    rows = []
    for i in range(first, last + 1):
        created = (start + timedelta(microseconds=i * STEP_US)).strftime("%Y-%m-%d %H:%M:%S.%f")
        dead = i % 50 == 0
        domain = DOMAINS[rng.randrange(len(DOMAINS))]
        rows.append(
            (
                i, created, created, "dead" if dead else "sent", "ops@example.com",
                f"user{i}@{domain}", f"Message {i}", domain, 5 if dead else 1, "postmark-main",
                CODES[(i // 50) % 5] if dead else None, 100,
            )
        )  # fmt: skip
    return rows


@pytest.fixture(scope="session")
def million_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("million") / "million.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    with db.write_engine.begin() as conn:
        indexes = conn.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'message' AND sql IS NOT NULL"
            )
        ).all()
        for name, _sql in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
    rng = random.Random(20260101)
    with db.write_engine.connect() as conn:
        # A throwaway file: no fsync per commit (set on the driver, outside any transaction).
        conn.connection.dbapi_connection.execute("PRAGMA synchronous=OFF")  # type: ignore[union-attr]
        for first in range(1, N + 1, CHUNK):
            with conn.begin():
                conn.exec_driver_sql(INSERT, _rows(first, min(N, first + CHUNK - 1), rng))
        with conn.begin():
            for _name, sql in indexes:
                conn.execute(text(sql))
            conn.execute(text("ANALYZE"))
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture
def million_db(million_db_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{million_db_path}")
    yield db
    db.dispose()


def assert_contiguous(screen: MailLogsScreen) -> None:
    """The window holds consecutive rows, newest first, at the position it claims."""
    table = screen.table
    ids = [r.id for r in table.rows]
    assert ids == list(range(ids[0], ids[0] - len(ids), -1)), "window has gaps or duplicates"
    assert len(ids) <= table.max_rows
    assert table.row_offset is not None
    assert ids[0] == N - table.row_offset


async def test_mail_logs_on_a_million_messages_scrolls_filters_and_marks_all_matching(
    million_db: Database,
) -> None:
    clock = FakeClock(NOW)
    ctx = make_ctx(million_db, clock)
    app = build_app(ctx, initial_mode="logs", refresh_seconds=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MailLogsScreen)
        table = screen.table
        assert screen.total == N
        assert table.rows[0].id == N and len(table.rows) == 200
        assert screen.status_text() == "1,000,000 matching · row 1 of 1,000,000"

        # Page down through several pages: the window slides, stays contiguous and bounded.
        for _ in range(40):  # ~1,400 rows: past the 1,000-row window, so the top is dropped
            await pilot.press("pagedown")
            await settle(pilot)
        assert_contiguous(screen)
        assert table.cursor_row is not None
        assert table.cursor_row.id == N - table.absolute_cursor  # type: ignore[operator]
        assert table.absolute_cursor > 1300  # type: ignore[operator]
        assert table.rows[0].id < N - 200  # the newest rows left the window
        assert len(table.rows) <= 1000

        # End: the oldest page; the last row is message 1.
        await pilot.press("end")
        await settle(pilot)
        assert table.rows[-1].id == 1 and table.cursor_row.id == 1  # type: ignore[union-attr]
        assert table.absolute_cursor == N - 1
        assert screen.status_text().endswith("row 1,000,000 of 1,000,000")
        # Back up from the end: newer pages are prepended, the view does not jump.
        for _ in range(25):  # ~875 rows up from the 200-row oldest page: pages are prepended
            await pilot.press("pageup")
            await settle(pilot)
        assert_contiguous(screen)
        assert table.cursor_row.id == N - table.absolute_cursor  # type: ignore[operator,union-attr]
        assert table.rows[0].id > table.cursor_row.id > 800  # type: ignore[union-attr]

        # Home: the newest page again.
        await pilot.press("home")
        await settle(pilot)
        assert table.rows[0].id == N and table.cursor == 0
        assert table.absolute_cursor == 0

        # Filter: every 50th message is dead; its code is CODES[(i // 50) % 5].
        screen.filter_bar.focus_input()
        screen.filter_bar.input.value = "status:dead err:http_5"
        await pilot.press("enter")
        await settle(pilot)
        expected = N // 50 * 2 // 5  # (i // 50) % 5 in (0, 1): http_503 or http_500
        assert screen.total == expected == 8000
        assert {r.last_error_code for r in table.rows} == {"http_503", "http_500"}
        assert table.rows[0].id == N  # (N // 50) % 5 == 0 → http_503
        await pilot.press("end")
        await settle(pilot)
        assert table.rows[-1].id == 50  # the oldest: (50 // 50) % 5 == 1 → http_500
        await pilot.press("home")
        await settle(pilot)

        # Mark all matching: stored as the filter; the retry plan counts the database set.
        await pilot.press("M")
        assert screen.status_text().startswith("8,000 matching · all 8,000 matching")
        await pilot.press("r")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RetryPlanDialog)
        assert dialog.plan.matched == 8000 and dialog.plan.retryable == 8000
        assert dialog.plan.by_error_code == {"http_503": 4000, "http_500": 4000}
        assert dialog.typed  # 8,000 is above the default typed-confirm threshold (1,000)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MailLogsScreen)
