"""Real `mailconsole worker` processes against the fake Postmark server on 127.0.0.1.

A graceful stop, a SIGKILL in the middle of a batch then a restart, two workers on one
PostgreSQL database, and `--once`. The fake records every message on arrival, so the count per
message id is what the provider saw: duplicates are counted there, not guessed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mailconsole.config import load_config
from mailconsole.context import AppContext
from mailconsole.engine.enqueue import enqueue_many
from mailconsole.store.db import Database
from tests.engine.conftest import all_attempts, messages, statuses
from tests.fakes.postmark_server import FakePostmark

TOKEN = "pm-worker-token"


@pytest.fixture
def postmark() -> Iterator[FakePostmark]:
    with FakePostmark(token=TOKEN) as server:
        yield server


def write_config(path: Path, server: FakePostmark, *, batch_size: int, **dispatch: Any) -> Path:
    settings = {"interval_seconds": 0.2, "leader_lease_seconds": 5, "lease_seconds": 5,
                "recover_interval_seconds": 0.5, **dispatch}  # fmt: skip
    lines = [
        "[accounts.pm]",
        'type = "postmark"',
        'from = "ops@example.com"',
        f'base_url = "{server.url}"',
        f"batch_size = {batch_size}",
        "max_connections = 1",
        "[routing]",
        'primary = "pm"',
        "[dispatch]",
        *(f"{k} = {v}" for k, v in settings.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


class Worker:
    """One `mailconsole worker` subprocess, its output in files."""

    def __init__(self, tmp: Path, name: str, config: Path, db_url: str, *args: str) -> None:
        self.out = tmp / f"{name}.out"
        self.err = tmp / f"{name}.err"
        env = {**os.environ, "MAILCONSOLE_CONFIG": str(config),
               "MAILCONSOLE_DATABASE_URL": db_url, "MAILCONSOLE_SECRET_PM": TOKEN}  # fmt: skip
        cmd = [sys.executable, "-m", "mailconsole.cli.main", "worker", "--id", name, *args]
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"worker did not stop; stderr:\n{self.err.read_text()}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def wait_for(check: Callable[[], Any], timeout: float, what: str, workers: list[Worker]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {w.err.name}\n{w.err.read_text()[-3000:]}" for w in workers)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.02)


def load(db: Database, config: Path, n: int) -> AppContext:
    ctx = AppContext(config=load_config(config), db=db)
    rows = [(i, {"to": f"user{i}@example.com", "subject": f"m{i}", "text": "hi"}) for i in range(n)]
    assert enqueue_many(ctx, rows).accepted == n
    return ctx


def test_sigterm_finishes_the_batch_in_flight_and_exits_0_with_nothing_left_sending(
    sqlite_db: Database, tmp_path: Path, postmark: FakePostmark
) -> None:
    config = write_config(tmp_path / "c.toml", postmark, batch_size=10)
    ctx = load(sqlite_db, config, 60)
    postmark.latency = 0.3
    worker = Worker(tmp_path, "w1", config, sqlite_db.url)
    try:
        wait_for(lambda: len(postmark.received) >= 10, 20, "a batch in flight", [worker])
        assert worker.stop(signal.SIGTERM) == 0
    finally:
        worker.kill()
    counts = statuses(ctx)
    assert "sending" not in counts
    accepted = postmark.accepted_ids()
    assert counts["sent"] == len(accepted) >= 10  # the batch in flight was finished and recorded
    assert counts["sent"] + counts["queued"] == 60
    assert set(accepted.values()) == {1}
    out = worker.stdout
    assert "leading:" in out and "stopping: finishing in-flight sends" in out and "stopped" in out


def test_a_worker_killed_mid_batch_loses_nothing_after_a_restart(
    sqlite_db: Database, tmp_path: Path, postmark: FakePostmark
) -> None:
    config = write_config(tmp_path / "c.toml", postmark, batch_size=10)
    ctx = load(sqlite_db, config, 100)
    postmark.latency = 0.3  # messages are recorded on arrival: the kill lands before the answer
    first = Worker(tmp_path, "doomed", config, sqlite_db.url)
    try:
        wait_for(lambda: len(postmark.received) >= 30, 30, "three batches", [first])
        first.stop(signal.SIGKILL)
    finally:
        first.kill()
    in_flight = [m for m in messages(ctx).values() if m.status == "sending"]
    # The kill landed mid-batch: the batch in flight, and the next one its slot had claimed ahead.
    assert 1 <= len(in_flight) <= 20
    second = Worker(tmp_path, "restarted", config, sqlite_db.url)
    try:
        wait_for(lambda: statuses(ctx) == {"sent": 100}, 60, "every message sent", [second])
        assert second.stop(signal.SIGTERM) == 0
    finally:
        second.kill()
    accepted = postmark.accepted_ids()
    assert set(accepted) == {str(m) for m in messages(ctx)}  # none lost
    duplicates = sum(accepted.values()) - 100
    assert duplicates <= 10  # at most the batch in flight at the kill
    assert {k for k, v in accepted.items() if v > 1} <= {str(m.id) for m in in_flight}
    expired = [a for a in all_attempts(ctx) if a.error_code == "lease_expired"]
    assert {a.message_id for a in expired} == {m.id for m in in_flight}
    assert "waiting: leader is" in second.stdout or "leading:" in second.stdout


@pytest.mark.postgres
def test_two_workers_on_one_postgres_database_send_5000_messages_exactly_once(
    pg_db: Database, tmp_path: Path, postmark: FakePostmark
) -> None:
    config = write_config(tmp_path / "c.toml", postmark, batch_size=500)
    ctx = load(pg_db, config, 5000)
    postmark.latency = 0.4
    workers = [Worker(tmp_path, f"w{i}", config, pg_db.url) for i in (1, 2)]
    try:
        leader = wait_for(
            lambda: next((w for w in workers if "leading:" in w.stdout), None),
            20,
            "a leader",
            workers,
        )
        follower = next(w for w in workers if w is not leader)
        wait_for(lambda: "waiting: leader is" in follower.stdout, 20, "the follower", workers)
        wait_for(lambda: len(postmark.received) >= 1500, 30, "a third sent", workers)
        # The leader stops gracefully; the follower takes over at its next heartbeat.
        assert leader.stop(signal.SIGTERM) == 0
        wait_for(lambda: "leading:" in follower.stdout, 20, "the takeover", workers)
        wait_for(lambda: statuses(ctx) == {"sent": 5000}, 60, "all sent", workers)
        assert follower.stop(signal.SIGTERM) == 0
    finally:
        for w in workers:
            w.kill()
    accepted = postmark.accepted_ids()
    assert len(accepted) == 5000 and set(accepted.values()) == {1}  # exactly once
    assert len(postmark.received) == 5000
    by_worker = {a.backend for a in all_attempts(ctx)}
    assert by_worker == {"pm"}
    rows = messages(ctx).values()
    owners_done = {m.provider_message_id is not None for m in rows}
    assert owners_done == {True}


def test_worker_once_drains_what_is_due_and_exits(
    sqlite_db: Database, tmp_path: Path, postmark: FakePostmark
) -> None:
    config = write_config(tmp_path / "c.toml", postmark, batch_size=10, claim_limit=15)
    ctx = load(sqlite_db, config, 40)
    worker = Worker(tmp_path, "cron", config, sqlite_db.url, "--once")
    assert worker.proc.wait(timeout=60) == 0, worker.err.read_text()
    assert statuses(ctx) == {"sent": 40}
    assert "dispatch: claimed 40: sent 40" in worker.stdout
