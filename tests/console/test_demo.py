"""`mailconsole demo`: a week of traffic with an outage, dead letters and a backlog; live sending."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func
from sqlmodel import select

from mailconsole.app import build_app
from mailconsole.cli.main import cli
from mailconsole.clock import FakeClock
from mailconsole.context import open_context
from mailconsole.demo import build_demo, demo_context, demo_scheduler_factory, make_live_job
from mailconsole.errors import ValidationError
from mailconsole.services import audit, logs, metrics
from mailconsole.services.filters import MessageFilter
from mailconsole.store.db import Database
from mailconsole.store.models import DeliveryAttempt
from tests.console.support import screen_text, settle


def test_demo_command_builds_a_week_with_an_outage_dead_letters_and_a_backlog(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "demo.db"
    result = CliRunner().invoke(
        cli, ["demo", "--messages", "5000", "--no-open", "--db", str(db_path)]
    )
    assert result.exit_code == 0, result.output
    assert f"demo database: {db_path}" in result.output
    assert "5,000 messages" in result.output
    config_path = db_path.with_suffix(".toml")
    assert config_path.exists()

    # The written config reopens the demo.
    status = CliRunner().invoke(
        cli, ["--config", str(config_path), "queue", "status", "--format=json"]
    )
    assert status.exit_code == 0, status.output

    ctx = open_context(config_path)
    snap = metrics.dashboard_snapshot(ctx)
    s = snap.status
    assert 20 <= s.queue_backlog <= 400
    assert s.next_attempt_at is not None
    assert s.dead_letter_count > 0
    assert 0.005 < s.failure_rate_24h < 0.15
    out = snap.last_outage
    assert out is not None and out.backend == "sandbox-main" and not out.open
    assert out.duration_s == 40 * 60
    assert out.first_error_code == "http_503"
    assert timedelta(days=1) < ctx.clock.now() - out.started_at < timedelta(days=3)
    assert out.failure_count > 0
    # The outage killed messages with http_503; permanent failures killed others.
    dead_503 = logs.count_messages(ctx, MessageFilter(statuses=("dead",), error_code="http_503"))
    assert dead_503 > 0
    for code in ("smtp_550", "provider_reject"):
        assert logs.count_messages(ctx, MessageFilter(statuses=("dead",), error_code=code)) > 0
    week = metrics.failure_trend(ctx, days=7)
    # The demo's week ends now; the trend's 7 days start at midnight six days ago, so how much of
    # the demo's first day it holds depends on the time of day: compare with the attempts inside.
    with ctx.db.reading() as s:
        inside = s.exec(
            select(func.count()).where(
                DeliveryAttempt.started_at >= week.start,  # type: ignore[operator]
                DeliveryAttempt.started_at < week.end,  # type: ignore[operator]
            )
        ).one()
    assert week.attempts == inside > 3000
    assert {"http_503", "http_429", "timeout"} <= set(week.by_error_code)
    assert len({p.name for p in snap.providers}) == 2
    assert audit.audit_log(ctx)
    ctx.db.dispose()


async def test_the_dashboard_on_a_demo_shows_the_outage_dead_letters_and_backlog(
    tmp_path: Path, clock: FakeClock
) -> None:
    result = build_demo(tmp_path / "demo.db", messages=5000, clock=clock)
    ctx = demo_context(result, clock=clock)
    snap = metrics.dashboard_snapshot(ctx)
    app = build_app(ctx, refresh_seconds=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
    assert "Last API outage" in text and "sandbox-main  ended" in text and "http_503" in text
    assert f"{snap.status.dead_letter_count:,} total" in text
    assert f"{snap.status.queue_backlog:,} messages" in text
    ctx.db.dispose()


def test_the_same_seed_builds_the_same_demo(tmp_path: Path, clock: FakeClock) -> None:
    first = build_demo(tmp_path / "a.db", messages=2000, seed=3, clock=clock)
    second = build_demo(tmp_path / "b.db", messages=2000, seed=3, clock=clock)
    third = build_demo(tmp_path / "c.db", messages=2000, seed=4, clock=clock)
    key = (first.attempts, first.dead, first.queued)
    assert (second.attempts, second.dead, second.queued) == key
    assert (third.attempts, third.dead) != (first.attempts, first.dead)


def test_a_demo_replaces_an_earlier_demo_but_never_another_file(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "demo.db"
    build_demo(path, messages=500, clock=clock)
    again = build_demo(path, messages=700, clock=clock)
    assert again.messages == 700
    other = tmp_path / "prod.db"
    Database(f"sqlite:///{other}").upgrade()
    with pytest.raises(ValidationError, match="not a mailconsole demo database"):
        build_demo(other, messages=500, clock=clock)
    assert other.exists()


def test_the_live_job_queues_fresh_messages(tmp_path: Path, clock: FakeClock) -> None:
    result = build_demo(tmp_path / "demo.db", messages=500, clock=clock)
    ctx = demo_context(result, clock=clock)
    before = metrics.queue_status(ctx).queue_backlog
    summary = make_live_job(7)(ctx)
    assert summary["queued"] > 0
    assert metrics.queue_status(ctx).queue_backlog == before + summary["queued"]
    ctx.db.dispose()


async def test_the_demo_console_keeps_sending_with_the_scheduler_running(tmp_path: Path) -> None:
    result = build_demo(tmp_path / "demo.db", messages=1000)
    ctx = demo_context(result)
    start = metrics.queue_status(ctx)
    app = build_app(ctx, run_scheduler=True, scheduler_factory=demo_scheduler_factory(7))
    async with app.run_test(size=(160, 40)) as pilot:
        for _ in range(100):
            await asyncio.sleep(0.1)
            if metrics.queue_status(ctx).sent_24h > start.sent_24h + 10:
                break
        assert app.scheduler is not None
        await pilot.press("r")
        await settle(pilot)
        assert "this console" in screen_text(app)  # it leads: nobody else runs the jobs
    assert metrics.queue_status(ctx).sent_24h > start.sent_24h + 10
    ctx.db.dispose()


def test_console_start_up_errors_are_one_line_and_an_exit_code(tmp_path: Path) -> None:
    bad = CliRunner().invoke(cli, ["--database-url", "mysql://nope/db"])
    assert bad.exit_code == 74
    assert bad.output.strip().startswith("mailconsole: unsupported database")
    assert "Traceback" not in bad.output
    missing = CliRunner().invoke(cli, ["--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 78 and "does not exist" in missing.output
    no_tty = CliRunner().invoke(cli, ["--database-url", f"sqlite:///{tmp_path / 'x.db'}"])
    assert no_tty.exit_code == 2 and "needs a terminal" in no_tty.output


def test_the_demo_config_file_round_trips_through_toml(tmp_path: Path) -> None:
    import tomllib

    from mailconsole.demo import demo_config_data, to_toml

    data = demo_config_data(tmp_path / "demo.db", 7)
    assert tomllib.loads(to_toml(data)) == data
