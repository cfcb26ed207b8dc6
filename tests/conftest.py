"""Shared fixtures: a real SQLite file and a real PostgreSQL database per test, a fake clock,
an in-memory keyring, and a config builder.

PostgreSQL: `.ci/start-postgres.sh` starts a server and `MAILCONSOLE_TEST_PG_URL` points at it.
Each test gets a fresh database cloned from a migrated template (CREATE DATABASE … TEMPLATE), so
tests never see each other's rows. Without the variable, PostgreSQL tests fail under CI and are
deselected locally with a loud reason.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import pytest
from sqlalchemy import create_engine, text

from mailconsole.clock import FakeClock
from mailconsole.config import Config, parse_config
from mailconsole.store.db import Database

_counter = itertools.count()
ROOT = Path(__file__).resolve().parent.parent


def _find_or_start_postgres() -> str | None:
    """MAILCONSOLE_TEST_PG_URL, else start the throwaway server with .ci/start-postgres.sh."""
    url = os.environ.get("MAILCONSOLE_TEST_PG_URL")
    if url:
        return url
    script = ROOT / ".ci" / "start-postgres.sh"
    try:
        out = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=180, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    url = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else None
    if url:
        os.environ["MAILCONSOLE_TEST_PG_URL"] = url
    return url


PG_URL = _find_or_start_postgres()


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that lives in memory, so tests never touch (or need) an OS keyring."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.store:
            raise PasswordDeleteError("not found")
        del self.store[(service, username)]


@pytest.fixture(autouse=True)
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    for var in list(os.environ):
        if var.startswith("MAILCONSOLE_SECRET_") or var in (
            "MAILCONSOLE_CONFIG",
            "MAILCONSOLE_DATABASE_URL",
        ):
            monkeypatch.delenv(var, raising=False)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def _isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never read or write the developer's own config or data directories."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# --- databases ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_template() -> str | None:
    if not PG_URL:
        return None
    name = f"mc_template_{os.getpid()}"
    admin = create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(_pg_url_for(name))
    db.upgrade()
    db.dispose()
    admin.dispose()
    return name


def _pg_url_for(dbname: str) -> str:
    assert PG_URL
    base = PG_URL.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


def _require_pg() -> None:
    if PG_URL:
        return
    if os.environ.get("CI"):
        pytest.fail("MAILCONSOLE_TEST_PG_URL is not set: .ci/run must start PostgreSQL")
    pytest.skip("PostgreSQL could not be started: see .ci/start-postgres.sh")


def new_database(
    kind: str, tmp_path: Path, template_sqlite: Path, template_pg: str | None
) -> tuple[Database, Any]:
    """A fresh, migrated database of `kind`; returns it and a clean-up callable."""
    if kind == "sqlite":
        path = tmp_path / f"mc{next(_counter)}.db"
        shutil.copyfile(template_sqlite, path)
        db = Database(f"sqlite:///{path}")
        return db, db.dispose
    _require_pg()
    assert template_pg
    name = f"mc_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )  # type: ignore[union-attr]
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_pg}"'))
    db = Database(_pg_url_for(name))

    def cleanup() -> None:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return db, cleanup


@pytest.fixture(params=["sqlite", "postgresql"])
def db(
    request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: Path, _pg_template: str | None
) -> Iterator[Database]:
    """A fresh database, once on SQLite and once on PostgreSQL."""
    database, cleanup = new_database(request.param, tmp_path, _sqlite_template, _pg_template)
    yield database
    cleanup()


@pytest.fixture
def sqlite_db(tmp_path: Path, _sqlite_template: Path) -> Iterator[Database]:
    """A fresh SQLite database only (UI tests, snapshots)."""
    database, cleanup = new_database("sqlite", tmp_path, _sqlite_template, None)
    yield database
    cleanup()


@pytest.fixture
def pg_db(tmp_path: Path, _sqlite_template: Path, _pg_template: str | None) -> Iterator[Database]:
    """A fresh PostgreSQL database only (multi-worker tests)."""
    database, cleanup = new_database("postgresql", tmp_path, _sqlite_template, _pg_template)
    yield database
    cleanup()


# --- configuration ---------------------------------------------------------------------------


def make_config(**sections: Any) -> Config:
    """A validated Config from keyword sections, e.g. make_config(accounts={…}, routing={…})."""
    return parse_config(dict(sections), source="test")


@pytest.fixture
def sandbox_config() -> Config:
    """One sandbox account that always accepts, as primary."""
    return make_config(
        accounts={
            "sandbox-main": {
                "type": "sandbox",
                "from": "ops@example.com",
                "latency_ms": 0,
                "failure_rate": 0.0,
                "permanent_rate": 0.0,
            }
        },
        routing={"primary": "sandbox-main"},
    )
