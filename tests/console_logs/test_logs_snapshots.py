"""Snapshots of Mail logs and Dead letters at 80×24 and 120×40: fixed data, a fake clock, workers
awaited before the screenshot. SVGs live in snapshots/console/test_logs_snapshots/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mailconsole import screens
from mailconsole.app import MailconsoleApp
from tests.console_logs.conftest import settle


@pytest.fixture(autouse=True)
def _fixed_tabs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The header lists every registered screen; pin the tabs so that a screen registered
    later by another part of the console does not change these pictures."""
    pinned = [s for s in (screens.spec_for(m) for m in ("dashboard", "logs", "dead")) if s]
    monkeypatch.setattr(screens, "SCREENS", pinned)


async def _settled(pilot: Any) -> None:
    await settle(pilot)


def _then(*keys: str) -> Callable[[Any], Any]:
    async def run(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    return run


def test_mail_logs_80x24(
    snap_compare: Any, make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    assert snap_compare(make_logs_app(), terminal_size=(80, 24), run_before=_settled)


def test_mail_logs_120x40(
    snap_compare: Any, make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    assert snap_compare(make_logs_app(), terminal_size=(120, 40), run_before=_settled)


def test_mail_logs_marked_with_detail_120x40(
    snap_compare: Any, make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    """Three rows marked, the cursor on the markup-looking subject, its detail below."""
    run = _then("space", "space", "space", "enter")
    assert snap_compare(make_logs_app(), terminal_size=(120, 40), run_before=run)


def test_mail_logs_retry_plan_80x24(
    snap_compare: Any, make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    async def run(pilot: Any) -> None:
        await settle(pilot)
        pilot.app.screen.apply_filter_text("status:dead")
        await settle(pilot)
        await pilot.press("M", "r")
        await settle(pilot)

    assert snap_compare(make_logs_app(), terminal_size=(80, 24), run_before=run)


def test_dead_letters_80x24(
    snap_compare: Any, make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    assert snap_compare(make_logs_app(mode="dead"), terminal_size=(80, 24), run_before=_settled)


def test_dead_letters_by_domain_120x40(
    snap_compare: Any, make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    assert snap_compare(make_logs_app(mode="dead"), terminal_size=(120, 40), run_before=_then("g"))
