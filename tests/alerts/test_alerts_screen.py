"""The Alerts screen, driven with Pilot, and its snapshots at 80×24 and 120×40 (fake clock)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from textual.widgets import DataTable, Input, Static

from mailconsole.alerts.service import evaluate, list_alerts, silence
from mailconsole.app import MailconsoleApp, build_app
from mailconsole.clock import FakeClock
from mailconsole.context import Actor, AppContext
from mailconsole.engine.enqueue import enqueue_many
from mailconsole.engine.leader import LEADER, try_acquire
from mailconsole.screens.alerts import AlertsScreen, SilenceDialog
from mailconsole.store.db import Database
from mailconsole.store.models import AuditEvent
from mailconsole.widgets.dialogs import ConfirmDialog
from tests.alerts.factory import add_attempts
from tests.console.conftest import _no_color_leak, console_config, pinned_tabs, snapshot  # noqa: F401
from tests.console_logs.conftest import notices, settle

RULES = {
    "failure_rate": {
        "metric": "failure_rate_24h",
        "threshold": 0.10,
        "warning": 0.05,
        "notify": ["log"],
    },
    "queue_backlog": {"metric": "queue_backlog", "threshold": 100, "warning": 50},
    "scheduler_heartbeat": {"metric": "scheduler_heartbeat_age_s", "threshold": 300},
    "outage_open": {"metric": "outage_open_s", "threshold": 600},
}


def seeded_ctx(db: Database, clock: FakeClock, *, read_only: bool = False) -> AppContext:
    """Failure rate critical, backlog warning, heartbeat fresh, outages silenced; 5 min in."""
    config = console_config(
        alerts={"rules": RULES, "notify_backoff_seconds": 0.01},
        notifiers={"log": {"type": "hook", "hook": "log"}},
    )
    ctx = AppContext(config=config, db=db, clock=clock, actor=Actor("ana", interface="console"))
    add_attempts(ctx, sent=80, failed=20)
    enqueue_many(
        ctx, [(i, {"to": f"u{i}@example.com", "subject": "Hi", "text": "x"}) for i in range(60)]
    )
    try_acquire(ctx, LEADER, "worker-a", ttl_s=30)
    silence(ctx, "outage_open", timedelta(hours=2), reason="provider maintenance")
    evaluate(ctx)
    clock.advance(300)
    try_acquire(ctx, LEADER, "worker-a", ttl_s=30)
    evaluate(ctx)
    clock.advance(30)
    if read_only:
        return AppContext(
            config=config, db=db, clock=clock, actor=Actor("viewer", interface="console"),
            read_only=True,
        )  # fmt: skip
    return ctx


def app_for(ctx: AppContext) -> MailconsoleApp:
    return build_app(ctx, refresh_seconds=0, initial_mode="alerts")


def alerts_screen(app: MailconsoleApp) -> AlertsScreen:
    screen = app.screen
    assert isinstance(screen, AlertsScreen), type(screen)
    return screen


def cells(app: MailconsoleApp, table_id: str) -> list[list[str]]:
    table = alerts_screen(app).query_one(table_id, DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def audit(db: Database) -> list[tuple[str, str, str, str, Any, str | None]]:
    with db.reading() as s:
        rows = s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
        return [(r.action, r.actor, r.interface, r.outcome, r.target, r.reason) for r in rows]


async def test_alerts_screen_lists_each_rule_with_value_threshold_state_and_cooldown(
    sqlite_db: Database, clock: FakeClock
) -> None:
    app = app_for(seeded_ctx(sqlite_db, clock))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        rows = cells(app, "#alert-rules")
        assert [r[0] for r in rows] == list(RULES)
        assert rows[0][1:8] == [
            "CRITICAL",
            "20 %",
            "10 %",
            "5 %",
            "5m 30s ago",
            "54m",
            "failure_rate_24h",
        ]
        assert rows[1][1:5] == ["WARNING", "60", "100", "50"]
        assert rows[2][1] == "ok"
        assert rows[3][1] == "ok silenced 1h 54m"
        summary = str(alerts_screen(app).query_one("#alerts-summary", Static).render())
        assert summary.startswith("2 firing (1 critical, 1 warning) · 4 rules · 1 silenced")
        detail = str(alerts_screen(app).query_one("#alert-detail", Static).render())
        assert "20 of 100 attempts failed in 24 h" in detail
        assert "1 repeat suppressed" in detail
        history = cells(app, "#alert-history")
        assert [(h[1], h[2], h[3], h[4]) for h in history] == [
            ("queue_backlog", "firing (warning)", "log", "sent"),  # no notify: every notifier
            ("failure_rate", "firing (critical)", "log", "sent"),
        ]


async def test_the_a_key_opens_alerts_from_any_screen(
    sqlite_db: Database, clock: FakeClock
) -> None:
    app = build_app(seeded_ctx(sqlite_db, clock), refresh_seconds=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)


async def test_acknowledge_asks_first_then_is_audited_as_the_console_user(
    sqlite_db: Database, clock: FakeClock
) -> None:
    ctx = seeded_ctx(sqlite_db, clock)
    app = app_for(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("k")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")  # cancelled: nothing happens
        await settle(pilot)
        assert list_alerts(ctx)[0].acked_by is None
        await pilot.press("k")
        await pilot.press("y")
        await settle(pilot)
        assert cells(app, "#alert-rules")[0][1] == "CRITICAL acked"
        assert "failure_rate acknowledged" in notices(app)
    assert list_alerts(ctx)[0].acked_by == "ana"
    assert audit(sqlite_db)[-1] == (
        "alerts.ack", "ana", "console", "ok", {"rule": "failure_rate"}, None,
    )  # fmt: skip


async def test_silence_asks_for_a_duration_and_a_reason(
    sqlite_db: Database, clock: FakeClock
) -> None:
    ctx = seeded_ctx(sqlite_db, clock)
    app = app_for(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down")  # queue_backlog
        await pilot.press("s")
        dialog = app.screen
        assert isinstance(dialog, SilenceDialog)
        dialog.query_one("#silence-for", Input).value = "2 fortnights"
        await pilot.press("enter")
        assert app.screen is dialog  # refused, with the reason shown in the dialog
        assert "bad duration" in str(dialog.query_one("#silence-error", Static).render())
        dialog.query_one("#silence-for", Input).value = "30m"
        dialog.query_one("#silence-reason", Input).value = "bulk import running"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)
        assert cells(app, "#alert-rules")[1][1] == "WARNING silenced 30m", notices(app)
    action, actor, interface, outcome, target, reason = audit(sqlite_db)[-1]
    assert (action, actor, interface, outcome) == ("alerts.silence", "ana", "console", "ok")
    assert target["rule"] == "queue_backlog" and target["seconds"] == 1800
    assert reason == "bulk import running"


async def test_a_read_only_console_is_refused_says_why_and_the_refusal_is_audited(
    sqlite_db: Database, clock: FakeClock
) -> None:
    app = app_for(seeded_ctx(sqlite_db, clock, read_only=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "read-only" in str(alerts_screen(app).query_one("#alerts-summary", Static).render())
        await pilot.press("k")
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, AlertsScreen)  # no dialog to fill in for nothing
        assert sum("read-only mode" in n for n in notices(app)) == 2
    refused = [(a[0], a[1], a[3]) for a in audit(sqlite_db) if a[3] == "refused"]
    assert refused == [
        ("alerts.ack", "viewer", "refused"),
        ("alerts.silence", "viewer", "refused"),
    ]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.usefixtures("pinned_tabs")
def test_alerts_screen_snapshot(
    snap_compare: Any,
    sqlite_db: Database,
    clock: FakeClock,
    size: tuple[int, int],
) -> None:
    app = app_for(seeded_ctx(sqlite_db, clock))

    async def run_before(pilot: Any) -> None:
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
