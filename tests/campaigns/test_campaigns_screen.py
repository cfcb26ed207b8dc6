"""The Campaigns & approvals screen, driven with Pilot against the fake Listmonk on 127.0.0.1
(fake clock shared with it), and its snapshots at 80×24 and 120×40."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, RadioButton, Static
from textual.worker import WorkerFailed

from mailconsole.app import MailconsoleApp, build_app
from mailconsole.campaigns import service
from mailconsole.clock import FakeClock
from mailconsole.context import Actor, AppContext
from mailconsole.screens.campaigns import CampaignsScreen
from mailconsole.store.db import Database
from mailconsole.widgets.campaign_dialogs import ReviewDialog, ScheduleDialog, ScorecardDialog
from mailconsole.widgets.dialogs import ConfirmDialog
from tests.campaigns.conftest import audit_rows, listmonk_config, opt_in_everyone
from tests.console.conftest import (  # noqa: F401
    _no_color_leak,
    console_config,
    pinned_tabs,
    snapshot,
)
from tests.console_logs.conftest import notices
from tests.fakes.listmonk_server import DefaultSeed, FakeListmonk


async def settle(pilot: Any, rounds: int = 8) -> None:
    """Let workers finish and their callbacks run, and the table measure its new rows (lazily,
    on Idle). A refused action is a worker that ends in an error (shown as a notification):
    waiting for it must not raise."""
    app = pilot.app
    for _ in range(rounds):
        try:
            await app.workers.wait_for_complete()
        except WorkerFailed:
            pass
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                break
    for _ in range(100):
        pending = [
            table
            for screen in app.screen_stack
            for table in screen.query(DataTable)
            if table._require_update_dimensions or table._updated_cells
        ]
        if not pending:
            break
        await pilot.pause(0.01)
    await pilot.pause()


def console_ctx(
    db: Database, clock: FakeClock, fake: FakeListmonk, *, read_only: bool = False
) -> AppContext:
    return AppContext(
        config=listmonk_config(fake.url),
        db=db,
        clock=clock,
        actor=Actor("viewer" if read_only else "ana", interface="console"),
        read_only=read_only,
    )


def app_for(ctx: AppContext) -> MailconsoleApp:
    return build_app(ctx, refresh_seconds=0, initial_mode="campaigns")


def screen_of(app: MailconsoleApp) -> CampaignsScreen:
    screen = app.screen
    assert isinstance(screen, CampaignsScreen), type(screen)
    return screen


def rows(app: MailconsoleApp) -> list[list[str]]:
    table = screen_of(app).query_one("#campaigns-table", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def row_of(app: MailconsoleApp, cid: int) -> list[str]:
    return next(r for r in rows(app) if r[0] == str(cid))


def text_of(app: MailconsoleApp, selector: str) -> str:
    return str(screen_of(app).query_one(selector, Static).render())


async def select(pilot: Any, cid: int) -> None:
    screen = screen_of(pilot.app)
    assert screen.data is not None
    index = next(i for i, r in enumerate(screen.data.rows) if r.id == cid)
    screen.query_one("#campaigns-table", DataTable).move_cursor(row=index)
    await pilot.pause()


async def test_the_c_key_opens_the_campaigns_with_their_approval_marks_and_checklist(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    ctx = console_ctx(sqlite_db, clock, listmonk)
    service.approve(ctx, seed.ready_campaign, "legal", "unsubscribe link ok")
    app = build_app(ctx, refresh_seconds=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert len(rows(app)) == 120
        assert row_of(app, seed.ready_campaign)[:8] == [
            str(seed.ready_campaign), "draft", "Spring sale", "✓", "—", "—", "—", "~10",
        ]  # fmt: skip
        running = row_of(app, seed.running_campaign)
        assert (running[1], running[7], running[9]) == ("running", "5,000", "36% 42/m")
        assert row_of(app, seed.scheduled_campaign)[8] == "01-03 12:00Z"
        assert text_of(app, "#campaigns-summary").startswith("120 campaigns · 1 running")
        detail = text_of(app, "#campaign-detail")
        assert "✓ Legal/privacy approval  approved by ana at 2026-01-01 12:00 UTC" in detail
        assert detail.splitlines()[-1] == (
            "Missing: missing brand approval; no consent check for this version; no test send "
            "for this version"
        )
        await pilot.press("down")
        assert text_of(app, "#campaign-detail").startswith("#119 Legacy product news · draft")


async def test_approve_asks_for_the_role_and_a_note_then_the_mark_turns_to_a_tick(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    app = app_for(console_ctx(sqlite_db, clock, listmonk))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("A")
        dialog = app.screen
        assert isinstance(dialog, ReviewDialog)
        await pilot.click("#role-brand")
        dialog.query_one("#review-note", Input).value = "on brand"
        await pilot.click("#confirm")
        await settle(pilot)
        assert row_of(app, seed.ready_campaign)[3:5] == ["—", "✓"]
        assert f"campaign {seed.ready_campaign}: brand approved" in notices(app)
    [audit] = audit_rows(sqlite_db)
    assert (audit.action, audit.actor, audit.interface, audit.reason) == (
        "campaign.approve", "ana", "console", "on brand",
    )  # fmt: skip
    assert audit.target is not None and audit.target["role"] == "brand"


async def test_a_rejection_without_a_note_stays_in_the_dialog_with_the_reason(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    app = app_for(console_ctx(sqlite_db, clock, listmonk))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("R")
        dialog = app.screen
        assert isinstance(dialog, ReviewDialog)
        assert dialog.query_one("#role-legal", RadioButton).value
        await pilot.press("enter")
        assert app.screen is dialog
        assert "needs a note" in str(dialog.query_one("#review-error", Static).render())
        dialog.query_one("#review-note", Input).value = "no unsubscribe link"
        await pilot.press("enter")
        await settle(pilot)
        assert row_of(app, seed.ready_campaign)[3] == "✗"
        assert "legal rejected this version (ana" in text_of(app, "#campaign-detail")


async def test_an_edit_in_listmonk_shows_the_approval_as_void_after_a_refresh(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    ctx = console_ctx(sqlite_db, clock, listmonk)
    service.approve(ctx, seed.ready_campaign, "legal", "ok")
    app = app_for(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert row_of(app, seed.ready_campaign)[3] == "✓"
        clock.advance(300)
        listmonk.edit_campaign(seed.ready_campaign, subject="Spring sale: 30% off")
        await pilot.press("r")
        await settle(pilot)
        assert row_of(app, seed.ready_campaign)[3] == "void"
        assert "1 voided by edit" in text_of(app, "#campaigns-summary")
        assert "void Legal/privacy approval  voided by edit" in text_of(app, "#campaign-detail")


async def test_schedule_is_refused_with_the_exact_missing_items_then_allowed(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    ctx = console_ctx(sqlite_db, clock, listmonk)
    cid = seed.ready_campaign
    service.approve(ctx, cid, "legal", "ok")
    app = app_for(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("S")
        dialog = app.screen
        assert isinstance(dialog, ScheduleDialog)
        assert "Not ready as last loaded: missing brand approval" in str(
            dialog.query_one(".dialog-body", Static).render()
        )
        dialog.query_one("#schedule-at", Input).value = "+3h"
        await pilot.press("enter")
        await settle(pilot)
        assert (
            f"cannot schedule campaign {cid}: missing brand approval; no consent check for this "
            "version; no test send for this version"
        ) in notices(app)
        assert row_of(app, cid)[1] == "draft" and listmonk.status_changes == []

        opt_in_everyone(listmonk)
        service.approve(ctx, cid, "brand", "ok")
        service.consent_check(ctx, cid)
        service.test_send(ctx, cid)
        await pilot.press("r")
        await settle(pilot)
        assert row_of(app, cid)[3:7] == ["✓", "✓", "✓", "✓"]
        await pilot.press("S")
        dialog = app.screen
        assert isinstance(dialog, ScheduleDialog)
        assert dialog.query_one("#schedule-at", Input).value == "2026-01-01 13:00"
        await pilot.press("enter")
        await settle(pilot)
        assert row_of(app, cid)[1] == "scheduled"
        assert row_of(app, cid)[8] == "01-01 13:00Z"
    assert listmonk.status_changes == [(cid, "draft", "scheduled")]
    assert [(a.action, a.outcome) for a in audit_rows(sqlite_db) if a.action.endswith("schedule")] == [
        ("campaign.schedule", "failed"),
        ("campaign.schedule", "ok"),
    ]  # fmt: skip


async def test_start_asks_first_and_is_refused_while_the_checklist_does_not_hold(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    app = app_for(console_ctx(sqlite_db, clock, listmonk))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await select(pilot, seed.consent_failing_campaign)
        await pilot.press("G")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")  # cancelled: nothing asked of Listmonk
        await settle(pilot)
        assert audit_rows(sqlite_db) == []
        await pilot.press("G")
        await pilot.press("y")
        await settle(pilot)
        assert any(
            n.startswith(f"cannot start campaign {seed.consent_failing_campaign}: missing legal")
            for n in notices(app)
        )
    assert listmonk.status_changes == []


async def test_pause_a_running_campaign_then_cancel_it_each_after_a_confirm(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    cid = seed.running_campaign
    app = app_for(console_ctx(sqlite_db, clock, listmonk))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await select(pilot, cid)
        await pilot.press("P")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert row_of(app, cid)[1] == "paused"
        assert f"campaign {cid}: running → paused" in notices(app)
        await pilot.press("C")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.danger
        await pilot.click("#confirm")
        await settle(pilot)
        assert row_of(app, cid)[1] == "cancelled"
    assert listmonk.status_changes == [(cid, "running", "paused"), (cid, "paused", "cancelled")]


async def test_consent_check_and_test_send_report_what_they_found(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    app = app_for(console_ctx(sqlite_db, clock, listmonk))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await select(pilot, seed.consent_failing_campaign)
        await pilot.press("O")
        await pilot.press("y")
        await settle(pilot)
        assert (
            'public list "Product updates (legacy)" is single opt-in: public lists must be '
            'double opt-in; 1 subscriber of "Product updates (legacy)" without '
            "marketing_opt_in = true (e.g. emma@example.org)"
        ) in notices(app)
        assert row_of(app, seed.consent_failing_campaign)[5] == "✗"
        await pilot.press("T")
        await pilot.press("y")
        await settle(pilot)
        assert (
            f"test of campaign {seed.consent_failing_campaign} sent to 2 tester(s): "
            "qa-1@example.com, qa-2@example.com"
        ) in notices(app)
        assert row_of(app, seed.consent_failing_campaign)[6] == "✓"
    assert [t["emails"] for t in listmonk.test_sends] == [list(seed.testers)]


async def test_a_read_only_console_refuses_every_action_and_says_why(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    app = app_for(console_ctx(sqlite_db, clock, listmonk, read_only=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "read-only" in text_of(app, "#campaigns-summary")
        for key in ("A", "S", "G"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, CampaignsScreen)  # no dialog to fill in for nothing
        await select(pilot, seed.running_campaign)
        await pilot.press("P")
        await settle(pilot)
        assert sum("read-only mode" in n for n in notices(app)) == 4
    assert [(a.action, a.outcome, a.actor) for a in audit_rows(sqlite_db)] == [
        ("campaign.approve", "refused", "viewer"),
        ("campaign.schedule", "refused", "viewer"),
        ("campaign.start", "refused", "viewer"),
        ("campaign.pause", "refused", "viewer"),
    ]
    assert listmonk.status_changes == []


async def test_the_scorecard_shows_the_numbers_and_exports_a_csv(
    sqlite_db: Database,
    clock: FakeClock,
    listmonk: FakeListmonk,
    seed: DefaultSeed,
    tmp_path: Path,
) -> None:
    app = app_for(console_ctx(sqlite_db, clock, listmonk))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await select(pilot, seed.finished_campaign)
        await pilot.press("s")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ScorecardDialog)
        numbers = str(dialog.query_one("#scorecard-numbers", Static).render())
        assert "views            6   100.0%" in numbers
        assert "bounces          3    50.0%" in numbers
        target = tmp_path / "card.csv"
        dialog.query_one("#scorecard-path", Input).value = str(target)
        await pilot.click("#export")
        await settle(pilot)
        assert f"scorecard written to {target}" in notices(app)
    row = next(csv.DictReader(target.open(encoding="utf-8")))
    assert (row["campaign"], row["views"], row["click_rate"]) == (
        "Winter newsletter",
        "6",
        "0.5000",
    )
    assert audit_rows(sqlite_db)[-1].action == "export"


async def test_f_cycles_the_status_filter(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    app = app_for(console_ctx(sqlite_db, clock, listmonk))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert {r[1] for r in rows(app)} == {"draft"}
        assert text_of(app, "#campaigns-summary").startswith(
            f"{len(seed.campaigns_by_status['draft'])} campaigns (draft)"
        )
        await pilot.press("f")
        await settle(pilot)
        assert [r[0] for r in rows(app)] == [str(seed.scheduled_campaign)]


async def test_without_a_listmonk_account_the_screen_says_what_to_configure(
    sqlite_db: Database, clock: FakeClock
) -> None:
    ctx = AppContext(config=console_config(), db=sqlite_db, clock=clock)
    app = app_for(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert text_of(app, "#campaigns-summary").startswith(
            "Listmonk: no Listmonk account configured: add [accounts.<name>]"
        )
        await pilot.press("A")  # nothing selected: nothing happens, nothing breaks
        assert isinstance(app.screen, CampaignsScreen)


def snapshot_ctx(
    db: Database, clock: FakeClock, fake: FakeListmonk, seed: DefaultSeed
) -> AppContext:
    """A legal approval on the happy-path draft, and a brand approval voided by an edit."""
    ctx = console_ctx(db, clock, fake)
    service.approve(ctx, seed.ready_campaign, "legal", "unsubscribe link ok")
    service.approve(ctx, seed.consent_failing_campaign, "brand", "fine")
    service.consent_check(ctx, seed.consent_failing_campaign)
    clock.advance(timedelta(minutes=10).total_seconds())
    fake.edit_campaign(seed.consent_failing_campaign, subject="Legacy news, edited")
    return ctx


@pytest.mark.usefixtures("pinned_tabs")  # the header's tabs as planned, whatever joins later
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_campaigns_screen_snapshot(
    snap_compare: Any,
    sqlite_db: Database,
    clock: FakeClock,
    listmonk: FakeListmonk,
    seed: DefaultSeed,
    size: tuple[int, int],
) -> None:
    app = app_for(snapshot_ctx(sqlite_db, clock, listmonk, seed))

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press("down")  # the voided draft: its checklist in the detail pane

    assert snap_compare(app, terminal_size=size, run_before=run_before)
