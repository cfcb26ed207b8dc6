"""Retention: finished mail, attempts and old audit rows expire; dead letters and the queue never do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlmodel import func, select

from mailconsole.cli.main import cli
from mailconsole.clock import FakeClock, utcnow
from mailconsole.errors import ReadOnlyError
from mailconsole.retention.jobs import is_due, retention_job
from mailconsole.services.retention import retention_plan, run_retention
from mailconsole.store import AuditEvent, Database, DeliveryAttempt, Message, MessageBody
from tests.services.factory import add_attempt, add_message, make_ctx


def _ids(db: Database) -> set[int]:
    with db.reading() as s:
        return set(s.exec(select(Message.id)).all())


def _seed(ctx, clock: FakeClock) -> dict[str, int]:  # type: ignore[no-untyped-def]
    old = clock.now() - timedelta(days=120)
    recent = clock.now() - timedelta(days=3)
    ids = {
        "old_sent": add_message(ctx, status="sent", created_at=old, updated_at=old),
        "old_dead": add_message(
            ctx, status="dead", created_at=old, updated_at=old, error_code="smtp_550"
        ),
        "old_queued": add_message(ctx, status="queued", created_at=old, updated_at=old),
        "recent_sent": add_message(ctx, status="sent", created_at=recent, updated_at=recent),
    }
    add_attempt(ctx, ids["old_sent"], started_at=old)
    add_attempt(ctx, ids["old_dead"], started_at=old, outcome="permanent", error_code="smtp_550")
    add_attempt(ctx, ids["recent_sent"], started_at=recent)
    return ids


def test_retention_deletes_finished_mail_and_old_attempts_but_keeps_dead_letters_and_the_queue(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock)
    ids = _seed(ctx, clock)
    plan = retention_plan(ctx)
    assert plan.counts["messages"] == 1 and plan.counts["attempts"] == 2
    assert _ids(db) == set(ids.values())  # the plan changed nothing

    report = run_retention(ctx, reason="test")
    assert (
        report.counts["messages"] == 1 and report.counts["attempts"] == 1
    )  # the other went with its message
    assert _ids(db) == {ids["old_dead"], ids["old_queued"], ids["recent_sent"]}
    with db.reading() as s:
        assert s.get(MessageBody, ids["old_sent"]) is None
        left = s.exec(select(DeliveryAttempt.message_id)).all()
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "retention")).one()
    assert sorted(left) == [ids["recent_sent"]]
    assert audit.count == report.total and audit.reason == "test" and audit.outcome == "ok"


def test_old_audit_rows_expire_after_their_own_longer_window(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock)
    with db.writing() as s:
        for days in (800, 100):
            s.add(AuditEvent(at=clock.now() - timedelta(days=days), actor="x", action="pause"))
    run_retention(ctx)
    with db.reading() as s:
        ages = [
            (clock.now() - a.at).days
            for a in s.exec(select(AuditEvent).where(AuditEvent.action == "pause"))
        ]
    assert ages == [100]


def test_retention_is_refused_in_read_only_mode(db: Database, clock: FakeClock) -> None:
    ctx = make_ctx(db, clock, read_only=True)
    _seed(make_ctx(db, clock), clock)
    with pytest.raises(ReadOnlyError):
        run_retention(ctx)
    assert len(_ids(db)) == 4


async def test_the_daily_job_runs_once_a_day_whoever_ran_it_last(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock)
    _seed(ctx, clock)
    assert is_due(ctx)
    first = await retention_job(ctx)
    assert first["deleted"]["messages"] == 1
    clock.advance(hours=2)
    assert (await retention_job(ctx))["reason"] == "not due"
    clock.advance(hours=23)
    assert "deleted" in await retention_job(ctx)
    with db.reading() as s:
        runs = s.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "retention")
        ).one()
        worker = s.exec(
            select(AuditEvent.interface).where(AuditEvent.action == "retention")
        ).first()
    assert runs == 2 and worker == "worker"


def test_retention_cli_dry_run_counts_and_changes_nothing(
    sqlite_db: Database, clock: FakeClock, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    ctx = make_ctx(sqlite_db, clock)
    # The CLI uses the real clock: make the rows old relative to it.
    real = FakeClock(start=utcnow())
    ids = _seed(make_ctx(sqlite_db, real), real)
    config = tmp_path / "c.toml"
    config.write_text('[accounts.main]\ntype = "sandbox"\n')
    env = {"MAILCONSOLE_CONFIG": str(config), "MAILCONSOLE_DATABASE_URL": sqlite_db.url}
    result = CliRunner().invoke(
        cli,
        ["retention", "run", "--dry-run"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "messages             would delete         1" in result.output
    assert _ids(ctx.db) == set(ids.values())
    result = CliRunner().invoke(
        cli,
        ["retention", "run", "--format=json"],
        env=env,
    )
    assert result.exit_code == 0 and '"messages": 1' in result.output
    assert ids["old_sent"] not in _ids(ctx.db)
