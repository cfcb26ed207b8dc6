"""The audit trail: every operator action, who did it, to what, how many, and how it ended.

Use `operation()` around every mutating service call: it enforces read-only mode (in the service
layer, so no interface can forget), and writes exactly one append-only row whatever happens —
`ok` with the count that actually changed, `refused` in read-only mode, `failed` with the error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from mailconsole.context import AppContext
from mailconsole.errors import MailconsoleError, ReadOnlyError
from mailconsole.store.models import AuditEvent

log = logging.getLogger(__name__)


@dataclass
class AuditRecord:
    """Filled in by the operation while it runs; written when it ends."""

    action: str
    target: dict[str, Any] | None = None
    reason: str | None = None
    count: int | None = None
    outcome: str = "ok"
    detail: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _row(ctx: AppContext, rec: AuditRecord) -> AuditEvent:
    target = dict(rec.target or {})
    if rec.extra:
        target.update(rec.extra)
    return AuditEvent(
        at=ctx.clock.now(),
        actor=ctx.actor.name,
        ssh_client=ctx.actor.ssh_client,
        interface=ctx.actor.interface,
        action=rec.action,
        target=target or None,
        count=rec.count,
        reason=rec.reason,
        outcome=rec.outcome,
        detail=rec.detail,
    )


def record(ctx: AppContext, rec: AuditRecord, session: Session | None = None) -> None:
    """Write one audit row (in `session` if given, so it commits with the change itself)."""
    if session is not None:
        session.add(_row(ctx, rec))
        return
    with ctx.db.writing() as s:
        s.add(_row(ctx, rec))


@contextmanager
def operation(
    ctx: AppContext,
    action: str,
    *,
    target: dict[str, Any] | None = None,
    reason: str | None = None,
) -> Iterator[AuditRecord]:
    """Guard and audit one mutating operation.

    The body sets `rec.count` (what actually changed) and may set `rec.detail` or
    `rec.outcome = "dry-run"`. Read-only mode raises ReadOnlyError before the body runs.
    """
    rec = AuditRecord(action=action, target=target, reason=reason)
    try:
        ctx.require_writable(action)
    except ReadOnlyError as exc:
        rec.outcome, rec.detail = "refused", str(exc)
        _best_effort(ctx, rec)
        raise
    try:
        yield rec
    except MailconsoleError as exc:
        rec.outcome, rec.detail = "failed", str(exc)
        _best_effort(ctx, rec)
        raise
    except Exception as exc:
        rec.outcome, rec.detail = "failed", f"{type(exc).__name__}: {exc}"
        _best_effort(ctx, rec)
        raise
    record(ctx, rec)


def _best_effort(ctx: AppContext, rec: AuditRecord) -> None:
    """Record a refusal or failure; a database that refuses writes must not hide the cause."""
    try:
        record(ctx, rec)
    except Exception:  # pragma: no cover - logged, the original error is what matters
        log.warning("could not write audit row for %s", rec.action, exc_info=True)


# --- reading the trail -----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditView:
    """One audit row as the Audit log screen and `mailconsole audit` show it."""

    id: int
    at: datetime
    actor: str
    ssh_client: str | None
    interface: str
    action: str
    target: dict[str, Any] | None
    count: int | None
    reason: str | None
    outcome: str
    detail: str | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


def audit_log(
    ctx: AppContext,
    since: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 500,
    *,
    until: datetime | None = None,
    outcome: str | None = None,
) -> list[AuditView]:
    """The newest audit rows first; `action` matches a prefix (`campaign.` finds every one)."""
    stmt = select(AuditEvent)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)  # type: ignore[arg-type,operator]
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)  # type: ignore[arg-type,operator]
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))  # type: ignore[attr-defined]
    if outcome:
        stmt = stmt.where(AuditEvent.outcome == outcome)
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)  # type: ignore[attr-defined,union-attr]
    with ctx.db.reading() as session:
        rows = session.execute(stmt).scalars().all()
    return [
        AuditView(
            id=int(r.id or 0),
            at=r.at,
            actor=r.actor,
            ssh_client=r.ssh_client,
            interface=r.interface,
            action=r.action,
            target=r.target,
            count=r.count,
            reason=r.reason,
            outcome=r.outcome,
            detail=r.detail,
        )
        for r in rows
    ]
