"""`health_check`: each check and the worst-of verdict with exit codes 0, 1, 2."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import select

from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.engine.dispatcher import run_dispatch_once
from mailconsole.engine.switches import backend_state
from mailconsole.services.health import health_check
from mailconsole.services.metrics import NO_ACCOUNT, queue_status
from mailconsole.store.models import Message, SchedulerLease
from tests.services.factory import add_message, add_outage, make_ctx, sample_config


def add_leader(ctx: AppContext, age_s: float = 5) -> None:
    beat = ctx.clock.now() - timedelta(seconds=age_s)
    with ctx.db.writing() as s:
        s.merge(
            SchedulerLease(
                name="leader",
                owner="worker-1",
                host="mx1",
                pid=42,
                acquired_at=beat,
                heartbeat_at=beat,
                expires_at=beat + timedelta(seconds=30),
            )
        )


def messages_by_id(ctx: AppContext) -> dict[int, Message]:
    with ctx.db.reading() as s:
        return {m.id: m for m in s.exec(select(Message)).all()}  # type: ignore[misc]


def _checks(ctx: AppContext) -> dict[str, str]:
    return {c.name: c.status for c in health_check(ctx).checks}


def test_healthy_system_is_ok_with_exit_code_0(ctx: AppContext) -> None:
    add_leader(ctx)
    add_message(ctx)
    report = health_check(ctx)
    assert (report.status, report.exit_code) == ("ok", 0), report.to_dict()
    names = {c.name for c in report.checks}
    assert names >= {
        "database",
        "scheduler",
        "backlog",
        "oldest_age",
        "failure_rate",
        "dead_letters",
        "outages",
        "circuits",
        "dispatch",
        "credentials",
    }


def test_backlog_over_the_warning_threshold_is_a_warning_with_exit_code_1(
    db, clock: FakeClock
) -> None:
    ctx = make_ctx(
        db, clock, sample_config(thresholds={"backlog_warning": 2, "backlog_critical": 10})
    )
    add_leader(ctx)
    for _ in range(3):
        add_message(ctx)
    report = health_check(ctx)
    assert (report.status, report.exit_code) == ("warning", 1)
    backlog = next(c for c in report.checks if c.name == "backlog")
    assert backlog.value == 3 and "warning at 2" in backlog.reason


def test_stale_heartbeat_is_critical_with_exit_code_2(ctx: AppContext) -> None:
    add_leader(ctx, age_s=600)
    report = health_check(ctx)
    assert (report.status, report.exit_code) == ("critical", 2)
    assert _checks(ctx)["scheduler"] == "critical"


def test_no_leader_old_messages_and_dead_letters_are_graded(
    ctx: AppContext, clock: FakeClock
) -> None:
    add_message(ctx, created_at=clock.now() - timedelta(minutes=20))
    add_message(ctx, status="dead")
    checks = _checks(ctx)
    assert checks["scheduler"] == "critical"
    assert checks["oldest_age"] == "warning"
    assert checks["dead_letters"] == "warning"


def test_open_outage_account_circuit_and_pause_are_reported(
    ctx: AppContext, clock: FakeClock
) -> None:
    add_leader(ctx)
    add_outage(ctx, started_at=clock.now() - timedelta(minutes=1))
    assert _checks(ctx)["outages"] == "warning"
    clock.advance(minutes=10)
    add_leader(ctx)  # a fresh heartbeat after the wait
    assert _checks(ctx)["outages"] == "critical"
    with ctx.db.writing() as s:
        state = backend_state(s, "sandbox-backup", clock.now())
        state.circuit, state.circuit_kind, state.circuit_reason = "open", "account", "auth_error"
        state.paused = True
        s.add(state)
    checks = _checks(ctx)
    assert checks["circuits"] == "critical" and checks["dispatch"] == "warning"


def test_missing_credentials_are_critical(db, clock: FakeClock, memory_keyring) -> None:
    config = sample_config(
        accounts={"pm": {"type": "postmark", "from": "ops@example.com"}}, routing={"primary": "pm"}
    )
    ctx = make_ctx(db, clock, config)
    add_leader(ctx)
    report = health_check(ctx)
    cred = next(c for c in report.checks if c.name == "credentials")
    assert cred.status == "critical" and "MAILCONSOLE_SECRET_PM" in cred.reason
    assert report.exit_code == 2
    memory_keyring.set_password("mailconsole", "pm", "token")
    assert _checks(ctx)["credentials"] == "ok"


async def test_queued_messages_of_an_account_gone_from_the_config_are_critical_and_kept(
    ctx: AppContext,
) -> None:
    add_leader(ctx)
    gone = add_message(ctx, account="old-relay")
    add_message(ctx, account="old-relay", status="sent")  # only what waits is stranded
    kept = add_message(ctx, account="sandbox-main")
    report = await asyncio.to_thread(health_check, ctx)
    routes = next(c for c in report.checks if c.name == "routes")
    assert (routes.status, routes.value) == ("critical", {"old-relay": 1})
    assert "never be sent" in routes.reason and "old-relay (1)" in routes.reason
    assert report.exit_code == 2
    # What the check says is what the engine does: the dispatch claims the other, never this one.
    dispatched = await run_dispatch_once(ctx)
    assert dispatched.sent == 1
    rows = messages_by_id(ctx)
    assert rows[gone].status == "queued" and rows[kept].status == "sent"
    assert queue_status(ctx).stranded == {"old-relay": 1}


def test_without_a_primary_queued_messages_naming_no_account_are_stranded(
    db, clock: FakeClock
) -> None:
    # With no routing.primary the first enabled account is the primary: here none is enabled.
    only = {"type": "sandbox", "from": "ops@example.com", "enabled": False}
    ctx = make_ctx(db, clock, sample_config(accounts={"sandbox-main": only}, routing={}))
    add_message(ctx)
    assert queue_status(ctx).stranded == {NO_ACCOUNT: 1}
    assert _checks(ctx)["routes"] == "critical"
