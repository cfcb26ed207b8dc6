"""Mail logs, driven with Pilot: filter, mark, detail, bulk retry, resend, export, read-only,
and untrusted text shown literally."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from textual.widgets import Static

from mailconsole.app import MailconsoleApp
from mailconsole.context import AppContext
from mailconsole.screens.mail_logs import MailLogsScreen
from mailconsole.store.models import AuditEvent, Message
from mailconsole.widgets.export_dialog import ExportDialog
from mailconsole.widgets.resend_form import ResendForm
from mailconsole.widgets.retry_dialogs import RetryPlanDialog
from tests.console_logs.conftest import make_ctx, notices, settle

MARKUP_SUBJECT = "[red]x[/red] [@click=app.quit]y[/] \x1b[2J"


def logs_screen(app: MailconsoleApp) -> MailLogsScreen:
    screen = app.screen
    assert isinstance(screen, MailLogsScreen), type(screen)
    return screen


def statuses(ctx: AppContext, ids: list[int]) -> dict[int, str]:
    with ctx.db.reading() as s:
        rows = s.execute(select(Message.id, Message.status).where(Message.id.in_(ids))).all()  # type: ignore[union-attr]
    return {i: st for i, st in rows}


def audit_rows(ctx: AppContext, action: str) -> list[AuditEvent]:
    with ctx.db.reading() as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


async def type_filter(pilot: Any, expression: str, *, keys: bool = False) -> None:
    """`/`, the expression (typed key by key, or set at once), Enter; then let workers finish."""
    await pilot.press("slash")
    screen = logs_screen(pilot.app)
    assert screen.filter_bar.input.has_focus
    if keys:
        screen.filter_bar.input.value = ""
        await pilot.press(*[KEY_NAMES.get(ch, ch) for ch in expression])
    else:
        screen.filter_bar.input.value = expression
    await pilot.press("enter")
    await settle(pilot)


KEY_NAMES = {" ": "space", ":": "colon", "_": "underscore", ".": "full_stop"}


# --- filter --------------------------------------------------------------------------------


async def test_filter_narrows_the_rows_and_the_count(
    make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    app = make_logs_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = logs_screen(app)
        assert screen.total == 26
        assert len(screen.table.rows) == 26
        await type_filter(pilot, "status:dead err:http_5", keys=True)
        assert screen.filter_bar.input.value == "status:dead err:http_5"
        assert screen.total == 10
        assert {r.status for r in screen.table.rows} == {"dead"}
        assert {r.last_error_code for r in screen.table.rows} == {"http_503", "http_500"}
        assert screen.status_text().startswith("10 matching")
        assert screen.table.has_focus
        await type_filter(pilot, "domain:gmail.com reader3")
        assert [r.subject for r in screen.table.rows] == ["Weekly digest 3"]
        assert screen.total == 1


async def test_bad_filter_shows_the_error_and_keeps_the_old_filter(
    make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    app = make_logs_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = logs_screen(app)
        await type_filter(pilot, "status:dead")
        assert screen.total == 14
        await type_filter(pilot, "status:deadish since:2h")
        assert "unknown status 'deadish'" in screen.filter_bar.error_message
        assert screen.filter_bar.has_class("-error")
        assert screen.flt.statuses == ("dead",)
        assert screen.total == 14 and len(screen.table.rows) == 14
        # A good filter clears the error.
        await type_filter(pilot, "status:queued")
        assert screen.filter_bar.error_message == ""
        assert screen.total == 1


# --- marking -------------------------------------------------------------------------------


async def test_marking_rows_visible_and_all_matching_shows_in_the_status_line(
    make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    app = make_logs_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = logs_screen(app)
        rows = screen.table.rows
        await pilot.press("space")  # marks the row and moves down
        assert screen.table.marked == {rows[0].id}
        assert screen.table.cursor == 1
        assert "1 selected" in screen.status_text()
        await pilot.press("shift+down", "shift+down")  # extends over rows 1..3
        assert screen.table.marked == {r.id for r in rows[:4]}
        assert "4 selected" in screen.status_text()
        await pilot.press("up", "space")  # toggles row 2 off
        assert screen.table.marked == {rows[0].id, rows[1].id, rows[3].id}
        assert "3 selected" in screen.status_text()
        await pilot.press("escape")
        assert screen.table.marked == set()
        assert "selected" not in screen.status_text()
        await pilot.press("m")  # all visible: the 26 rows fit on screen
        assert len(screen.table.marked) == 26
        await pilot.press("M")
        assert screen.selection_filter == screen.flt
        assert "all 26 matching" in screen.status_text()
        # Marking one row leaves "all matching".
        await pilot.press("space")
        assert screen.selection_filter is None
        assert "1 selected" in screen.status_text()


async def test_range_key_marks_from_the_last_marked_row_to_the_cursor(
    make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    app = make_logs_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = logs_screen(app)
        await pilot.press("down", "space", "down", "down", "down", "v")
        rows = screen.table.rows
        assert screen.table.marked == {r.id for r in rows[1:6]}
        assert "5 selected" in screen.status_text()


# --- detail --------------------------------------------------------------------------------


async def test_enter_shows_the_timeline_and_the_replay_links(
    make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    app = make_logs_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = logs_screen(app)
        assert not screen.detail.display
        await pilot.press("enter")
        await settle(pilot)
        assert screen.detail.display
        newest = screen.table.rows[0]
        assert screen.detail.message_id == newest.id
        from mailconsole.services.logs import message_detail
        from mailconsole.widgets.message_detail import render_detail

        text = _plain(render_detail(message_detail(screen.ctx, newest.id), screen.ctx.clock.now()))
        assert "this message replays #1" in text
        assert "attempt 1 postmark-main sent" in text
        # The source shows who replays it; moving the cursor follows with the pane.
        source = message_detail(screen.ctx, seeded[0])
        assert f"replayed by #{newest.id}" in _plain(render_detail(source, screen.ctx.clock.now()))
        await pilot.press("down")
        await settle(pilot)
        assert screen.detail.message_id == screen.table.rows[1].id
        await pilot.press("i")
        assert not screen.detail.display


def _plain(renderable: Any) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, color_system=None)
    with console.capture() as cap:
        console.print(renderable)
    return cap.get()


# --- bulk retry ----------------------------------------------------------------------------


async def test_bulk_retry_of_all_matching_shows_the_plan_then_requeues_and_audits(
    make_logs_app: Callable[..., MailconsoleApp], logs_ctx: AppContext, seeded: list[int]
) -> None:
    app = make_logs_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = logs_screen(app)
        await type_filter(pilot, "status:dead err:http_5")
        ids = [r.id for r in screen.table.rows]
        await pilot.press("M", "r")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RetryPlanDialog)
        assert dialog.plan.matched == 10 and dialog.plan.retryable == 10
        assert dialog.plan.by_error_code == {"http_503": 6, "http_500": 4}
        assert dialog.question == "Retry all 10 messages matching status:dead err:http_5"
        shown = _plain(dialog.query_one("#retry-plan", Static).content)
        assert "http_503 6" in shown and "gmail.com 6" in shown and "yahoo.com 4" in shown
        await pilot.press("enter")  # the confirm button has the focus
        await settle(pilot)
        assert isinstance(app.screen, MailLogsScreen)
        assert set(statuses(logs_ctx, ids).values()) == {"queued"}
        [audit] = audit_rows(logs_ctx, "retry")
        assert audit.count == 10 and audit.outcome == "ok"
        assert audit.actor == "tester"
        assert any("Re-queued 10 messages" in n for n in notices(app))
        # The table refreshed: the filter (dead) no longer matches them; marks are gone.
        assert screen.total == 0 and screen.selection_filter is None


async def test_bulk_retry_of_selected_rows_counts_only_retryable_messages(
    make_logs_app: Callable[..., MailconsoleApp], logs_ctx: AppContext, seeded: list[int]
) -> None:
    app = make_logs_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = logs_screen(app)
        rows = screen.table.rows
        # rows[0] sent, rows[1] queued, rows[2] sent, rows[3] dead (the markup subject)
        await pilot.press("space", "space", "space", "space", "r")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RetryPlanDialog)
        assert dialog.plan.matched == 4 and dialog.plan.retryable == 1
        assert dialog.plan.not_retryable == {"queued": 1, "sent": 2}
        assert dialog.question == "Retry 1 selected message"
        await pilot.press("enter")
        await settle(pilot)
        after = statuses(logs_ctx, [r.id for r in rows[:4]])
        assert after == {rows[0].id: "sent", rows[1].id: "queued", rows[2].id: "sent",
                         rows[3].id: "queued"}  # fmt: skip
        assert audit_rows(logs_ctx, "retry")[0].count == 1


async def test_cancelling_the_retry_plan_changes_nothing(
    make_logs_app: Callable[..., MailconsoleApp], logs_ctx: AppContext, seeded: list[int]
) -> None:
    app = make_logs_app()
    before = statuses(logs_ctx, seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_filter(pilot, "status:dead")
        await pilot.press("M", "r")
        await settle(pilot)
        assert isinstance(app.screen, RetryPlanDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MailLogsScreen)
    assert statuses(logs_ctx, seeded) == before
    assert audit_rows(logs_ctx, "retry") == []


async def test_retry_above_the_threshold_needs_the_count_typed(
    sqlite_db: Any, clock: Any, make_logs_app: Callable[..., MailconsoleApp]
) -> None:
    from tests.console_logs.conftest import fixed_messages
    from tests.console_logs.factory import add_messages

    ctx = make_ctx(sqlite_db, clock, ui={"typed_confirm_threshold": 5})
    ids = add_messages(ctx.db, fixed_messages(), clock.now())
    app = make_logs_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_filter(pilot, "status:dead err:http_503")
        await pilot.press("M", "r")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RetryPlanDialog) and dialog.typed
        confirm = dialog.query_one("#confirm")
        assert confirm.disabled
        await pilot.press("7", "enter")  # the wrong count does nothing
        await settle(pilot)
        assert app.screen is dialog
        assert statuses(ctx, ids).get(ids[8]) == "dead"
        await pilot.press("backspace", "6")
        assert not confirm.disabled
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MailLogsScreen)
    assert [s for i, s in statuses(ctx, ids).items() if i in ids[8:14]] == ["queued"] * 6
    assert audit_rows(ctx, "retry")[0].count == 6


async def test_read_only_refuses_the_retry_with_the_service_message(
    sqlite_db: Any, clock: Any, make_logs_app: Callable[..., MailconsoleApp]
) -> None:
    from tests.console_logs.conftest import fixed_messages
    from tests.console_logs.factory import add_messages

    ctx = make_ctx(sqlite_db, clock)
    ctx.read_only = True
    ids = add_messages(ctx.db, fixed_messages(), clock.now())
    before = statuses(ctx, ids)
    app = make_logs_app(ctx)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_filter(pilot, "status:dead")
        await pilot.press("M", "r")
        await settle(pilot)
        assert isinstance(app.screen, MailLogsScreen)
        assert any("retry refused: mailconsole is in read-only mode" in n for n in notices(app))
        # Resend is refused the same way.
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ResendForm)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert any("resend refused" in n for n in notices(app))
    assert statuses(ctx, ids) == before
    assert [a.outcome for a in audit_rows(ctx, "retry")] == ["refused"]


# --- resend --------------------------------------------------------------------------------


async def test_resend_form_queues_a_new_message_that_replays_the_source(
    make_logs_app: Callable[..., MailconsoleApp], logs_ctx: AppContext, seeded: list[int]
) -> None:
    app = make_logs_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = logs_screen(app)
        await type_filter(pilot, "status:dead err:http_503")
        source = screen.table.rows[0]
        await pilot.press("R")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ResendForm)
        form.query_one("#resend-to").value = "fixed@example.net"
        form.query_one("#resend-backend").value = "smtp-fallback"
        form.query_one("#resend-reason").value = "mailbox fixed"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MailLogsScreen)
    with logs_ctx.db.reading() as s:
        new = s.execute(select(Message).where(Message.replay_of == source.id)).scalar_one()
        src = s.get(Message, source.id)
    assert new.to_addrs == "fixed@example.net" and new.account == "smtp-fallback"
    assert new.status == "queued" and new.subject == source.subject
    assert src is not None and src.status == "dead" and src.to_addrs == source.to_addrs
    assert any(f"resent as #{new.id}" in n for n in notices(app))
    [audit] = audit_rows(logs_ctx, "resend")
    assert audit.reason == "mailbox fixed" and audit.count == 1


# --- export --------------------------------------------------------------------------------


async def test_export_writes_the_filtered_view_with_formulas_neutralised(
    make_logs_app: Callable[..., MailconsoleApp],
    logs_ctx: AppContext,
    seeded: list[int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_logs_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_filter(pilot, "status:dead")
        await pilot.press("E")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ExportDialog)
        assert dialog.query_one("#export-path").value == "mailconsole-export-20260101T120000Z.csv"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MailLogsScreen)
    path = tmp_path / "mailconsole-export-20260101T120000Z.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 14
    assert {r["status"] for r in rows} == {"dead"}
    assert "'+tag@example.com" in {r["to_addrs"] for r in rows}
    errors = {r["last_error"] for r in rows}
    assert "'-Internal error" in errors
    assert any(e.startswith("'=HYPERLINK") for e in errors)
    assert all(line.startswith('"') for line in path.read_text().splitlines())
    assert any(f"Exported 14 messages to {path}" in n for n in notices(app))
    assert audit_rows(logs_ctx, "export")[0].count == 14


async def test_export_as_jsonl_and_never_over_an_existing_file(
    make_logs_app: Callable[..., MailconsoleApp],
    seeded: list[int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.jsonl").write_text("keep me\n")
    app = make_logs_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await type_filter(pilot, "status:queued")
        for target in ("taken.jsonl", "out.jsonl"):
            await pilot.press("E")
            await settle(pilot)
            dialog = app.screen
            assert isinstance(dialog, ExportDialog)
            await pilot.click("#export-format RadioButton:last-of-type")
            dialog.query_one("#export-path").value = target
            await pilot.click("#export")
            await settle(pilot)
    assert (tmp_path / "taken.jsonl").read_text() == "keep me\n"
    assert any("taken.jsonl already exists" in n for n in notices(app))
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"status": "queued"' in lines[0]


# --- untrusted text ------------------------------------------------------------------------


async def test_markup_looking_subjects_are_shown_literally_and_the_app_keeps_running(
    make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    app = make_logs_app()
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        screen = logs_screen(app)
        index = next(i for i, r in enumerate(screen.table.rows) if r.subject == MARKUP_SUBJECT)
        line = screen.table.render_line(index + 1).text
        assert "[red]x[/red] [@click=app.quit]y[/] \ufffd[2J" in line
        assert "\x1b" not in line
        # Click the row (a [@click] action would quit), open its detail, filter on its text.
        await pilot.click("#logs-table", offset=(60, index + 1))
        await pilot.press("enter")
        await settle(pilot)
        assert screen.detail.message_id == screen.table.rows[index].id
        await type_filter(pilot, "[red]x[/red]")
        assert [r.subject for r in screen.table.rows] == [MARKUP_SUBJECT]
        assert app.is_running
        assert isinstance(app.screen, MailLogsScreen)


async def test_all_matching_without_a_filter_is_never_retried(
    make_logs_app: Callable[..., MailconsoleApp], logs_ctx: AppContext, seeded: list[int]
) -> None:
    app = make_logs_app()
    before = statuses(logs_ctx, seeded)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("M", "r")
        await settle(pilot)
        assert isinstance(app.screen, MailLogsScreen)
        assert any("a bulk retry never acts on every message" in n for n in notices(app))
    assert statuses(logs_ctx, seeded) == before
