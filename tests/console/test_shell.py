"""The shell: modes and their keys, help, the command palette, keymaps, read-only, failures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.widgets import Button, Input

from mailconsole.app import MailconsoleApp
from mailconsole.commands import known_binding_ids, palette_entries
from mailconsole.context import AppContext
from mailconsole.errors import StoreError
from mailconsole.screens import ordered
from mailconsole.screens.audit import AuditScreen
from mailconsole.screens.dashboard import DashboardScreen
from mailconsole.screens.help import HelpScreen
from mailconsole.screens.providers import ProvidersScreen
from mailconsole.screens.queue import QueueScreen
from mailconsole.screens.trend import TrendScreen
from mailconsole.services import metrics
from mailconsole.widgets.dialogs import ConfirmDialog, TypedConfirmDialog
from tests.console.conftest import console_config
from tests.console.support import notifications, screen_text, settle

MakeApp = Callable[..., MailconsoleApp]


async def test_app_opens_on_the_dashboard_and_one_key_per_screen_switches(
    make_app: MakeApp,
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        for key, cls in (("q", QueueScreen), ("t", TrendScreen), ("p", ProvidersScreen),
                         ("u", AuditScreen), ("d", DashboardScreen)):  # fmt: skip
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, cls), key
        assert notifications(app) == []


async def test_every_registered_screen_has_a_mode_a_key_and_a_header_tab(make_app: MakeApp) -> None:
    app = make_app()
    specs = ordered()
    assert len({s.key for s in specs}) == len(specs), "two screens share a key"
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        header = screen_text(app).splitlines()[0]
        for spec in specs:
            assert spec.mode in app.MODES
            assert spec.tab_label in header
            await pilot.press(spec.key)
            await settle(pilot)
            assert app.current_mode == spec.mode


async def test_clicking_a_header_tab_switches_screen(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        header = screen_text(app).splitlines()[0]
        column = header.index("Providers")
        await pilot.click(offset=(column + 2, 0))
        await settle(pilot)
        assert isinstance(app.screen, ProvidersScreen)


async def test_question_mark_lists_the_current_screens_bindings_with_their_ids(
    make_app: MakeApp,
) -> None:
    app = make_app(initial_mode="queue")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Keys: Queue" in text
        for words in ("Process now", "queue.process_now", "Pause/Resume", "screen.dashboard"):
            assert words in text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)


def test_command_palette_entries_cover_every_screen_and_every_screen_action() -> None:
    texts = {e.text for e in palette_entries()}
    for spec in ordered():
        assert f"Go to {spec.title}" in texts
    for action in ("Queue: Process now", "Queue: Pause/Resume", "Providers: Reset circuit",
                   "Providers: Fallback on/off", "Failure trend: 24h/7d", "Audit log: Filter"):  # fmt: skip
        assert action in texts


async def test_an_action_chosen_in_the_command_palette_runs_on_its_screen(
    make_app: MakeApp,
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"process now")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert app.current_mode == "queue"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)


async def test_keymap_from_config_remaps_a_screen_key(
    console_ctx: AppContext, make_app: MakeApp
) -> None:
    console_ctx.config = console_config(ui={"keymap": {"screen.queue": "f2"}})
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("f2")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
        assert notifications(app) == []


async def test_an_unknown_binding_id_in_the_keymap_is_reported(
    console_ctx: AppContext, make_app: MakeApp
) -> None:
    console_ctx.config = console_config(ui={"keymap": {"queue.process_later": "f3"}})
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert any("queue.process_later" in n for n in notifications(app))
        assert "queue.process_now" in known_binding_ids(app)


async def test_read_only_shows_a_badge(console_ctx: AppContext, make_app: MakeApp) -> None:
    console_ctx.read_only = True
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "READ-ONLY" in screen_text(app).splitlines()[0]


async def test_no_badge_when_writable(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "READ-ONLY" not in screen_text(app)


@pytest.mark.parametrize(
    "error",
    [StoreError("the database is gone: check MAILCONSOLE_DATABASE_URL"), RuntimeError("boom")],
)
async def test_a_failing_service_call_is_a_notification_and_the_app_keeps_running(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def broken(ctx: AppContext, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(metrics, "queue_status", broken)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        assert app.is_running
        assert isinstance(app.screen, QueueScreen)
        shown = notifications(app)
        assert any(str(error) in n for n in shown), shown
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, TrendScreen)


async def test_confirm_dialog_answers_yes_only_on_explicit_confirm(make_app: MakeApp) -> None:
    app = make_app()
    answers: list[bool | None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(ConfirmDialog("Pause?", "[red]x[/red] body", danger=True), answers.append)
        await pilot.pause()
        assert "[red]x[/red] body" in screen_text(app)
        # Danger: Cancel has the focus, so Enter cancels.
        await pilot.press("enter")
        await pilot.pause()
        app.push_screen(ConfirmDialog("Pause?", "body"), answers.append)
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
    assert answers == [False, True]


async def test_typed_confirm_needs_the_exact_count(make_app: MakeApp) -> None:
    app = make_app()
    answers: list[bool | None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(
            TypedConfirmDialog("Retry?", "all 12,345 matching", "12345"), answers.append
        )
        await pilot.pause()
        assert app.screen.query_one("#confirm", Button).disabled
        await pilot.press(*"1234", "enter")
        await pilot.pause()
        assert answers == []  # wrong text: still open
        field = app.screen.query_one("#typed", Input)
        field.value = ""
        await pilot.press(*"12345")
        await pilot.pause()
        assert not app.screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await pilot.pause()
    assert answers == [True]
