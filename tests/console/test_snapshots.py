"""Snapshots of every console screen this package owns, at 80×24 and 120×40.

Fixed data (the demo generator, seed 7, on a FakeClock at 2026-01-01 12:00 UTC), no scheduler,
no auto-refresh, every worker awaited before the picture. SVGs live in snapshots/console/.
Update with `pytest tests/console/test_snapshots.py --snapshot-update` and look at them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from mailconsole.app import MailconsoleApp
from mailconsole.context import AppContext
from mailconsole.widgets.dialogs import ConfirmDialog, TypedConfirmDialog
from tests.console.support import mark_leader, settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
SCREENS = ["dashboard", "queue", "trend", "providers", "audit"]

SnapCompare = Callable[..., bool]
MakeApp = Callable[..., MailconsoleApp]


async def _settled(pilot: Pilot[Any]) -> None:
    """Workers done, and no blinking cursor anywhere (it would change with timing)."""
    await settle(pilot)
    for screen in pilot.app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False
    await pilot.pause()


@pytest.fixture
def snap_ctx(demo: AppContext, pinned_tabs: None) -> AppContext:
    mark_leader(demo)
    return demo


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", SCREENS)
def test_screen_snapshot(
    snap_compare: SnapCompare,
    snap_ctx: AppContext,
    make_app: MakeApp,
    mode: str,
    size: tuple[int, int],
) -> None:
    app = make_app(snap_ctx, initial_mode=mode)
    assert snap_compare(app, terminal_size=size, run_before=_settled)


@pytest.mark.parametrize("size", SIZES)
def test_trend_week_snapshot(
    snap_compare: SnapCompare, snap_ctx: AppContext, make_app: MakeApp, size: tuple[int, int]
) -> None:
    app = make_app(snap_ctx, initial_mode="trend")

    async def week(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("w")
        await _settled(pilot)

    assert snap_compare(app, terminal_size=size, run_before=week)


def test_help_snapshot(snap_compare: SnapCompare, snap_ctx: AppContext, make_app: MakeApp) -> None:
    app = make_app(snap_ctx, initial_mode="providers")

    async def help_open(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await _settled(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=help_open)


def test_confirm_dialogs_snapshot(
    snap_compare: SnapCompare, snap_ctx: AppContext, make_app: MakeApp
) -> None:
    app = make_app(snap_ctx, initial_mode="queue")

    async def dialogs(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.push_screen(
            ConfirmDialog("Pause all dispatch?", "No message is sent.", danger=True)
        )
        pilot.app.push_screen(
            TypedConfirmDialog(
                "Retry 12,345 messages?", "All 12,345 matching status:dead.", "12345"
            )
        )
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=dialogs)


def test_read_only_dashboard_snapshot(
    snap_compare: SnapCompare, snap_ctx: AppContext, make_app: MakeApp
) -> None:
    snap_ctx.read_only = True
    app = make_app(snap_ctx)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settled)


def test_no_color_dashboard_snapshot(
    snap_compare: SnapCompare,
    snap_ctx: AppContext,
    make_app: MakeApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(snap_ctx)
    assert app.no_color
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settled)
