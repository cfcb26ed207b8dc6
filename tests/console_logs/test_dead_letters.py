"""Dead letters: the grouping service (SQLite and PostgreSQL) and the screen's group actions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from textual.widgets import DataTable

from mailconsole.app import MailconsoleApp
from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.screens.dead_letters import DeadLettersScreen
from mailconsole.screens.mail_logs import MailLogsScreen
from mailconsole.services.dead_letters import BY_CODE, BY_CODE_AND_DOMAIN, dead_letter_groups
from mailconsole.store.db import Database
from mailconsole.store.models import AuditEvent, Message
from mailconsole.widgets.retry_dialogs import RetryPlanDialog
from tests.console_logs.conftest import fixed_messages, make_ctx, notices, settle
from tests.console_logs.factory import add_messages


def test_dead_letter_groups_by_code_and_by_code_and_domain(db: Database, clock: FakeClock) -> None:
    ctx = make_ctx(db, clock)
    add_messages(db, fixed_messages(), clock.now())
    groups = dead_letter_groups(ctx, BY_CODE)
    assert [(g.error_code, g.count) for g in groups] == [
        ("http_503", 6), ("http_500", 4), ("smtp_550", 3), ("http_422", 1),
    ]  # fmt: skip
    top = groups[0]
    assert top.domain is None and top.sample_error == "Service Unavailable" and top.backends == 1
    # updated_at is created + 30 s: the 6 digests were created 1h00m … 1h25m ago.
    assert top.newest == clock.now().replace(hour=11, minute=0, second=30)
    assert top.oldest == clock.now().replace(hour=10, minute=35, second=30)
    assert top.filter is not None and top.filter.describe() == "status:dead err:http_503"
    by_domain = dead_letter_groups(ctx, BY_CODE_AND_DOMAIN)
    assert [(g.error_code, g.domain, g.count) for g in by_domain] == [
        ("http_503", "gmail.com", 6), ("http_500", "yahoo.com", 4),
        ("smtp_550", "example.org", 3), ("http_422", "example.com", 1),
    ]  # fmt: skip
    assert by_domain[2].filter.describe() == "status:dead domain:example.org err:smtp_550"  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        dead_letter_groups(ctx, ("domain",))  # type: ignore[arg-type]


async def test_dead_letters_screen_lists_groups_and_toggles_by_domain(
    make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    app = make_logs_app(mode="dead")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        table = screen.query_one("#dead-table", DataTable)
        assert table.row_count == 4
        assert [str(c) for c in table.get_row_at(0)[:2]] == ["http_503", "6"]
        assert screen.status_text().startswith("14 dead letters in 4 groups · by error code")
        await pilot.press("g")
        await settle(pilot)
        assert [str(c) for c in table.get_row_at(0)[:3]] == ["http_503", "gmail.com", "6"]
        assert "by error code and domain" in screen.status_text()


async def test_retry_a_dead_letter_group_requeues_exactly_that_group(
    make_logs_app: Callable[..., MailconsoleApp], logs_ctx: AppContext, seeded: list[int]
) -> None:
    app = make_logs_app(mode="dead")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down")  # http_500, 4 messages
        await pilot.press("r")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, RetryPlanDialog)
        assert dialog.plan.retryable == 4 and dialog.plan.selection == "filter"
        assert dialog.question == "Retry all 4 messages matching status:dead err:http_500"
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DeadLettersScreen)
        assert [g.error_code for g in screen.groups] == ["http_503", "smtp_550", "http_422"]
        assert any("Re-queued 4 messages" in n for n in notices(app))
    with logs_ctx.db.reading() as s:
        queued = s.execute(
            select(Message.last_error_code).where(Message.status == "queued")
        ).scalars()
        audit = s.execute(select(AuditEvent).where(AuditEvent.action == "retry")).scalar_one()
    assert sorted(c for c in queued if c) == ["http_500"] * 4
    assert audit.count == 4 and audit.target["filter"] == {  # type: ignore[index]
        "statuses": ["dead"], "error_code": "http_500",
    }  # fmt: skip


async def test_open_a_group_in_mail_logs_applies_its_filter(
    make_logs_app: Callable[..., MailconsoleApp], seeded: list[int]
) -> None:
    app = make_logs_app(mode="dead")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        await pilot.press("down", "down", "enter")  # smtp_550 @ example.org
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MailLogsScreen)
        assert screen.filter_bar.input.value == "status:dead domain:example.org err:smtp_550"
        assert screen.total == 3
        assert [r.subject for r in screen.table.rows] == ["Invoice 0", "Invoice 1", "Invoice 2"]


async def test_export_a_dead_letter_group(
    make_logs_app: Callable[..., MailconsoleApp],
    seeded: list[int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_logs_app(mode="dead")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("E")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
    [path] = tmp_path.glob("mailconsole-export-*.csv")
    assert len(path.read_text().splitlines()) == 1 + 6
    assert any("Exported 6 messages" in n for n in notices(app))
