"""The database: engine set-up per dialect, sessions, and the schema check at start.

SQLite (the embedded default) runs in WAL mode with a busy timeout. Its write transactions
start with `BEGIN IMMEDIATE` (through SQLAlchemy's connect/begin events): a plain deferred `BEGIN`
that reads then writes fails with "database is locked" under concurrent writers whatever the busy
timeout, whereas an immediate one waits its turn. Reads keep a deferred `BEGIN` so they never
block writers. PostgreSQL uses psycopg 3 and row locks (`FOR UPDATE SKIP LOCKED`) for the claim.
SQLite's planner statistics are refreshed by `optimize()` (the store's scheduled job).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session, create_engine

from mailconsole.errors import SchemaOutdatedError, StoreError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 30.0
# SQLite's page cache is per connection, and the pool keeps several: 8 MB each for an interactive
# process (64 MB each grew a worker by the size of the queue's indexes). A headless worker asks for
# less (`Database.limit_sqlite_cache`, `dispatch.worker_sqlite_cache_kib`): a scan of the backlog
# fills any cache to its limit, so a cache a worker's connections do not keep small grows its
# memory with the queue.
SQLITE_CACHE_KIB = 8192
# Rows ANALYZE samples per index: approximate statistics in a fraction of a second on millions.
SQLITE_ANALYSIS_LIMIT = 1000


def normalize_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` and pick the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


class Database:
    """One database: its engines (read, write) and the schema check."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        try:
            parsed = make_url(self.url)
        except Exception:
            raise StoreError(
                f"database URL {url!r} is not valid: use sqlite:////path/file.db or "
                "postgresql://user@host/dbname"
            ) from None
        self.dialect = parsed.get_backend_name()
        # Read by each new SQLite connection (see `limit_sqlite_cache`).
        self.sqlite_cache_kib = SQLITE_CACHE_KIB
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(parsed, echo)
        elif self.dialect == "postgresql":
            self.engine = create_engine(
                self.url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10
            )
        else:
            raise StoreError(f"unsupported database {self.dialect!r}: use SQLite or PostgreSQL")
        # Same pool; on SQLite, transactions begun through it are immediate.
        self.write_engine = self.engine.execution_options(mc_begin_immediate=True)
        # SQLite has one writer at a time. Threads of this process queue here for it: SQLite's own
        # busy handler polls with sleeps of up to 100 ms, which left a dispatch run's claim and
        # record threads waiting far longer than the lock was held. Other processes still wait
        # in the busy handler. Re-entrant, so a nested write fails as before instead of hanging.
        self._write_lock: threading.RLock | None = threading.RLock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _sqlite_engine(self, parsed: Any, echo: bool) -> Engine:
        path = parsed.database
        if path and path != ":memory:":
            db_path = Path(path).expanduser()
            try:
                db_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the database directory {db_path.parent}: {exc.strerror}; "
                    "set MAILCONSOLE_DATABASE_URL to a writable path"
                ) from None
            if not os.access(db_path.parent, os.W_OK) or (
                db_path.exists() and not os.access(db_path, os.W_OK)
            ):
                raise StoreError(
                    f"the database {db_path} is not writable: fix its permissions or set "
                    "MAILCONSOLE_DATABASE_URL to a writable path"
                )
        engine = create_engine(
            self.url,
            echo=echo,
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own is deferred only).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.execute(f"PRAGMA cache_size=-{int(self.sqlite_cache_kib)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("mc_begin_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    # --- sessions ------------------------------------------------------------------------------

    def session(self) -> Session:
        """A read session (deferred transaction on SQLite)."""
        return Session(self.engine, expire_on_commit=False)

    def write_session(self) -> Session:
        """A session whose transaction takes the write lock at once on SQLite."""
        return Session(self.write_engine, expire_on_commit=False)

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """`with db.writing() as s:` — commit on success, roll back on error."""
        with self._writer_turn(), self.write_session() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            yield

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.session() as session:
            yield session

    def limit_sqlite_cache(self, kib: int) -> None:
        """Give every SQLite connection from now on a page cache of at most `kib` KiB.

        For the headless worker: its periodic queue metrics (alerts, health) count the whole
        backlog, and each count fills the connection's cache to its limit; the pages freed when
        another connection's write resets the cache stay in the process's heap. Pooled idle
        connections are closed so they reopen with the new size. A no-op on PostgreSQL.
        """
        if not self.is_sqlite or kib == self.sqlite_cache_kib:
            return
        self.sqlite_cache_kib = kib
        self.engine.dispose()

    def optimize(self) -> bool:
        """Refresh SQLite's planner statistics (sampled ANALYZE); a no-op on PostgreSQL.

        Without statistics SQLite guesses index selectivity and may pick an index that reads the
        whole backlog; PostgreSQL's autovacuum keeps its own. `PRAGMA optimize` of SQLite before
        3.46 only looks at tables this connection has queried, so the sampled ANALYZE is run
        directly. Returns whether it ran.
        """
        if not self.is_sqlite:
            return False
        with self._writer_turn(), self.write_engine.connect() as conn:
            conn.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA optimize")
            conn.commit()
        return True

    def dispose(self) -> None:
        self.engine.dispose()

    # --- schema ----------------------------------------------------------------------------------

    def _alembic_config(self) -> Any:
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def head_revision(self) -> str:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None
        return head

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except OperationalError as exc:
            raise StoreError(
                f"cannot open the database {redact_url(self.url)}: {_first_line(exc)}"
            ) from None

    def upgrade(self) -> tuple[str | None, str]:
        """Apply every pending migration; returns (from, to) revisions."""
        from alembic import command

        before = self.current_revision()
        cfg = self._alembic_config()
        try:
            with self.write_engine.connect() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
        except SQLAlchemyError as exc:
            raise StoreError(
                f"migration failed on {redact_url(self.url)}: {_first_line(exc)}"
            ) from None
        return before, self.head_revision()

    def is_empty(self) -> bool:
        with self.engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
        return not (names - {"alembic_version"})

    def check_schema(self, *, create_if_empty: bool = True) -> None:
        """Make sure the schema is current: create a fresh database, refuse an outdated one."""
        current = self.current_revision()
        head = self.head_revision()
        if current == head:
            return
        if current is None and self.is_empty():
            if create_if_empty:
                self.upgrade()
                return
            raise SchemaOutdatedError(
                f"the database {redact_url(self.url)} has no schema: run `mailconsole db upgrade`"
            )
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self._alembic_config())
        known = {rev.revision for rev in script.walk_revisions()}
        if current is not None and current not in known:
            raise SchemaOutdatedError(
                f"the database {redact_url(self.url)} has schema {current}, newer than this "
                f"mailconsole knows ({head}): upgrade mailconsole"
            )
        raise SchemaOutdatedError(
            f"the database {redact_url(self.url)} has schema {current or 'unversioned'}, this "
            f"mailconsole needs {head}: back it up, then run `mailconsole db upgrade`"
        )


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
