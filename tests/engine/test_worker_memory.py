"""The headless worker's memory: its SQLite connections keep a small page cache.

A count over the whole backlog (the alert and Dashboard queue metrics) fills a connection's page
cache to its limit, so the worker's memory follows the queue unless that limit is small; and the
pages freed stay in the allocating thread's malloc arena unless the arenas are few.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError

from mailconsole.clock import SYSTEM_CLOCK
from mailconsole.config import DispatchConfig
from mailconsole.context import AppContext
from mailconsole.engine import worker
from mailconsole.engine.scheduler import register_job, unregister_job
from mailconsole.engine.worker import M_ARENA_MAX, WORKER_MALLOC_ARENAS, run_worker
from mailconsole.store.db import SQLITE_CACHE_KIB, Database
from tests.engine.conftest import engine_config, make_ctx


class FakeLibc:
    """Stands in for glibc: records mallopt calls (the test process keeps its own arenas)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

        def mallopt(param: int, value: int) -> int:
            self.calls.append((param, value))
            return 1

        self.mallopt = mallopt


@pytest.fixture
def libc(monkeypatch: pytest.MonkeyPatch) -> FakeLibc:
    fake = FakeLibc()
    monkeypatch.setattr(worker, "_libc", lambda: fake)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    return fake


def cache_kib(db: Database) -> int:
    """The page cache limit of the connection the pool hands out next (negative PRAGMA = KiB)."""
    with db.reading() as session:
        value = session.connection().exec_driver_sql("PRAGMA cache_size").scalar_one()
    return -int(value)


def test_limiting_the_cache_reopens_pooled_connections_with_the_smaller_size(
    sqlite_db: Database,
) -> None:
    assert cache_kib(sqlite_db) == SQLITE_CACHE_KIB  # the pool now holds an 8 MB connection
    sqlite_db.limit_sqlite_cache(1024)
    assert cache_kib(sqlite_db) == 1024
    with sqlite_db.writing() as session:  # write transactions too
        assert session.connection().exec_driver_sql("PRAGMA cache_size").scalar_one() == -1024


def test_limiting_the_cache_leaves_postgresql_alone(pg_db: Database) -> None:
    pg_db.limit_sqlite_cache(1024)
    with pg_db.reading() as session:
        assert session.connection().exec_driver_sql("SELECT 1").scalar_one() == 1


def test_the_worker_cache_defaults_to_2_mb_and_refuses_a_useless_size() -> None:
    assert DispatchConfig().worker_sqlite_cache_kib == 2048
    with pytest.raises(ValidationError):
        DispatchConfig(worker_sqlite_cache_kib=16)


def test_malloc_arenas_are_capped_unless_the_operator_chose_a_number(
    libc: FakeLibc, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert worker.limit_malloc_arenas() is True
    assert libc.calls == [(M_ARENA_MAX, WORKER_MALLOC_ARENAS)] == [(-8, 2)]
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert worker.limit_malloc_arenas() is False
    assert len(libc.calls) == 1


def test_a_c_library_without_mallopt_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_libc", lambda: object())
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert worker.limit_malloc_arenas() is False


async def test_the_worker_runs_its_jobs_on_connections_with_the_configured_cache(
    sqlite_db: Database, libc: FakeLibc
) -> None:
    config = engine_config(
        dispatch={"interval_seconds": 30, "leader_lease_seconds": 6, "worker_sqlite_cache_kib": 512}
    )
    ctx = make_ctx(sqlite_db, SYSTEM_CLOCK, config)  # type: ignore[arg-type]
    assert cache_kib(sqlite_db) == SQLITE_CACHE_KIB
    seen: list[int] = []
    stop = asyncio.Event()

    def probe(job_ctx: AppContext) -> dict[str, Any]:
        seen.append(cache_kib(job_ctx.db))
        stop.set()
        return {"cache_kib": seen[-1]}

    register_job("cache_probe", probe, 0.05)
    try:
        code = await asyncio.wait_for(
            run_worker(ctx, echo=lambda _line: None, stop=stop, install_signals=False), 20
        )
    finally:
        unregister_job("cache_probe")
    assert code == 0
    assert seen and set(seen) == {512}
    assert libc.calls == [(M_ARENA_MAX, WORKER_MALLOC_ARENAS)]
