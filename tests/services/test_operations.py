"""Operator actions: pause/resume, fallback, purge, suppressions — audited, refused read-only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.errors import ReadOnlyError, ValidationError
from mailconsole.services import operations as ops
from mailconsole.services.audit import audit_log
from mailconsole.services.metrics import queue_status
from mailconsole.store.models import DeliveryAttempt, Message, MessageBody, Suppression
from tests.services.factory import add_attempt, add_message, make_ctx


def _count(ctx: AppContext, model: Any) -> int:
    with ctx.db.reading() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_pause_and_resume_globally_and_per_backend_with_counts_that_changed(
    ctx: AppContext,
) -> None:
    assert ops.pause(ctx, reason="incident 42") is True
    assert ops.pause(ctx) is False  # already paused: recorded with count 0
    assert ops.pause(ctx, backend="sandbox-backup") is True
    status = queue_status(ctx)
    assert status.paused and status.by_backend["sandbox-backup"].paused
    assert ops.resume(ctx) is True
    assert ops.resume(ctx, backend="sandbox-backup") is True
    status = queue_status(ctx)
    assert not status.paused and not status.by_backend["sandbox-backup"].paused
    rows = list(reversed(audit_log(ctx)))
    assert [(r.action, r.count) for r in rows] == [
        ("pause", 1),
        ("pause", 0),
        ("pause", 1),
        ("resume", 1),
        ("resume", 1),
    ]
    assert rows[0].reason == "incident 42" and rows[0].actor == "tester"
    assert rows[0].ssh_client == "192.0.2.7" and rows[2].target == {"backend": "sandbox-backup"}


def test_pause_of_an_unknown_backend_names_the_configured_ones(ctx: AppContext) -> None:
    with pytest.raises(ValidationError, match="sandbox-backup, sandbox-main"):
        ops.pause(ctx, backend="nope")
    assert audit_log(ctx)[0].outcome == "failed"


def test_fallback_switch_is_shared_through_the_store(ctx: AppContext) -> None:
    assert queue_status(ctx).fallback_enabled is False
    assert ops.set_fallback(ctx, True) is True
    assert queue_status(ctx).fallback_enabled is True
    assert ops.set_fallback(ctx, False, reason="primary back") is True
    assert [r.action for r in audit_log(ctx)] == ["fallback.disable", "fallback.enable"]


def test_purge_refuses_without_an_age_or_all(ctx: AppContext) -> None:
    with pytest.raises(ValidationError, match="--older-than"):
        ops.purge_plan(ctx)


def test_purge_deletes_old_finished_messages_with_their_rows_and_keeps_the_queue(
    ctx: AppContext, clock: FakeClock
) -> None:
    now = clock.now()
    old = now - timedelta(days=10)
    gone = [add_message(ctx, status=s, created_at=old) for s in ("sent", "dead", "cancelled")]
    add_attempt(ctx, gone[0], started_at=old)
    kept_queue = add_message(ctx, status="queued", created_at=old)
    kept_new = add_message(ctx, status="sent", created_at=now - timedelta(hours=1))
    plan = ops.purge_plan(ctx, older_than_s=86400)
    assert plan.count == 3 and "queued" not in plan.statuses
    assert ops.purge(ctx, plan, reason="retention") == 3
    with ctx.db.reading() as s:
        left = set(s.execute(select(Message.id)).scalars())
    assert left == {kept_queue, kept_new}
    assert _count(ctx, MessageBody) == 2 and _count(ctx, DeliveryAttempt) == 0
    (row,) = audit_log(ctx, action="purge")
    assert row.count == 3 and row.target["older_than_s"] == 86400  # type: ignore[index]


def test_purge_of_chosen_statuses_and_all(ctx: AppContext, clock: FakeClock) -> None:
    add_message(ctx, status="queued")
    add_message(ctx, status="dead")
    with pytest.raises(ValidationError, match="sending"):
        ops.purge_plan(ctx, all=True, statuses=["sending"])
    plan = ops.purge_plan(ctx, all=True, statuses=["queued"])
    assert (plan.count, plan.cutoff, plan.all) == (1, None, True)
    assert ops.purge(ctx, plan) == 1
    assert _count(ctx, Message) == 1


def test_suppress_and_unsuppress_normalise_the_address(ctx: AppContext) -> None:
    assert ops.suppress(ctx, "Ana@Example.COM", reason="complaint by phone") is True
    assert ops.suppress(ctx, "ana@example.com") is False
    (view,) = ops.list_suppressions(ctx)
    assert view.address == "ana@example.com" and view.detail == "complaint by phone"
    assert ops.unsuppress(ctx, "ANA@example.com") is True
    assert ops.unsuppress(ctx, "ana@example.com") is False
    assert _count(ctx, Suppression) == 0
    assert [(r.action, r.count) for r in audit_log(ctx)] == [
        ("unsuppress", 0),
        ("unsuppress", 1),
        ("suppress", 0),
        ("suppress", 1),
    ]
    with pytest.raises(ValidationError):
        ops.suppress(ctx, "not an address")


MUTATIONS: dict[str, Callable[[AppContext], Any]] = {
    "pause": lambda c: ops.pause(c),
    "resume": lambda c: ops.resume(c, backend="sandbox-main"),
    "fallback.enable": lambda c: ops.set_fallback(c, True),
    "purge": lambda c: ops.purge(c, ops.purge_plan(c, all=True)),
    "suppress": lambda c: ops.suppress(c, "a@example.com"),
    "unsuppress": lambda c: ops.unsuppress(c, "a@example.com"),
}


@pytest.mark.parametrize("action", sorted(MUTATIONS))
def test_read_only_mode_refuses_every_operation_and_audits_the_refusal(
    ctx: AppContext, clock: FakeClock, action: str
) -> None:
    add_message(ctx, status="sent")
    ro = make_ctx(ctx.db, clock, ctx.config, read_only=True)
    with pytest.raises(ReadOnlyError, match="read-only"):
        MUTATIONS[action](ro)
    (row,) = audit_log(ctx)
    assert (row.action, row.outcome, row.count) == (action, "refused", None)
    assert _count(ctx, Message) == 1 and not queue_status(ctx).paused


async def test_process_now_sends_due_messages_through_the_dispatcher_and_is_audited(
    ctx: AppContext,
) -> None:
    from mailconsole.engine.enqueue import enqueue

    for i in range(3):
        enqueue(ctx, {"to": f"u{i}@example.com", "subject": "hi", "text": "x"})
    report = await ops.process_now(ctx, limit=10)
    assert report.sent == 3
    assert queue_status(ctx).queue_backlog == 0
    (row,) = audit_log(ctx, action="process_now")
    assert row.count == 3 and row.target == {"limit": 10} and "sent 3" in (row.detail or "")


async def test_process_now_is_refused_in_read_only_mode(ctx: AppContext, clock: FakeClock) -> None:
    ro = make_ctx(ctx.db, clock, ctx.config, read_only=True)
    with pytest.raises(ReadOnlyError):
        await ops.process_now(ro)
    assert audit_log(ctx)[0].outcome == "refused"


def test_reset_circuit_closes_it_and_ends_the_open_outage(
    ctx: AppContext, clock: FakeClock
) -> None:
    from mailconsole.engine.switches import backend_state
    from tests.services.factory import add_outage

    with ctx.db.writing() as s:
        state = backend_state(s, "sandbox-main", clock.now())
        state.circuit, state.circuit_kind, state.circuit_reason = "open", "account", "auth_error"
        s.add(state)
    add_outage(
        ctx, started_at=clock.now() - timedelta(minutes=5), kind="account", code="auth_error"
    )
    clock.advance(60)
    assert ops.reset_circuit(ctx, "sandbox-main", reason="token rotated") is True
    main = queue_status(ctx).by_backend["sandbox-main"]
    assert main.circuit == "closed" and main.open_outage is None
    assert ops.reset_circuit(ctx, "sandbox-main") is False
    assert [(r.action, r.count) for r in audit_log(ctx)] == [
        ("circuit.reset", 0),
        ("circuit.reset", 1),
    ]
