"""What every service call needs, built once per process: config, database, clock, secrets, actor.

The CLI and the console each build one `AppContext` and hand it to the same service functions;
tests build one around a fresh database and a fake clock.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from mailconsole.clock import SYSTEM_CLOCK, Clock
from mailconsole.config import Config, load_config
from mailconsole.errors import ReadOnlyError
from mailconsole.secrets import SecretStore
from mailconsole.store.db import Database


@dataclass(frozen=True)
class Actor:
    """Who performs an operator action, for the audit trail."""

    name: str
    ssh_client: str | None = None
    interface: str = "cli"

    @classmethod
    def from_environment(cls, interface: str = "cli") -> Actor:
        name = os.environ.get("SUDO_USER") or os.environ.get("USER") or os.environ.get("LOGNAME")
        if not name:
            try:
                name = getpass.getuser()
            except Exception:
                name = "unknown"
        ssh = os.environ.get("SSH_CLIENT") or os.environ.get("SSH_CONNECTION")
        return cls(name=name, ssh_client=ssh.split()[0] if ssh else None, interface=interface)


def default_http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=10.0),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        headers={"User-Agent": "mailconsole"},
    )


@dataclass
class AppContext:
    config: Config
    db: Database
    clock: Clock = SYSTEM_CLOCK
    secrets: SecretStore = field(default_factory=SecretStore)
    actor: Actor = field(default_factory=Actor.from_environment)
    read_only: bool = False
    http_factory: Callable[[], httpx.AsyncClient] = default_http_client
    # Backends built by hand (tests, the demo) win over ones built from config, by account name.
    backend_overrides: dict[str, Any] = field(default_factory=dict)

    def require_writable(self, action: str) -> None:
        """Refuse a mutating operation in read-only mode (enforced here, in the service layer)."""
        if self.read_only or self.config.read_only:
            raise ReadOnlyError(
                f"{action} refused: mailconsole is in read-only mode "
                "(started with --read-only or read_only = true in the config)"
            )

    @property
    def is_read_only(self) -> bool:
        return self.read_only or self.config.read_only

    def with_actor(self, actor: Actor) -> AppContext:
        return replace(self, actor=actor)


def open_context(
    config_path: str | Path | None = None,
    *,
    read_only: bool = False,
    interface: str = "cli",
    database_url: str | None = None,
    check_schema: bool = True,
    clock: Clock = SYSTEM_CLOCK,
) -> AppContext:
    """Load the config, open the database and check its schema (creating a fresh one)."""
    config = load_config(config_path)
    db = Database(database_url or config.effective_database_url())
    if check_schema:
        db.check_schema(create_if_empty=True)
    return AppContext(
        config=config,
        db=db,
        clock=clock,
        actor=Actor.from_environment(interface),
        read_only=read_only,
    )
