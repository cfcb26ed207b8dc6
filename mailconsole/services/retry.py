"""Bulk retry (plan → confirm → run) and selective resend, the incident-response tools.

A retry is planned first: how many messages match, how many may be retried, and what they are
(by error code, recipient domain, backend). The run then re-queues exactly the set the plan
counted — the same filter, limited to rows that existed and had not changed when the plan was
made — so a dead letter that appears between the plan and the confirmation is not swept in.
Sent, queued and suppressed messages are never retried (see `RETRYABLE_STATUSES`).

A resend never touches its source: it is a new message that copies the stored one, with the
operator's overrides, and records which message it replays (`replay_of`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select, update

from mailconsole.context import AppContext
from mailconsole.engine.enqueue import build_message, insert_messages
from mailconsole.errors import NotFoundError, ValidationError
from mailconsole.services._readmodel import ReadModel
from mailconsole.services.audit import operation
from mailconsole.services.filters import MessageFilter, conditions
from mailconsole.store.models import RETRYABLE_STATUSES, Message, MessageBody, MessageStatus

RETRYABLE = tuple(s.value for s in RETRYABLE_STATUSES)
APPLY_CHUNK = 10_000
TOP = 10


@dataclass(frozen=True)
class RetryPlan(ReadModel):
    selection: Literal["ids", "filter"]
    filter: MessageFilter
    matched: int
    retryable: int
    not_retryable: dict[str, int]  # by status: what matched but will not be retried
    by_error_code: dict[str, int]  # the retryable ones, top N, largest first
    by_domain: dict[str, int]
    by_backend: dict[str, int]
    oldest: datetime | None  # created_at of the oldest retryable message
    newest: datetime | None
    planned_at: datetime
    max_id: int | None  # the run touches no message created after the plan

    @property
    def ids(self) -> tuple[int, ...]:
        return self.filter.ids

    def describe(self) -> str:
        """What the confirmation says: selected rows, or every row matching the filter."""
        if self.selection == "ids":
            return f"{self.retryable} of {len(self.ids)} selected message(s)"
        text = self.filter.describe() or "(no filter: every message)"
        return f"all {self.retryable} retryable message(s) matching {text}"

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["filter"] = self.filter.to_dict()
        return data


def _selection(flt: MessageFilter | None, ids: Sequence[int] | None) -> MessageFilter:
    flt = flt or MessageFilter()
    if ids:
        flt = flt.with_(ids=tuple(int(i) for i in ids))
    return flt


def _top(session: Any, column: Any, conds: list[Any]) -> dict[str, int]:
    n = func.count().label("n")
    rows = session.execute(
        select(column, n).where(*conds).group_by(column).order_by(n.desc()).limit(TOP)
    ).all()
    return {(key if key is not None else "(none)"): int(count) for key, count in rows}


def retry_plan(
    ctx: AppContext, flt: MessageFilter | None = None, ids: Sequence[int] | None = None
) -> RetryPlan:
    """Count what a retry of this filter (or these ids) would change, and what it would not."""
    selection = _selection(flt, ids)
    if selection.is_empty():
        raise ValidationError(
            "retry needs a selection: give ids or a filter (e.g. --status dead --error-code http_5)"
        )
    now = ctx.clock.now()
    base = conditions(selection)
    retryable = [*base, Message.status.in_(RETRYABLE)]  # type: ignore[attr-defined]
    with ctx.db.reading() as session:
        by_status = {
            status: int(n)
            for status, n in session.execute(
                select(Message.status, func.count()).where(*base).group_by(Message.status)
            ).all()
        }
        count, oldest, newest, max_id = session.execute(
            select(
                func.count(),
                func.min(Message.created_at),
                func.max(Message.created_at),
                func.max(Message.id),
            ).where(*retryable)
        ).one()
        by_error = _top(session, Message.last_error_code, retryable)
        by_domain = _top(session, Message.recipient_domain, retryable)
        by_backend = _top(session, func.coalesce(Message.backend, Message.account), retryable)
    return RetryPlan(
        selection="ids" if selection.ids else "filter",
        filter=selection,
        matched=sum(by_status.values()),
        retryable=int(count),
        not_retryable={s: n for s, n in sorted(by_status.items()) if s not in RETRYABLE},
        by_error_code=by_error,
        by_domain=by_domain,
        by_backend=by_backend,
        oldest=oldest,
        newest=newest,
        planned_at=now,
        max_id=int(max_id) if max_id is not None else None,
    )


def _plan_conditions(plan: RetryPlan) -> list[Any]:
    """The plan's set: its filter, retryable, unchanged since the plan, not newer than it."""
    return [
        *conditions(plan.filter),
        Message.status.in_(RETRYABLE),  # type: ignore[attr-defined]
        Message.id <= (plan.max_id or 0),  # type: ignore[operator]
        Message.updated_at <= plan.planned_at,  # type: ignore[operator]
    ]


def apply_retry(
    ctx: AppContext,
    plan: RetryPlan,
    reason: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-queue what the plan counted as retryable, in chunks; returns how many changed.

    Attempts restart at zero and the next attempt is now; the last error stays on the row (the
    history of what happened is in `delivery_attempt`). `progress(done, total)` after each chunk.
    """
    target = {
        "selection": plan.selection,
        "filter": plan.filter.to_dict(),
        "planned": plan.retryable,
        "max_id": plan.max_id,
    }
    with operation(ctx, "retry", target=target, reason=reason) as rec:
        rec.count = 0
        if plan.max_id is None:
            return 0
        conds = _plan_conditions(plan)
        with ctx.db.writing() as session:
            # The engine clears the lease whenever a row leaves `sending`, so retryable rows
            # hold none, and the re-queue below does not rewrite the lease columns (and their
            # index entry) on every row: that was a third of the run. A planned row that still
            # holds one (a claim always sets both columns) is cleared here, found through the
            # lease index, without touching `updated_at` (the row stays in the plan's set).
            session.execute(
                update(Message)
                .where(*conds, Message.lease_expires_at.is_not(None))  # type: ignore[union-attr]
                .values(lease_owner=None, lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
        with ctx.db.reading() as session:
            ids = list(
                session.execute(select(Message.id).where(*conds).order_by(Message.id)).scalars()
            )
        for start in range(0, len(ids), APPLY_CHUNK):
            chunk = ids[start : start + APPLY_CHUNK]
            now = ctx.clock.now()
            with ctx.db.writing() as session:
                # Status and updated_at are checked again at write time: a row that a worker
                # or an operator changed since the select is left alone.
                result = session.execute(
                    update(Message)
                    .where(
                        Message.id.in_(chunk),  # type: ignore[union-attr]
                        Message.status.in_(RETRYABLE),  # type: ignore[attr-defined]
                        Message.updated_at <= plan.planned_at,  # type: ignore[operator]
                    )
                    .values(
                        status=MessageStatus.QUEUED.value,
                        attempts=0,
                        next_attempt_at=now,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                rec.count += int(result.rowcount or 0)  # type: ignore[attr-defined]
            if progress is not None:
                progress(rec.count, plan.retryable)
        return rec.count


def resend(
    ctx: AppContext,
    message_id: int,
    *,
    to: Sequence[str] | str | None = None,
    subject: str | None = None,
    backend: str | None = None,
    reason: str | None = None,
) -> int:
    """Queue a copy of a stored message with overrides; returns the new message's id.

    The source is only read. With `to` given, the copy goes to those recipients alone (the
    original cc/bcc are dropped, so an override never mails the original people by surprise).
    """
    overrides = {
        k: v
        for k, v in (("to", to), ("subject", subject), ("backend", backend))
        if v not in (None, "", (), [])
    }
    target = {"message_id": message_id, "overrides": overrides}
    with operation(ctx, "resend", target=target, reason=reason) as rec:
        with ctx.db.reading() as session:
            msg = session.get(Message, message_id)
            body = session.get(MessageBody, message_id)
        if msg is None:
            raise NotFoundError(f"no message with id {message_id}: check the id in `logs export`")
        if body is None:
            raise ValidationError(
                f'message {message_id} has no stored body (log_detail = "metadata" removed it): '
                "it cannot be resent"
            )
        data: dict[str, Any] = {
            "from": msg.from_addr,
            "to": msg.to_addrs,
            "cc": msg.cc_addrs,
            "bcc": msg.bcc_addrs,
            "reply_to": msg.reply_to,
            "subject": msg.subject,
            "text": body.text_body,
            "html": body.html_body,
            "headers": body.headers,
            "tag": msg.tag,
            "backend": msg.account,
            "stream": msg.stream,
            "template_id": body.template_id,
            "template_data": body.template_data,
        }
        if "to" in overrides:
            data.update(to=overrides["to"], cc=None, bcc=None)
        data.update({k: v for k, v in overrides.items() if k != "to"})
        data["replay_of"] = message_id
        new = build_message(ctx, {k: v for k, v in data.items() if v is not None})
        new_id = insert_messages(ctx, [new])[0]
        rec.count = 1
        rec.extra["new_id"] = new_id
        return new_id


__all__ = ["RETRYABLE", "RetryPlan", "apply_retry", "resend", "retry_plan"]
