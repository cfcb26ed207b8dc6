"""Dashboard: the cards from the metrics snapshot, Enter on a card, refresh without overlap."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from mailconsole.app import MailconsoleApp
from mailconsole.context import AppContext
from mailconsole.engine.enqueue import enqueue
from mailconsole.screens import has_mode
from mailconsole.screens.dashboard import DashboardScreen, build_cards, change_text
from mailconsole.services import metrics, operations
from mailconsole.widgets.dialogs import ConfirmDialog
from mailconsole.widgets.health_card import HealthCard
from tests.console.support import mark_leader, notifications, screen_text, settle

MakeApp = Callable[..., MailconsoleApp]


async def test_dashboard_shows_backlog_failure_rate_dead_letters_outage_and_providers(
    demo: AppContext, make_app: MakeApp
) -> None:
    snap = metrics.dashboard_snapshot(demo)
    app = make_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert f"{snap.status.queue_backlog:,} messages" in text
        assert f"{snap.status.dead_letter_count:,} total" in text
        assert "sandbox-main  ended" in text
        assert "ago for 40m" in text
        assert "http_503" in text
        assert "sandbox-fallback" in text and "primary" in text
        assert "No active alerts" in text or "CRIT" in text or "WARN" in text
        # Every card carries its level as a word, readable without colour.
        for card in app.screen.query(HealthCard):
            assert card.data is not None
            assert card.border_subtitle in ("OK", "WARN", "CRIT")
            assert card.has_class(f"-{card.data.level}")


def test_card_levels_follow_the_thresholds(demo: AppContext) -> None:
    snap = metrics.dashboard_snapshot(demo)
    cards = build_cards(snap, demo.clock.now())
    assert cards["backlog"].level == snap.levels["backlog"]
    assert cards["dead_letters"].level == snap.levels["dead_letters"]
    assert cards["scheduler"].level == "critical"  # nobody leads this database
    assert change_text(0.05, 0.03) == "▲ +2.0 pt vs prev 24h"
    assert change_text(0.01, 0.03).startswith("▼ -2.0 pt")


async def test_dashboard_shows_who_leads_and_the_last_and_next_dispatch(
    demo: AppContext, make_app: MakeApp
) -> None:
    mark_leader(demo)
    operations.pause(demo, reason="maintenance")
    app = make_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "worker@ops-1:4242" in text
        assert "heartbeat now" in text
        assert "ran 2s ago · next 3s" in text
        assert "DISPATCH PAUSED" in text
        assert app.screen.query_one("#scheduler", HealthCard).data.level == "warning"


async def test_refresh_picks_up_new_messages(console_ctx: AppContext, make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "0 messages" in screen_text(app)
        for n in range(3):
            enqueue(console_ctx, {"to": f"u{n}@example.com", "subject": "Hi", "text": "x"})
        await pilot.press("r")
        await settle(pilot)
        assert "3 messages" in screen_text(app)


@pytest.mark.parametrize(
    ("card", "mode"),
    [("backlog", "queue"), ("oldest_age", "queue"), ("failure_rate", "trend"),
     ("outage", "providers"), ("scheduler", "queue")],
)  # fmt: skip
async def test_enter_on_a_card_opens_its_detail_screen(
    make_app: MakeApp, card: str, mode: str
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one(f"#{card}", HealthCard).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_mode == mode


async def test_enter_on_dead_letters_opens_the_dead_letters_or_the_dead_mail_logs(
    make_app: MakeApp,
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.click("#dead_letters")
        await settle(pilot)
        expected = "dead" if has_mode("dead") else "logs"
        assert app.current_mode == expected


async def test_auto_refresh_never_overlaps_and_stops_under_a_dialog(
    console_ctx: AppContext, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = metrics.dashboard_snapshot
    running = 0
    most = 0
    calls = 0
    lock = threading.Lock()

    def slow_snapshot(ctx: AppContext) -> Any:
        nonlocal running, most, calls
        with lock:
            running += 1
            calls += 1
            most = max(most, running)
        try:
            time.sleep(0.15)  # slower than the refresh interval
            return real(ctx)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(metrics, "dashboard_snapshot", slow_snapshot)
    app = make_app(refresh_seconds=0.02)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(8):
            await pilot.pause(0.1)
            await pilot.press("r")  # a manual refresh during a running one is coalesced
        assert calls >= 3
        assert most == 1
        app.push_screen(ConfirmDialog("Pause?", "body"))
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        before = calls
        await pilot.pause(0.5)
        assert calls == before, "the Dashboard refreshed under a dialog"
        await pilot.press("escape")
        await pilot.pause(0.5)
        assert calls > before, "closing the dialog resumes the refreshes"
        assert isinstance(app.screen, DashboardScreen)
        assert notifications(app) == []


async def test_dashboard_lists_firing_alerts_and_a_click_opens_the_alerts_screen(
    console_ctx: AppContext, make_app: MakeApp
) -> None:
    from mailconsole.alerts.service import evaluate
    from tests.console.conftest import console_config

    console_ctx.config = console_config(
        alerts={"rules": {"backlog-high": {"metric": "queue_backlog", "threshold": 2}}}
    )
    for n in range(3):
        enqueue(console_ctx, {"to": f"u{n}@example.com", "subject": "Hi", "text": "x"})
    evaluate(console_ctx)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        line = next(x for x in screen_text(app).splitlines() if "backlog-high" in x)
        assert line.split()[:2] == ["CRIT", "backlog-high"]
        assert "≥" in line
        if has_mode("alerts"):
            await pilot.click("#alerts")
            await settle(pilot)
            assert app.current_mode == "alerts"
