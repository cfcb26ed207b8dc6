"""Failure trend (24 h / 7 days, by error code) and the Audit log (filter by actor/action)."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import DataTable, Input

from mailconsole.app import MailconsoleApp
from mailconsole.context import AppContext
from mailconsole.screens.trend import TrendScreen, code_series
from mailconsole.services import metrics, operations
from tests.console.support import notifications, screen_text, settle

MakeApp = Callable[..., MailconsoleApp]


async def test_trend_shows_24_hours_then_7_days_by_error_code(
    demo: AppContext, make_app: MakeApp
) -> None:
    week = metrics.failure_trend(demo, days=7)
    app = make_app(demo, initial_mode="trend")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TrendScreen)
        assert screen.trend is not None and screen.trend.unit == "hour"
        assert len(screen.trend.buckets) == 24
        text = screen_text(app)
        assert "24 h:" in text and "Attempts per hour" in text and "by error code" in text
        await pilot.press("w")
        await settle(pilot)
        assert screen.trend.unit == "day" and len(screen.trend.buckets) == 7
        text = screen_text(app)
        assert f"7 days: {week.attempts:,} attempts · {week.failed:,} failed" in text
        assert "http_503" in text  # the outage's code leads the week
        assert "Attempts per day" in text


def test_code_series_keeps_the_top_codes_and_sums_the_rest(demo: AppContext) -> None:
    trend = metrics.failure_trend(demo, days=7)
    series = code_series(trend, top=2)
    assert list(series)[:2] == list(trend.by_error_code)[:2]
    for i, bucket in enumerate(trend.buckets):
        assert sum(values[i] for values in series.values()) == bucket.failed


async def test_audit_log_lists_who_did_what_and_filters_by_actor_and_action(
    demo: AppContext, make_app: MakeApp
) -> None:
    operations.pause(demo, reason="checking the trend")
    app = make_app(demo, initial_mode="audit")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#audit-table", DataTable)
        assert table.row_count == 6  # five from the demo, one just now
        first = [str(c) for c in table.get_row_at(0)]
        assert first[1:4] == ["tester", "pause", "ok"]
        assert "checking the trend" in screen_text(app)
        await pilot.press("slash")
        await pilot.press(*"actor:alice")
        await pilot.press("enter")
        await settle(pilot)
        assert table.row_count == 2
        assert {str(table.get_row_at(i)[1]) for i in range(2)} == {"alice"}
        field = app.screen.query_one("#audit-filter", Input)
        field.value = "outcome:refused"
        await field.action_submit()
        await settle(pilot)
        assert table.row_count == 1
        assert "read-only mode" in screen_text(app)  # the detail pane of the refused row
        await pilot.press("escape")
        await settle(pilot)
        assert table.row_count == 6


async def test_a_bad_audit_filter_says_what_is_wrong(demo: AppContext, make_app: MakeApp) -> None:
    app = make_app(demo, initial_mode="audit")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"colour:red", "enter")
        await settle(pilot)
        assert any("unknown filter key 'colour'" in n for n in notifications(app))
        assert app.is_running
