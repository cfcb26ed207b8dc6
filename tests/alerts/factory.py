"""Store states and contexts for the alert tests: attempts, outages, leases, a recording hook."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest

from mailconsole.clock import FakeClock
from mailconsole.config import Config
from mailconsole.context import Actor, AppContext
from mailconsole.store.db import Database
from mailconsole.store.models import DeliveryAttempt, Outage
from tests.conftest import make_config

ACCOUNTS = {
    "sandbox-main": {
        "type": "sandbox",
        "from": "ops@example.com",
        "latency_ms": 0,
        "failure_rate": 0.0,
        "permanent_rate": 0.0,
    },
    "sandbox-revoked": {"type": "sandbox", "from": "ops@example.com", "account_error": True},
}


def alert_config(
    rules: Mapping[str, Any] | None = None,
    notifiers: Mapping[str, Any] | None = None,
    **alerts: Any,
) -> Config:
    """One sandbox account, the given rules and notifiers; fast delivery retries for tests."""
    section: dict[str, Any] = {"notify_backoff_seconds": 0.01, **alerts}
    if rules is not None:
        section["rules"] = dict(rules)
    return make_config(
        accounts=ACCOUNTS,
        routing={"primary": "sandbox-main"},
        alerts=section,
        notifiers=dict(notifiers or {}),
    )


FAILURE_RATE_RULE = {
    "failure_rate": {
        "metric": "failure_rate_24h",
        "threshold": 0.10,
        "warning": 0.05,
        "notify": ["rec"],
    }
}
RECORDER = {"rec": {"type": "hook", "hook": "record"}}


def make_ctx(
    db: Database,
    clock: FakeClock,
    config: Config | None = None,
    *,
    read_only: bool = False,
    actor: str = "tester",
) -> AppContext:
    return AppContext(
        config=config or alert_config(FAILURE_RATE_RULE, RECORDER),
        db=db,
        clock=clock,
        actor=Actor(name=actor, ssh_client="192.0.2.7", interface="cli"),
        read_only=read_only,
    )


def add_attempts(
    ctx: AppContext,
    *,
    sent: int = 0,
    failed: int = 0,
    at: datetime | None = None,
    backend: str = "sandbox-main",
) -> None:
    when = at or ctx.clock.now() - timedelta(minutes=1)
    with ctx.db.writing() as s:
        for i in range(sent + failed):
            ok = i < sent
            s.add(
                DeliveryAttempt(
                    message_id=1000 + i,
                    attempt_no=1,
                    backend=backend,
                    started_at=when,
                    outcome="sent" if ok else "transient",
                    error_code=None if ok else "http_503",
                )
            )


def add_outage(ctx: AppContext, *, started_at: datetime, backend: str = "sandbox-main") -> None:
    with ctx.db.writing() as s:
        s.add(
            Outage(
                backend=backend,
                started_at=started_at,
                first_error_code="http_503",
                first_error="Service Unavailable",
                failure_count=3,
            )
        )


class Recorder:
    """An alert hook that keeps every payload it receives (in delivery order)."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def __call__(self, payload: Mapping[str, Any]) -> None:
        self.payloads.append(dict(payload))

    def kinds(self, rule: str | None = None) -> list[str]:
        return [p["kind"] for p in self.payloads if rule is None or p["rule"] == rule]


def install_hooks(monkeypatch: pytest.MonkeyPatch, **hooks: Any) -> None:
    """Make `hooks` loadable by name, as if registered under `mailconsole.alert_hooks`."""
    from mailconsole.alerts import notifiers

    real = notifiers.load_hook

    def load(name: str) -> Any:
        return hooks[name] if name in hooks else real(name)

    monkeypatch.setattr(notifiers, "load_hook", load)
