"""Running the real CLI (click's CliRunner) against the test database, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mailconsole.cli.main import cli
from mailconsole.clock import SYSTEM_CLOCK
from mailconsole.config import load_config
from mailconsole.context import AppContext
from mailconsole.store.db import Database
from mailconsole.store.models import SchedulerLease
from tests.services.factory import make_ctx

BASE_CONFIG = """
[accounts.sandbox-main]
type = "sandbox"
from = "ops@example.com"
latency_ms = 0
failure_rate = 0.0

[accounts.sandbox-backup]
type = "sandbox"
from = "ops@example.com"
latency_ms = 0
failure_rate = 0.0

[routing]
primary = "sandbox-main"
fallback = "sandbox-backup"
"""


@dataclass
class Cli:
    """The CLI bound to one config file and one database; `ctx` builds states in that store."""

    config_path: Path
    db: Database
    ctx: AppContext

    def __call__(self, *args: str, input: str | None = None, read_only: bool = False) -> Result:
        argv = ["--config", str(self.config_path), "--database-url", self.db.url]
        if read_only:
            argv.append("--read-only")
        return CliRunner().invoke(cli, [*argv, *args], input=input, catch_exceptions=False)

    def add_leader(self, age_s: float = 1.0) -> None:
        beat = self.ctx.clock.now() - timedelta(seconds=age_s)
        with self.db.writing() as s:
            s.merge(
                SchedulerLease(name="leader", owner="worker-1", host="mx1", pid=7,
                               acquired_at=beat, heartbeat_at=beat,
                               expires_at=beat + timedelta(seconds=60))
            )  # fmt: skip


@pytest.fixture
def make_cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Cli]:
    """`make_cli(extra_toml)` → a Cli; the actor is alice over SSH, as in a runbook."""
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("SSH_CLIENT", "198.51.100.4 50000 22")

    def build(extra: str = "", **_: Any) -> Cli:
        path = tmp_path / "config.toml"
        path.write_text(BASE_CONFIG + extra, encoding="utf-8")
        # The CLI runs on the real clock, so states are built on it too.
        return Cli(path, db, make_ctx(db, SYSTEM_CLOCK, load_config(path)))  # type: ignore[arg-type]

    return build


@pytest.fixture
def run(make_cli: Callable[..., Cli]) -> Cli:
    return make_cli()
