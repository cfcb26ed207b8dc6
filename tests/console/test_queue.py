"""Queue: qshape, process now (confirm, report, audit), pause/resume (confirm, audit), read-only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from textual.widgets import DataTable

from mailconsole.app import MailconsoleApp
from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.engine.enqueue import enqueue
from mailconsole.errors import StoreError
from mailconsole.screens.queue import QueueScreen
from mailconsole.services import audit, metrics
from mailconsole.widgets.dialogs import ConfirmDialog
from tests.console.support import notifications, screen_text, settle

MakeApp = Callable[..., MailconsoleApp]


def queue_some(ctx: AppContext, clock: FakeClock) -> None:
    for n, domain in enumerate(["gmail.com"] * 3 + ["yahoo.com"] * 2):
        enqueue(ctx, {"to": f"user{n}@{domain}", "subject": f"Hello {n}", "text": "hi"})
        clock.advance(minutes=7)


async def test_queue_shows_the_backlog_by_domain_and_age(
    console_ctx: AppContext, clock: FakeClock, make_app: MakeApp
) -> None:
    queue_some(console_ctx, clock)
    app = make_app(initial_mode="queue")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#qshape", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows[0][:2] == ["gmail.com", "3"]
        assert rows[1][:2] == ["yahoo.com", "2"]
        assert rows[-1][:2] == ["TOTAL", "5"]
        # yahoo's messages are 14 and 7 minutes old: the 20m and 10m columns.
        assert rows[1][2:5] == ["0", "1", "1"]
        text = screen_text(app)
        assert "Backlog 5" in text and "dispatch running" in text
        oldest = app.screen.query_one("#oldest", DataTable)
        assert oldest.row_count == 5


async def test_process_now_asks_then_sends_and_reports(
    console_ctx: AppContext, clock: FakeClock, make_app: MakeApp
) -> None:
    queue_some(console_ctx, clock)
    app = make_app(initial_mode="queue")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert "up to 5 queued" in screen_text(app)
        await pilot.press("y")
        await settle(pilot, rounds=5)
        assert isinstance(app.screen, QueueScreen)
        assert any(n.startswith("Processed:") for n in notifications(app)), notifications(app)
        assert "Backlog 0" in screen_text(app)
    assert metrics.queue_status(console_ctx).sent_24h == 5
    rows = audit.audit_log(console_ctx, action="process_now")
    assert [(r.actor, r.outcome, r.count) for r in rows] == [("tester", "ok", 5)]


async def test_pause_asks_first_and_is_audited_then_resume(
    console_ctx: AppContext, make_app: MakeApp
) -> None:
    app = make_app(initial_mode="queue")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")  # cancelled: nothing changes
        await settle(pilot)
        assert not metrics.queue_status(console_ctx).paused
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert metrics.queue_status(console_ctx).paused
        assert "DISPATCH PAUSED" in screen_text(app)
        await pilot.press("s")
        await settle(pilot)
        assert "Resume dispatch?" in screen_text(app)
        await pilot.press("y")
        await settle(pilot)
        assert not metrics.queue_status(console_ctx).paused
    trail = [(r.action, r.outcome, r.actor) for r in audit.audit_log(console_ctx)]
    assert trail == [("resume", "ok", "tester"), ("pause", "ok", "tester")]


async def test_read_only_refuses_pause_and_says_why(
    console_ctx: AppContext, make_app: MakeApp
) -> None:
    console_ctx.read_only = True
    app = make_app(initial_mode="queue")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)  # nothing to confirm: refused at once
        assert any("read-only mode" in n for n in notifications(app)), notifications(app)
        await pilot.press("n")
        await settle(pilot)
        assert app.is_running
    assert not metrics.queue_status(console_ctx).paused
    refused = audit.audit_log(console_ctx, outcome="refused")
    assert {r.action for r in refused} == {"pause", "process_now"}


async def test_retrying_messages_show_their_next_attempt(
    console_ctx: AppContext, clock: FakeClock, make_app: MakeApp
) -> None:
    from mailconsole.store.models import Message

    mid = enqueue(console_ctx, {"to": "a@gmail.com", "subject": "s", "text": "t"})
    with console_ctx.db.writing() as s:
        msg = s.get(Message, mid)
        assert msg is not None
        msg.attempts, msg.last_error_code = 2, "http_429"
        msg.next_attempt_at = clock.now() + timedelta(minutes=4)
    app = make_app(initial_mode="queue")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        row = [str(c) for c in app.screen.query_one("#oldest", DataTable).get_row_at(0)]
        assert row[2:4] == ["2", "in 4m 00s"]
        assert row[5] == "http_429"


async def test_queue_refreshes_on_its_own_and_reports_a_failure_once(
    console_ctx: AppContext, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(initial_mode="queue", refresh_seconds=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "Backlog 0" in screen_text(app)
        enqueue(console_ctx, {"to": "a@gmail.com", "subject": "s", "text": "t"})
        for _ in range(50):
            await pilot.pause(0.05)
            if "Backlog 1" in screen_text(app):
                break
        assert "Backlog 1" in screen_text(app)

        def down(ctx: AppContext, **kwargs: object) -> None:
            raise StoreError("cannot open the database: disk I/O error")

        monkeypatch.setattr(metrics, "qshape", down)
        await pilot.pause(0.6)  # several refresh periods
        shown = [n for n in notifications(app) if "disk I/O error" in n]
        assert len(shown) == 1
        assert app.is_running
