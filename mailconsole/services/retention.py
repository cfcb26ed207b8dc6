"""Data retention: delete what is older than the configured windows, in small transactions.

Windows (config `[retention]`): attempts and webhook events `attempts_days`/`events_days`,
finished messages (sent, delivered, bounced, complained, cancelled, suppressed) `messages_days`
with their bodies, attempts and events; the audit trail `audit_days`. Dead letters are kept until
they are retried or purged by an operator, and queued or sending messages are never touched.
Deletes run in chunks so a daily run never holds the SQLite write lock for long.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select

from mailconsole.context import AppContext
from mailconsole.services._readmodel import ReadModel
from mailconsole.services.audit import operation
from mailconsole.store.models import (
    AlertNotification,
    AuditEvent,
    DeliveryAttempt,
    DeliveryEvent,
    Message,
    MessageBody,
    MessageStatus,
    WebhookSeen,
)

CHUNK = 5000
FINISHED = (
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.BOUNCED,
    MessageStatus.COMPLAINED,
    MessageStatus.CANCELLED,
    MessageStatus.SUPPRESSED,
)
WEBHOOK_SEEN_DAYS = 2  # replay protection needs minutes; two days covers provider retries


@dataclass(frozen=True)
class RetentionReport(ReadModel):
    """Rows deleted (or, in a dry run, that would be) per kind, and the cut-offs used."""

    dry_run: bool
    counts: dict[str, int] = field(default_factory=dict)
    cutoffs: dict[str, datetime] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


Rule = tuple[str, Any, Any, ColumnElement[bool]]


def _rules(ctx: AppContext) -> tuple[list[Rule], dict[str, datetime]]:
    """(name, table, id column, condition) for each kind of row that expires, and the cut-offs."""
    now = ctx.clock.now()
    r = ctx.config.retention
    cut = {
        "messages": now - timedelta(days=r.messages_days),
        "attempts": now - timedelta(days=r.attempts_days),
        "events": now - timedelta(days=r.events_days),
        "audit": now - timedelta(days=r.audit_days),
        "webhook_seen": now - timedelta(days=WEBHOOK_SEEN_DAYS),
    }
    return [
        (
            "messages",
            Message,
            Message.id,
            (Message.status.in_([s.value for s in FINISHED]))
            & (Message.updated_at < cut["messages"]),  # type: ignore[attr-defined,operator]
        ),
        (
            "attempts",
            DeliveryAttempt,
            DeliveryAttempt.id,
            DeliveryAttempt.started_at < cut["attempts"],
        ),  # type: ignore[operator]
        ("events", DeliveryEvent, DeliveryEvent.id, DeliveryEvent.occurred_at < cut["events"]),  # type: ignore[operator]
        (
            "alert_notifications",
            AlertNotification,
            AlertNotification.id,
            AlertNotification.at < cut["events"],
        ),  # type: ignore[operator]
        ("audit", AuditEvent, AuditEvent.id, AuditEvent.at < cut["audit"]),  # type: ignore[operator]
        ("webhook_seen", WebhookSeen, WebhookSeen.id, WebhookSeen.seen_at < cut["webhook_seen"]),  # type: ignore[operator]
    ], cut


def last_run(ctx: AppContext) -> datetime | None:
    """When retention last completed (from the audit trail), on any host."""
    with ctx.db.reading() as session:
        return session.execute(
            select(AuditEvent.at)
            .where(AuditEvent.action == "retention", AuditEvent.outcome == "ok")
            .order_by(AuditEvent.at.desc())  # type: ignore[attr-defined]
            .limit(1)
        ).scalar_one_or_none()


def retention_plan(ctx: AppContext) -> RetentionReport:
    """How many rows each window would delete now (changes nothing)."""
    rules, cut = _rules(ctx)
    counts: dict[str, int] = {}
    with ctx.db.reading() as session:
        for name, table, _id, cond in rules:
            counts[name] = int(
                session.execute(select(func.count()).select_from(table).where(cond)).scalar_one()
            )
    return RetentionReport(dry_run=True, counts=counts, cutoffs=cut)


def _delete_messages(session: Any, ids: list[int]) -> None:
    for table, column in (
        (MessageBody, MessageBody.message_id),
        (DeliveryAttempt, DeliveryAttempt.message_id),
        (DeliveryEvent, DeliveryEvent.message_id),
    ):
        session.execute(delete(table).where(column.in_(ids)))  # type: ignore[attr-defined]


def _run(ctx: AppContext, progress: Callable[[str, int], None] | None) -> RetentionReport:
    rules, cut = _rules(ctx)
    counts: dict[str, int] = {}
    for name, table, id_col, cond in rules:
        counts[name] = 0
        while True:
            with ctx.db.writing() as session:
                ids = list(
                    session.execute(
                        select(id_col).where(cond).order_by(id_col).limit(CHUNK)
                    ).scalars()
                )
                if not ids:
                    break
                if table is Message:
                    _delete_messages(session, ids)
                session.execute(delete(table).where(id_col.in_(ids)))
            counts[name] += len(ids)
            if progress is not None:
                progress(name, counts[name])
    return RetentionReport(dry_run=False, counts=counts, cutoffs=cut)


def run_retention(
    ctx: AppContext,
    *,
    reason: str | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> RetentionReport:
    """Delete expired rows now (the daily job, or `mailconsole retention run`); audited."""
    r = ctx.config.retention
    target = {
        "messages_days": r.messages_days,
        "attempts_days": r.attempts_days,
        "events_days": r.events_days,
        "audit_days": r.audit_days,
    }
    with operation(ctx, "retention", target=target, reason=reason) as rec:
        report = _run(ctx, progress)
        rec.count = report.total
        rec.detail = (
            ", ".join(f"{k} {v}" for k, v in report.counts.items() if v) or "nothing expired"
        )
    return report
