"""attempt_hourly: attempts per hour, kept exact by triggers on delivery_attempt

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 01:40:00

The Dashboard's 24 h rates and hourly trend read whole hours from `attempt_hourly` instead of
counting every attempt of the window. Triggers keep it exact for every writer (dispatcher, lease
recovery, retention, imports, test factories): +1 on insert, −1 on delete (a row that reaches 0 is
deleted), −1/+1 on an update of a key column. The hour is `started_at` truncated to the hour,
written exactly as `UTCDateTime` writes that time: on SQLite the naive UTC text
`YYYY-MM-DD HH:00:00.000000` (`started_at` is stored as `YYYY-MM-DD HH:MM:SS.ffffff`), on
PostgreSQL a timestamptz truncated in UTC whatever the session's TimeZone.

SQLite has row triggers only (one UPSERT per attempt); its writers take turns anyway. PostgreSQL
uses statement triggers with transition tables (one grouped UPSERT per statement; psycopg's
executemany runs one statement per row, which costs the same as a row trigger). There, writers
of attempts also take turns: each trigger first takes a transaction-level advisory lock. Without
it two dispatch runs recording mixed outcomes in one hour would lock the same rollup rows in
different orders and deadlock; with it, a second writer waits at its first attempt row until the
first commits (writers of the same hour's rows would wait on the row locks anyway). The dispatcher
and lease recovery lock their message rows before writing attempts, so they never wait for a
message row while holding this lock.

Hand-written; the bench loader (bench/data.py) runs `create_trigger_sql`, `drop_trigger_sql` and
`backfill_sql` around its bulk load, so this file is the one place that SQL lives.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import mailconsole.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLE = "attempt_hourly"
TRIGGERS = (
    "attempt_hourly_insert",
    "attempt_hourly_delete",
    "attempt_hourly_update_old",
    "attempt_hourly_update_new",
    "attempt_hourly_truncate",  # PostgreSQL only (SQLite has no TRUNCATE)
)
PG_FUNCTIONS = ("attempt_hourly_add", "attempt_hourly_remove", "attempt_hourly_clear")

# --- SQLite -------------------------------------------------------------------------------------


def _sqlite_hour(started_at: str) -> str:
    return f"substr({started_at}, 1, 13) || ':00:00.000000'"


def _sqlite_key(row: str) -> str:
    return (
        f"hour = {_sqlite_hour(row + '.started_at')} AND backend = {row}.backend "
        f"AND outcome = {row}.outcome AND error_code = coalesce({row}.error_code, '')"
    )


def _sqlite_add(row: str) -> str:
    return (
        f"INSERT INTO {TABLE} (hour, backend, outcome, error_code, attempts) "
        f"VALUES ({_sqlite_hour(row + '.started_at')}, {row}.backend, {row}.outcome, "
        f"coalesce({row}.error_code, ''), 1) "
        "ON CONFLICT (hour, backend, outcome, error_code) DO UPDATE SET attempts = attempts + 1;"
    )


def _sqlite_remove(row: str) -> str:
    key = _sqlite_key(row)
    return (
        f"UPDATE {TABLE} SET attempts = attempts - 1 WHERE {key}; "
        f"DELETE FROM {TABLE} WHERE {key} AND attempts <= 0;"
    )


SQLITE_TRIGGERS = [
    f"CREATE TRIGGER attempt_hourly_insert AFTER INSERT ON delivery_attempt "
    f"BEGIN {_sqlite_add('NEW')} END",
    f"CREATE TRIGGER attempt_hourly_delete AFTER DELETE ON delivery_attempt "
    f"BEGIN {_sqlite_remove('OLD')} END",
    # Only updates that name a key column; both halves in one trigger (the _new one is PG's).
    "CREATE TRIGGER attempt_hourly_update_old AFTER UPDATE OF started_at, backend, outcome, "
    f"error_code ON delivery_attempt BEGIN {_sqlite_remove('OLD')} {_sqlite_add('NEW')} END",
]
SQLITE_BACKFILL = (
    f"INSERT INTO {TABLE} (hour, backend, outcome, error_code, attempts) "
    f"SELECT {_sqlite_hour('started_at')}, backend, outcome, coalesce(error_code, ''), count(*) "
    "FROM delivery_attempt GROUP BY 1, 2, 3, 4"
)

# --- PostgreSQL ---------------------------------------------------------------------------------

# date_trunc on a timestamptz truncates in the session's TimeZone: truncate the UTC wall time.
_PG_HOUR = "date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
_PG_GROUPED = (
    f"SELECT {_PG_HOUR} AS hour, backend, outcome, coalesce(error_code, '') AS error_code, "
    "count(*) AS n FROM {rows} GROUP BY 1, 2, 3, 4"
)
# Taken by every trigger before it touches the rollup (the bytes of "mcrollup").
PG_LOCK_KEY = int.from_bytes(b"mcrollup", "big")
_PG_LOCK = f"PERFORM pg_advisory_xact_lock({PG_LOCK_KEY});"
_PG_KEY = "h.hour = g.hour AND h.backend = g.backend AND h.outcome = g.outcome AND h.error_code = g.error_code"

PG_FUNCTIONS_SQL = [
    f"""CREATE FUNCTION attempt_hourly_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_PG_LOCK}
    INSERT INTO {TABLE} AS h (hour, backend, outcome, error_code, attempts)
    SELECT hour, backend, outcome, error_code, n FROM ({_PG_GROUPED.format(rows="new_rows")}) g
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (hour, backend, outcome, error_code)
    DO UPDATE SET attempts = h.attempts + EXCLUDED.attempts;
    RETURN NULL;
END $$""",
    f"""CREATE FUNCTION attempt_hourly_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_PG_LOCK}
    UPDATE {TABLE} h SET attempts = h.attempts - g.n
    FROM ({_PG_GROUPED.format(rows="old_rows")}) g WHERE {_PG_KEY};
    DELETE FROM {TABLE} h USING ({_PG_GROUPED.format(rows="old_rows")}) g
    WHERE {_PG_KEY} AND h.attempts <= 0;
    RETURN NULL;
END $$""",
    f"""CREATE FUNCTION attempt_hourly_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_PG_LOCK}
    DELETE FROM {TABLE};
    RETURN NULL;
END $$""",
]
PG_TRIGGERS = [
    "CREATE TRIGGER attempt_hourly_insert AFTER INSERT ON delivery_attempt "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION attempt_hourly_add()",
    "CREATE TRIGGER attempt_hourly_delete AFTER DELETE ON delivery_attempt "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION attempt_hourly_remove()",
    # Triggers with transition tables cannot name columns: every UPDATE statement fires these
    # (none of mailconsole's code updates attempts). Same-named triggers fire in name order.
    "CREATE TRIGGER attempt_hourly_update_old AFTER UPDATE ON delivery_attempt "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION attempt_hourly_remove()",
    "CREATE TRIGGER attempt_hourly_update_new AFTER UPDATE ON delivery_attempt "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION attempt_hourly_add()",
    "CREATE TRIGGER attempt_hourly_truncate AFTER TRUNCATE ON delivery_attempt "
    "FOR EACH STATEMENT EXECUTE FUNCTION attempt_hourly_clear()",
]
PG_BACKFILL = (
    f"INSERT INTO {TABLE} (hour, backend, outcome, error_code, attempts) "
    f"{_PG_GROUPED.format(rows='delivery_attempt')}"
)


# --- what the migration and the bench loader run -------------------------------------------------


def create_trigger_sql(dialect: str) -> list[str]:
    """Statements that create the triggers (and PostgreSQL's trigger functions)."""
    if dialect == "sqlite":
        return list(SQLITE_TRIGGERS)
    return [*PG_FUNCTIONS_SQL, *PG_TRIGGERS]


def drop_trigger_sql(dialect: str) -> list[str]:
    """Statements that drop what `create_trigger_sql` created."""
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGERS]
    return [f"DROP TRIGGER IF EXISTS {name} ON delivery_attempt" for name in TRIGGERS] + [
        f"DROP FUNCTION IF EXISTS {name}()" for name in PG_FUNCTIONS
    ]


def backfill_sql(dialect: str) -> str:
    """Fill the (empty) rollup from the attempts already stored."""
    return SQLITE_BACKFILL if dialect == "sqlite" else PG_BACKFILL


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("hour", mailconsole.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("backend", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "backend", "outcome", "error_code"),
        sqlite_with_rowid=False,
    )
    bind = op.get_bind()
    # Triggers first: on PostgreSQL creating them locks out writers of delivery_attempt until
    # the migration commits, so the backfill sees every attempt and none is counted twice.
    # Driver-level: text() would read the ':00' of the hour literal as a bind parameter.
    for statement in [*create_trigger_sql(bind.dialect.name), backfill_sql(bind.dialect.name)]:
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    bind = op.get_bind()
    for statement in drop_trigger_sql(bind.dialect.name):
        bind.exec_driver_sql(statement)
    op.drop_table(TABLE)
