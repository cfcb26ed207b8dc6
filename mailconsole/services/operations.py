"""Operator actions on the queue and the engine: process-now, pause/resume, fallback, the circuit
reset, purge, suppressions.

Every one runs inside `audit.operation()`: refused (and audited as refused) in read-only mode,
and recorded with the count that actually changed — a pause of an already paused backend is
recorded with count 0, so the trail tells what happened, not what was asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select

from mailconsole.context import AppContext
from mailconsole.engine.circuit import close_circuit
from mailconsole.engine.dispatcher import DispatchReport, run_dispatch_once
from mailconsole.engine.enqueue import normalize_address
from mailconsole.engine.switches import (
    DISPATCH_PAUSED,
    FALLBACK_ENABLED,
    backend_state,
    set_setting,
)
from mailconsole.errors import ValidationError
from mailconsole.services._readmodel import ReadModel
from mailconsole.services.audit import operation
from mailconsole.store.models import (
    DeliveryAttempt,
    DeliveryEvent,
    Message,
    MessageBody,
    MessageStatus,
    Suppression,
)

PURGE_CHUNK = 1000
# What `queue purge` removes unless told otherwise: finished messages, never the live queue.
PURGE_DEFAULT_STATUSES = tuple(
    s.value for s in MessageStatus if s not in (MessageStatus.QUEUED, MessageStatus.SENDING)
)


def _known_backend(ctx: AppContext, backend: str) -> str:
    if backend not in ctx.config.accounts:
        known = ", ".join(sorted(ctx.config.accounts)) or "none configured"
        raise ValidationError(f"unknown backend {backend!r}: configured accounts are {known}")
    return backend


# --- dispatch ------------------------------------------------------------------------------------


async def process_now(ctx: AppContext, limit: int | None = None) -> DispatchReport:
    """Run one dispatch now, through the scheduler's own path.

    The engine's dispatch lease keeps it from running beside the scheduler's dispatch (or another
    console's): it waits briefly for a running one, then raises ConflictError naming the holder.
    """
    with operation(ctx, "process_now", target={"limit": limit}) as rec:
        report = await run_dispatch_once(ctx, limit=limit)
        rec.count = report.claimed
        rec.detail = report.summary()
        return report


def reset_circuit(ctx: AppContext, backend: str, reason: str | None = None) -> bool:
    """Close a backend's circuit (after fixing its token) and end its open outage.

    True when something was open. If the cause is not fixed, the next batch opens it again.
    """
    with operation(ctx, "circuit.reset", target={"backend": backend}, reason=reason) as rec:
        _known_backend(ctx, backend)
        with ctx.db.writing() as session:
            changed = close_circuit(session, backend, ctx.clock.now())
        rec.count = int(changed)
        return changed


# --- switches ----------------------------------------------------------------------------------


def _set_pause(ctx: AppContext, paused: bool, backend: str | None, reason: str | None) -> bool:
    action = "pause" if paused else "resume"
    target: dict[str, Any] = {"backend": backend or "*"}
    with operation(ctx, action, target=target, reason=reason) as rec:
        now = ctx.clock.now()
        with ctx.db.writing() as session:
            if backend is None:
                changed = set_setting(session, DISPATCH_PAUSED, paused, now=now, by=ctx.actor.name)
            else:
                state = backend_state(session, _known_backend(ctx, backend), now)
                changed = state.paused != paused
                state.paused, state.updated_at = paused, now
                session.add(state)
        rec.count = int(changed)
        return changed


def pause(ctx: AppContext, backend: str | None = None, reason: str | None = None) -> bool:
    """Stop dispatching (everything, or one backend); True when it was not paused already."""
    return _set_pause(ctx, True, backend, reason)


def resume(ctx: AppContext, backend: str | None = None, reason: str | None = None) -> bool:
    """Dispatch again; True when it was paused."""
    return _set_pause(ctx, False, backend, reason)


def set_fallback(ctx: AppContext, enabled: bool, reason: str | None = None) -> bool:
    """Let routing use the fallback account while the primary is in an outage."""
    action = "fallback.enable" if enabled else "fallback.disable"
    with operation(ctx, action, target={"enabled": enabled}, reason=reason) as rec:
        if enabled and not any(ctx.config.fallback_for(n) for n in ctx.config.accounts):
            raise ValidationError(
                "no fallback account is configured: set routing.fallback (or an account's "
                "`fallback`) in the config file first"
            )
        with ctx.db.writing() as session:
            changed = set_setting(
                session, FALLBACK_ENABLED, enabled, now=ctx.clock.now(), by=ctx.actor.name
            )
        rec.count = int(changed)
        return changed


# --- purge ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgePlan(ReadModel):
    count: int
    statuses: tuple[str, ...]
    cutoff: datetime | None  # created before this; None with `all`
    older_than_s: float | None
    all: bool
    max_id: int | None  # the purge never touches a message created after the plan
    planned_at: datetime


def _purge_conditions(statuses: Sequence[str], cutoff: datetime | None) -> list[Any]:
    conds: list[Any] = [Message.status.in_(tuple(statuses))]  # type: ignore[attr-defined]
    if cutoff is not None:
        conds.append(Message.created_at < cutoff)  # type: ignore[operator]
    return conds


def purge_plan(
    ctx: AppContext,
    *,
    older_than_s: float | None = None,
    all: bool = False,
    statuses: Sequence[str] | None = None,
) -> PurgePlan:
    """Count what a purge would delete. It needs an age, or an explicit `all`."""
    if older_than_s is None and not all:
        raise ValidationError(
            "purge needs --older-than=SECONDS (or --all to purge regardless of age)"
        )
    if older_than_s is not None and older_than_s < 0:
        raise ValidationError("--older-than must be zero or more seconds")
    chosen = tuple(statuses) if statuses else PURGE_DEFAULT_STATUSES
    valid = {s.value for s in MessageStatus}
    for status in chosen:
        if status not in valid:
            raise ValidationError(f"unknown status {status!r}: use {', '.join(sorted(valid))}")
    if MessageStatus.SENDING.value in chosen:
        raise ValidationError(
            "messages in `sending` are held by a worker right now and cannot be purged"
        )
    now = ctx.clock.now()
    cutoff = None if older_than_s is None else now - timedelta(seconds=older_than_s)
    with ctx.db.reading() as session:
        count, max_id = session.execute(
            select(func.count(), func.max(Message.id)).where(*_purge_conditions(chosen, cutoff))
        ).one()
    return PurgePlan(
        count=int(count),
        statuses=chosen,
        cutoff=cutoff,
        older_than_s=older_than_s,
        all=older_than_s is None,
        max_id=int(max_id) if max_id is not None else None,
        planned_at=now,
    )


def purge(
    ctx: AppContext,
    plan: PurgePlan,
    reason: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Delete the planned messages with their bodies, attempts and events; returns the count."""
    target = {
        "statuses": list(plan.statuses),
        "cutoff": plan.cutoff.isoformat() if plan.cutoff else None,
        "older_than_s": plan.older_than_s,
        "all": plan.all,
        "planned": plan.count,
    }
    with operation(ctx, "purge", target=target, reason=reason) as rec:
        rec.count = 0
        if plan.max_id is None:
            return 0
        conds = [
            *_purge_conditions(plan.statuses, plan.cutoff),
            Message.id <= plan.max_id,  # type: ignore[operator]
            Message.updated_at <= plan.planned_at,  # type: ignore[operator]
        ]
        while True:
            with ctx.db.writing() as session:
                ids = list(
                    session.execute(
                        select(Message.id).where(*conds).order_by(Message.id).limit(PURGE_CHUNK)
                    ).scalars()
                )
                if not ids:
                    break
                for table, column in (
                    (MessageBody, MessageBody.message_id),
                    (DeliveryAttempt, DeliveryAttempt.message_id),
                    (DeliveryEvent, DeliveryEvent.message_id),
                ):
                    session.execute(delete(table).where(column.in_(ids)))  # type: ignore[attr-defined]
                result = session.execute(delete(Message).where(Message.id.in_(ids)))  # type: ignore[union-attr]
                rec.count += int(result.rowcount or 0)  # type: ignore[attr-defined]
            if progress is not None:
                progress(rec.count, plan.count)
        return rec.count


# --- suppressions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuppressionView(ReadModel):
    address: str
    reason: str
    source: str | None
    detail: str | None
    message_id: int | None
    created_at: datetime


def _address(raw: str, *, strict: bool = True) -> str:
    """The stored form (lower case). Lenient for removal: a row the provider wrote may hold an
    address our validator would refuse, and the operator must still be able to remove it."""
    try:
        return normalize_address(raw).lower()
    except ValidationError:
        if strict or not raw.strip():
            raise
        return raw.strip().lower()


def suppress(ctx: AppContext, address: str, reason: str | None = None) -> bool:
    """Never send to this address again; True when it was not suppressed already."""
    with operation(ctx, "suppress", target={"address": address}, reason=reason) as rec:
        addr = _address(address)
        rec.target = {"address": addr}
        with ctx.db.writing() as session:
            if session.get(Suppression, addr) is not None:
                rec.count = 0
                return False
            session.add(
                Suppression(
                    address=addr,
                    reason="operator",
                    source="operator",
                    detail=reason,
                    created_at=ctx.clock.now(),
                )
            )
        rec.count = 1
        return True


def unsuppress(ctx: AppContext, address: str, reason: str | None = None) -> bool:
    """Allow sending to this address again; True when it was suppressed."""
    with operation(ctx, "unsuppress", target={"address": address}, reason=reason) as rec:
        addr = _address(address, strict=False)
        rec.target = {"address": addr}
        with ctx.db.writing() as session:
            result = session.execute(delete(Suppression).where(Suppression.address == addr))
        rec.count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        return rec.count > 0


def list_suppressions(
    ctx: AppContext, search: str | None = None, limit: int = 500
) -> list[SuppressionView]:
    stmt = select(Suppression).order_by(Suppression.created_at.desc()).limit(limit)  # type: ignore[attr-defined]
    if search:
        pattern = f"%{search.lower()}%"
        stmt = stmt.where(
            or_(Suppression.address.like(pattern), Suppression.reason.like(pattern))  # type: ignore[attr-defined]
        )
    with ctx.db.reading() as session:
        return [
            SuppressionView(
                address=s.address,
                reason=s.reason,
                source=s.source,
                detail=s.detail,
                message_id=s.message_id,
                created_at=s.created_at,
            )
            for s in session.execute(stmt).scalars()
        ]


__all__ = [
    "PURGE_DEFAULT_STATUSES",
    "PurgePlan",
    "SuppressionView",
    "list_suppressions",
    "pause",
    "process_now",
    "purge",
    "purge_plan",
    "reset_circuit",
    "resume",
    "set_fallback",
    "suppress",
    "unsuppress",
]
