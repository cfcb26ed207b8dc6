"""Bulk retry (plan, then exactly that change) and selective resend."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.errors import NotFoundError, ReadOnlyError, ValidationError
from mailconsole.services.audit import audit_log
from mailconsole.services.filters import MessageFilter
from mailconsole.services.logs import message_detail
from mailconsole.services.retry import apply_retry, resend, retry_plan
from mailconsole.store.models import Message, MessageBody
from tests.services.factory import add_message, make_ctx

ALL_STATUSES = (
    "queued",
    "sending",
    "sent",
    "delivered",
    "bounced",
    "complained",
    "dead",
    "suppressed",
    "cancelled",
)


def _statuses(ctx: AppContext) -> dict[int, str]:
    with ctx.db.reading() as s:
        return dict(s.execute(select(Message.id, Message.status)).all())


def test_bulk_retry_plan_counts_only_retryable_messages(ctx: AppContext, clock: FakeClock) -> None:
    for status in ALL_STATUSES:
        add_message(ctx, status=status, error_code="http_503", to=f"x@{status}.example")
    add_message(
        ctx, status="dead", error_code="http_500", to="y@gmail.com", backend="sandbox-backup"
    )
    add_message(ctx, status="dead", error_code="smtp_550", to="z@gmail.com")
    plan = retry_plan(ctx, MessageFilter(error_code="http_5"))
    assert plan.matched == len(ALL_STATUSES) + 1
    assert plan.retryable == 4  # dead ×2, bounced, cancelled
    assert plan.not_retryable == {
        s: 1 for s in ALL_STATUSES if s not in ("dead", "bounced", "cancelled")
    }
    assert plan.by_error_code == {"http_503": 3, "http_500": 1}
    assert plan.by_domain["gmail.com"] == 1
    assert plan.by_backend == {"sandbox-backup": 1, "(none)": 3}
    assert plan.selection == "filter"
    assert "all 4 retryable" in plan.describe()


def test_dry_run_plan_changes_nothing_and_the_run_changes_exactly_the_planned_count(
    ctx: AppContext, clock: FakeClock
) -> None:
    for status in ALL_STATUSES * 2:
        add_message(ctx, status=status, error_code="timeout", attempts=5)
    before = _statuses(ctx)
    plan = retry_plan(ctx, MessageFilter(search="timeout"))
    assert _statuses(ctx) == before
    clock.advance(5)
    changed = apply_retry(ctx, plan, reason="provider back")
    after = _statuses(ctx)
    moved = [i for i in before if before[i] != after[i]]
    assert changed == plan.retryable == len(moved) == 6
    assert all(
        before[i] in ("dead", "bounced", "cancelled") and after[i] == "queued" for i in moved
    )
    with ctx.db.reading() as s:
        requeued = s.get(Message, moved[0])
    assert (
        requeued is not None and requeued.attempts == 0 and requeued.next_attempt_at == clock.now()
    )
    (row,) = audit_log(ctx, action="retry")
    assert row.count == 6 and row.reason == "provider back" and row.outcome == "ok"
    assert row.target is not None and row.target["filter"] == {"search": "timeout"}


def test_retry_runs_only_the_plan_not_dead_letters_that_appeared_after_it(
    ctx: AppContext, clock: FakeClock
) -> None:
    planned = add_message(ctx, status="dead")
    late_queued = add_message(ctx, status="queued")
    plan = retry_plan(ctx, MessageFilter(statuses=("dead",)))
    clock.advance(60)
    add_message(ctx, status="dead")  # created after the plan
    with ctx.db.writing() as s:  # was queued at plan time, died since
        msg = s.get(Message, late_queued)
        assert msg is not None
        msg.status, msg.updated_at = "dead", clock.now()
    assert apply_retry(ctx, plan) == 1
    statuses = _statuses(ctx)
    assert statuses[planned] == "queued"
    assert list(statuses.values()).count("dead") == 2


def test_retry_in_several_chunks_reports_progress_and_changes_each_planned_row_once(
    ctx: AppContext, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mailconsole.services.retry.APPLY_CHUNK", 3)
    dead = [add_message(ctx, status="dead", attempts=4) for _ in range(7)]
    sent = add_message(ctx, status="sent")
    plan = retry_plan(ctx, MessageFilter(statuses=("dead", "sent")))
    clock.advance(10)
    with ctx.db.writing() as s:  # an operator changed one planned row after the plan
        msg = s.get(Message, dead[4])
        assert msg is not None
        msg.status, msg.updated_at = "cancelled", clock.now()
    seen: list[tuple[int, int]] = []
    assert apply_retry(ctx, plan, progress=lambda done, total: seen.append((done, total))) == 6
    assert seen == [(3, 7), (6, 7)]  # the changed row is not among the ids to update
    statuses = _statuses(ctx)
    assert [statuses[i] for i in dead] == ["queued"] * 4 + ["cancelled"] + ["queued"] * 2
    assert statuses[sent] == "sent"
    with ctx.db.reading() as s:
        attempts = dict(s.execute(select(Message.id, Message.attempts)).all())
    assert [attempts[i] for i in dead] == [0, 0, 0, 0, 4, 0, 0]
    (row,) = audit_log(ctx, action="retry")
    assert row.count == 6


def test_retry_clears_a_stray_lease_on_a_requeued_row_and_leaves_other_leases_alone(
    ctx: AppContext, clock: FakeClock
) -> None:
    stray = add_message(ctx, status="dead")
    clean = add_message(ctx, status="dead")
    sending = add_message(ctx, status="sending")
    held = clock.now()
    with ctx.db.writing() as s:
        for i in (stray, sending):
            msg = s.get(Message, i)
            assert msg is not None
            msg.lease_owner, msg.lease_expires_at = "worker-1", held
    plan = retry_plan(ctx, MessageFilter(statuses=("dead", "sending")))
    assert apply_retry(ctx, plan) == 2
    with ctx.db.reading() as s:
        leases = {
            i: (o, e)
            for i, o, e in s.execute(
                select(Message.id, Message.lease_owner, Message.lease_expires_at)
            ).all()
        }
    assert leases[stray] == (None, None) and leases[clean] == (None, None)
    assert leases[sending] == ("worker-1", held)
    assert _statuses(ctx) == {stray: "queued", clean: "queued", sending: "sending"}


def test_retry_by_ids_reports_a_selection(ctx: AppContext) -> None:
    a = add_message(ctx, status="dead")
    b = add_message(ctx, status="sent")
    add_message(ctx, status="dead")
    plan = retry_plan(ctx, ids=[a, b])
    assert (plan.selection, plan.matched, plan.retryable) == ("ids", 2, 1)
    assert plan.describe() == "1 of 2 selected message(s)"
    assert apply_retry(ctx, plan) == 1


def test_retry_without_a_selection_is_refused(ctx: AppContext) -> None:
    with pytest.raises(ValidationError, match="needs a selection"):
        retry_plan(ctx, MessageFilter())


def test_resend_copies_with_overrides_and_never_mutates_the_source(
    ctx: AppContext, clock: FakeClock
) -> None:
    src = add_message(
        ctx,
        status="dead",
        subject="Invoice",
        to="old@example.com",
        text="plain",
        html="<b>x</b>",
        headers={"X-Ticket": "7"},
        error_code="http_503",
        attempts=5,
        tag="billing",
    )
    with ctx.db.reading() as s:
        before = s.get(Message, src).model_dump()  # type: ignore[union-attr]
    clock.advance(30)
    new_id = resend(
        ctx,
        src,
        to=["new@example.org"],
        subject="Invoice (again)",
        backend="sandbox-backup",
        reason="customer asked",
    )
    with ctx.db.reading() as s:
        after = s.get(Message, src).model_dump()  # type: ignore[union-attr]
        copy = s.get(Message, new_id)
        body = s.get(MessageBody, new_id)
    assert after == before
    assert copy is not None and body is not None
    assert (copy.status, copy.to_addrs, copy.subject, copy.account) == (
        "queued",
        "new@example.org",
        "Invoice (again)",
        "sandbox-backup",
    )
    assert copy.replay_of == src and copy.tag == "billing"
    assert (body.text_body, body.html_body, body.headers) == (
        "plain",
        "<b>x</b>",
        {"X-Ticket": "7"},
    )
    detail = message_detail(ctx, src)
    assert [r.id for r in detail.replays] == [new_id]
    (row,) = audit_log(ctx, action="resend")
    assert row.count == 1 and row.target["new_id"] == new_id  # type: ignore[index]


def test_resend_of_a_missing_message_says_so(ctx: AppContext) -> None:
    with pytest.raises(NotFoundError):
        resend(ctx, 424242)
    (row,) = audit_log(ctx, action="resend")
    assert row.outcome == "failed"


def test_read_only_mode_refuses_retry_and_resend_and_audits_the_refusal(
    ctx: AppContext, clock: FakeClock
) -> None:
    src = add_message(ctx, status="dead")
    ro = make_ctx(ctx.db, clock, ctx.config, read_only=True)
    plan = retry_plan(ro, MessageFilter(statuses=("dead",)))  # planning reads only
    with pytest.raises(ReadOnlyError):
        apply_retry(ro, plan)
    with pytest.raises(ReadOnlyError):
        resend(ro, src)
    assert _statuses(ctx) == {src: "dead"}
    assert {(r.action, r.outcome) for r in audit_log(ctx)} == {
        ("retry", "refused"),
        ("resend", "refused"),
    }
