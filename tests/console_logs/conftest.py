"""Fixtures for the Mail logs and Dead letters screens: a context on a fresh SQLite file with a
fake clock, a fixed set of messages, the app opened on a mode, and helpers to let workers finish.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot

from mailconsole.app import MailconsoleApp, build_app
from mailconsole.clock import FakeClock
from mailconsole.config import Config
from mailconsole.context import Actor, AppContext
from mailconsole.store.db import Database
from tests.conftest import make_config
from tests.console.conftest import snapshot  # noqa: F401  (SVGs under snapshots/console/)
from tests.console.support import wait_for_tables
from tests.console_logs.factory import Msg, add_messages


def logs_config(**overrides: Any) -> Config:
    sections: dict[str, Any] = {
        "accounts": {
            "postmark-main": {"type": "sandbox", "from": "ops@example.com", "latency_ms": 0},
            "smtp-fallback": {"type": "sandbox", "from": "ops@example.com", "latency_ms": 0},
        },
        "routing": {"primary": "postmark-main", "fallback": "smtp-fallback"},
        "log_detail": "full",
    }
    sections.update(overrides)
    return make_config(**sections)


def make_ctx(db: Database, clock: FakeClock, **config: Any) -> AppContext:
    return AppContext(
        config=logs_config(**config),
        db=db,
        clock=clock,
        actor=Actor(name="tester", interface="console"),
    )


@pytest.fixture
def logs_ctx(sqlite_db: Database, clock: FakeClock) -> AppContext:
    return make_ctx(sqlite_db, clock)


def fixed_messages() -> list[Msg]:
    """28 messages of every kind: sent, delivered, dead by several codes and domains, queued,
    bounced, suppressed; one with a markup-looking subject; ages in seconds before the clock."""
    msgs: list[Msg] = []
    for i in range(8):
        msgs.append(
            Msg(
                age_s=60 * (i + 1),
                status="delivered" if i % 2 else "sent",
                to=f"user{i}@example.com",
                subject=f"Order #{1000 + i} confirmed",
                attempt_rows=[{}],
                events=[{"event_type": "delivered"}] if i % 2 else [],
            )
        )
    for i in range(6):
        msgs.append(
            Msg(
                age_s=3600 + 300 * i,
                status="dead",
                to=f"reader{i}@gmail.com",
                subject=f"Weekly digest {i}",
                attempts=5,
                error_code="http_503",
                provider_code="postmark:503",
                error="Service Unavailable",
                attempt_rows=[
                    {"outcome": "transient", "error_code": "http_503", "provider_code": "postmark:503",
                     "error_message": "Service Unavailable"}
                ] * 5,
            )
        )  # fmt: skip
    for i in range(4):
        msgs.append(
            Msg(
                age_s=7200 + 300 * i,
                status="dead",
                to=f"ops{i}@yahoo.com",
                subject=f"Password reset {i}",
                attempts=5,
                error_code="http_500",
                error="-Internal error",
                attempt_rows=[{"outcome": "transient", "error_code": "http_500"}] * 5,
            )
        )
    for i in range(3):
        msgs.append(
            Msg(
                age_s=10800 + 60 * i,
                status="dead",
                to=f"nobody{i}@example.org",
                subject=f"Invoice {i}",
                backend="smtp-fallback",
                error_code="smtp_550",
                provider_code="550 5.1.1",
                error='=HYPERLINK("http://evil") mailbox unavailable',
                attempt_rows=[{"outcome": "permanent", "error_code": "smtp_550"}],
            )
        )
    msgs.append(Msg(age_s=30, status="queued", to="late@example.com", subject="Queued one",
                    attempts=0, backend=None))  # fmt: skip
    msgs.append(Msg(age_s=400, status="bounced", to="gone@example.net", subject="Bounced one",
                    error_code="smtp_550", attempt_rows=[{}], events=[{"event_type": "bounced"}]))  # fmt: skip
    msgs.append(Msg(age_s=500, status="suppressed", to="blocked@example.com",
                    subject="Suppressed one", attempts=0))  # fmt: skip
    msgs.append(Msg(age_s=90, status="dead", to="+tag@example.com",
                    subject="[red]x[/red] [@click=app.quit]y[/] \x1b[2J", error_code="http_422",
                    error="[bold]not markup"))  # fmt: skip
    msgs.append(Msg(age_s=15, status="sent", to="ann@example.com", subject="Your receipt (resent)",
                    replay_of=1, attempt_rows=[{}]))  # fmt: skip
    return msgs


@pytest.fixture
def seeded(logs_ctx: AppContext) -> list[int]:
    """The fixed messages; returns their ids in insertion order."""
    return add_messages(logs_ctx.db, fixed_messages(), logs_ctx.clock.now())


@pytest.fixture
def make_logs_app(logs_ctx: AppContext) -> Callable[..., MailconsoleApp]:
    def make(ctx: AppContext | None = None, mode: str = "logs", **kwargs: Any) -> MailconsoleApp:
        kwargs.setdefault("refresh_seconds", 0)
        return build_app(ctx or logs_ctx, initial_mode=mode, **kwargs)

    return make


async def settle(pilot: Pilot[Any], rounds: int = 6) -> None:
    """Let workers finish and their callbacks run (a callback may start another worker)."""
    app: App[Any] = pilot.app
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                break
    await wait_for_tables(pilot)


def notices(app: App[Any]) -> list[str]:
    """The notification messages shown so far."""
    return [str(n.message) for n in app._notifications]
