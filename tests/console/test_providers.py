"""Providers: accounts, credential source (never the secret), fallback, pause, circuit reset."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from textual.widgets import DataTable

from mailconsole.app import MailconsoleApp
from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.screens.providers import ProvidersScreen
from mailconsole.services import audit, metrics
from mailconsole.store.models import BackendState, Outage
from mailconsole.widgets.dialogs import ConfirmDialog
from tests.console.conftest import console_config
from tests.console.support import notifications, screen_text, settle

MakeApp = Callable[..., MailconsoleApp]


async def test_fallback_toggle_asks_then_switches_and_is_audited(
    console_ctx: AppContext, make_app: MakeApp
) -> None:
    app = make_app(initial_mode="providers")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "Fallback off" in screen_text(app)
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert "through sandbox-fallback" in screen_text(app)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ProvidersScreen)
        assert "Fallback ON" in screen_text(app)
        assert metrics.queue_status(console_ctx).fallback_enabled
        await pilot.press("f")
        await settle(pilot)
        await pilot.press("escape")  # changed their mind: stays on
        await settle(pilot)
        assert metrics.queue_status(console_ctx).fallback_enabled
    rows = audit.audit_log(console_ctx)
    assert [(r.action, r.outcome, r.actor) for r in rows] == [("fallback.enable", "ok", "tester")]


async def test_pause_one_account_from_its_row(console_ctx: AppContext, make_app: MakeApp) -> None:
    app = make_app(initial_mode="providers")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("down")  # the second account
        await pilot.press("s")
        await settle(pilot)
        assert "Pause sandbox-fallback?" in screen_text(app)
        await pilot.press("tab", "enter")  # danger: focus starts on Cancel; tab to Pause
        await settle(pilot)
        status = metrics.queue_status(console_ctx)
        assert status.by_backend["sandbox-fallback"].paused
        assert not status.by_backend["sandbox-main"].paused
        table = app.screen.query_one("#accounts", DataTable)
        assert str(table.get_row_at(1)[3]) == "PAUSED"
    (row,) = audit.audit_log(console_ctx)
    assert (row.action, row.target) == ("pause", {"backend": "sandbox-fallback"})


async def test_reset_an_open_circuit_after_fixing_the_token(
    console_ctx: AppContext, clock: FakeClock, make_app: MakeApp
) -> None:
    now = clock.now()
    with console_ctx.db.writing() as s:
        s.add(BackendState(backend="sandbox-main", circuit="open", circuit_kind="account",
                           circuit_reason="auth_error: the server token was rejected",
                           circuit_opened_at=now - timedelta(minutes=12), updated_at=now))  # fmt: skip
        s.add(Outage(backend="sandbox-main", kind="account", started_at=now - timedelta(minutes=12),
                     first_error_code="auth_error", first_error="the server token was rejected"))  # fmt: skip
    app = make_app(initial_mode="providers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "OPEN (account)" in text
        assert "circuit OPEN since 12m ago: auth_error: the server token was rejected" in text
        await pilot.press("o")
        await settle(pilot)
        assert "Reset the circuit of sandbox-main?" in screen_text(app)
        await pilot.press("y")
        await settle(pilot)
        assert "OPEN (account)" not in screen_text(app)
        assert any("circuit reset" in n for n in notifications(app))
    assert metrics.queue_status(console_ctx).by_backend["sandbox-main"].circuit == "closed"
    assert [r.action for r in audit.audit_log(console_ctx)] == ["circuit.reset"]


async def test_credential_source_is_shown_never_the_secret(
    console_ctx: AppContext, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILCONSOLE_SECRET_POSTMARK_MAIN", "pm-secret-token-123")
    console_ctx.config = console_config(
        accounts={"postmark-main": {"type": "postmark", "from": "ops@example.com"}},
        routing={"primary": "postmark-main"},
    )
    app = make_app(initial_mode="providers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "environment" in text
        assert "MAILCONSOLE_SECRET_POSTMARK_MAIN" in text
        assert "pm-secret-token-123" not in text


async def test_read_only_refuses_the_fallback_switch(
    console_ctx: AppContext, make_app: MakeApp
) -> None:
    console_ctx.read_only = True
    app = make_app(initial_mode="providers")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert any("fallback.enable refused" in n for n in notifications(app)), notifications(app)
        assert app.is_running
    assert not metrics.queue_status(console_ctx).fallback_enabled
