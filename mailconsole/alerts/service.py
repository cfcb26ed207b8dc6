"""The alerts service: what the CLI, the console, the Dashboard and the scheduler call.

`evaluate` is the every-minute job (and `mailconsole alerts evaluate` for cron on any host: the
heartbeat rule is the dead man's switch of the scheduler, so it must not need the scheduler).
Its database work runs in a thread and its deliveries concurrently with timeouts, so it never
blocks the event loop that dispatches mail. Acknowledge, silence and test are operator actions:
audited through `operation()` and refused in read-only mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

from mailconsole.alerts.notifiers import DeliveryResult, deliver_all
from mailconsole.alerts.rules import (
    Measurement,
    Rule,
    Snapshot,
    find_rule,
    format_value,
    load_rules,
    measure,
    take_snapshot,
)
from mailconsole.alerts.state import (
    FIRING,
    Notice,
    add_notices,
    build_payload,
    claim_orphans,
    ensure_rows,
    is_silenced,
    lock_rows,
    new_owner,
    transition,
)
from mailconsole.context import AppContext
from mailconsole.errors import ConflictError, ValidationError
from mailconsole.services._readmodel import ReadModel
from mailconsole.services.audit import operation
from mailconsole.store.models import AlertNotification, AlertState

MAX_SILENCE = timedelta(days=90)
T = TypeVar("T")


# --- read models -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertView(ReadModel):
    """One rule and its state, as the Alerts screen, the Dashboard and `alerts list` show it."""

    rule: str
    metric: str
    backend: str | None
    description: str
    unit: str
    value: float | None  # now (live) or at the last evaluation
    value_text: str
    threshold: float
    threshold_text: str
    warning: float | None
    warning_text: str | None
    state: str  # ok | firing
    level: str | None  # warning | critical while firing
    status: str  # what to show: ok | warning | critical | acknowledged | silenced
    since: datetime | None
    last_fired: datetime | None
    last_resolved: datetime | None
    last_notified: datetime | None
    last_evaluated: datetime | None
    cooldown_s: float
    cooldown_left_s: float | None  # seconds until a repeat may go out (firing only)
    suppressed_repeats: int
    silenced_until: datetime | None
    silenced_by: str | None
    acked_by: str | None
    acked_at: datetime | None
    notify: list[str]
    enabled: bool
    detail: str | None

    @property
    def active(self) -> bool:
        return self.state == FIRING


@dataclass(frozen=True)
class NotificationView(ReadModel):
    id: int
    rule: str
    kind: str
    level: str | None
    target: str
    at: datetime
    status: str
    tries: int
    error: str | None
    sent_at: datetime | None
    summary: str


@dataclass(frozen=True)
class RuleOutcome(ReadModel):
    rule: str
    value: float | None
    state: str
    level: str | None
    notice: str | None  # the kind decided this evaluation, if any
    detail: str | None


@dataclass(frozen=True)
class EvaluationReport(ReadModel):
    evaluated_at: datetime
    rules: list[RuleOutcome]
    deliveries: list[DeliveryResult] = field(default_factory=list)
    recovered: int = 0  # pending notices of an earlier (crashed) run delivered now

    @property
    def failed(self) -> int:
        return sum(1 for d in self.deliveries if d.status != "sent")


# --- views ---------------------------------------------------------------------------------------


def _view(rule: Rule, row: AlertState | None, now: datetime, live: Measurement | None) -> AlertView:
    unit = rule.spec.unit
    state = row.state if row else "ok"
    value = live.value if live is not None else (row.last_value if row else None)
    silenced = row is not None and is_silenced(row, now)
    firing = state == FIRING
    if silenced:
        status = "silenced"
    elif firing and row is not None and row.acked_by:
        status = "acknowledged"
    elif firing:
        status = (row.level if row else None) or "critical"
    else:
        status = "ok"
    left: float | None = None
    if firing and row is not None and row.last_notified_at is not None:
        left = max(0.0, rule.cooldown_seconds - (now - row.last_notified_at).total_seconds())
    return AlertView(
        rule=rule.name,
        metric=rule.metric,
        backend=rule.backend,
        description=rule.describe(),
        unit=unit,
        value=value,
        value_text=format_value(value, unit),
        threshold=rule.threshold,
        threshold_text=format_value(rule.threshold, unit),
        warning=rule.warning,
        warning_text=format_value(rule.warning, unit) if rule.warning is not None else None,
        state=state,
        level=row.level if row and firing else None,
        status=status,
        since=row.since if row else None,
        last_fired=row.last_fired_at if row else None,
        last_resolved=row.last_resolved_at if row else None,
        last_notified=row.last_notified_at if row else None,
        last_evaluated=row.last_evaluated_at if row else None,
        cooldown_s=rule.cooldown_seconds,
        cooldown_left_s=left,
        suppressed_repeats=row.suppressed_repeats if row else 0,
        silenced_until=row.silenced_until if silenced and row else None,
        silenced_by=row.silenced_by if silenced and row else None,
        acked_by=row.acked_by if row and firing else None,
        acked_at=row.acked_at if row and firing else None,
        notify=list(rule.notify),
        enabled=rule.enabled,
        detail=(live.detail if live is not None else (row.detail if row else None)) or None,
    )


def _rows(ctx: AppContext) -> dict[str, AlertState]:
    with ctx.db.reading() as session:
        return {row.rule: row for row in session.execute(select(AlertState)).scalars()}


def _safe_measure(ctx: AppContext, rule: Rule, snap: Snapshot) -> Measurement:
    try:
        return measure(ctx, rule, snap)
    except Exception as exc:  # one broken metric must not stop the other rules
        return Measurement(None, f"cannot measure {rule.metric}: {type(exc).__name__}: {exc}")


def list_alerts(ctx: AppContext, *, live: bool = True) -> list[AlertView]:
    """Every rule with its state; `live` measures the current values (else the last evaluated)."""
    rules = load_rules(ctx.config)
    rows = _rows(ctx)
    now = ctx.clock.now()
    snap = take_snapshot(ctx) if live else None
    return [
        _view(
            rule,
            rows.get(rule.name),
            now,
            _safe_measure(ctx, rule, snap) if snap is not None and rule.enabled else None,
        )
        for rule in rules
    ]


def active_alerts(ctx: AppContext) -> list[AlertView]:
    """Firing rules (acknowledged and silenced ones included), worst first; cheap: no metrics.

    The Dashboard calls it through `services.metrics.dashboard_snapshot` (`alerts` field).
    """
    order = {"critical": 0, "warning": 1, "acknowledged": 2, "silenced": 3}
    views = [v for v in list_alerts(ctx, live=False) if v.active]
    return sorted(views, key=lambda v: (order.get(v.status, 9), v.rule))


def history(ctx: AppContext, limit: int = 50, *, rule: str | None = None) -> list[NotificationView]:
    """The latest notices, newest first."""
    stmt = select(AlertNotification).order_by(
        AlertNotification.at.desc(),  # type: ignore[attr-defined]
        AlertNotification.id.desc(),  # type: ignore[union-attr]
    )
    if rule:
        stmt = stmt.where(AlertNotification.rule == rule)
    with ctx.db.reading() as session:
        rows = list(session.execute(stmt.limit(max(1, min(limit, 10_000)))).scalars())
    return [
        NotificationView(
            id=int(r.id or 0),
            rule=r.rule,
            kind=r.kind,
            level=r.level,
            target=r.target,
            at=r.at,
            status=r.status,
            tries=r.tries,
            error=r.error,
            sent_at=r.sent_at,
            summary=str((r.payload or {}).get("summary", "")),
        )
        for r in rows
    ]


def notifier_problems(ctx: AppContext) -> dict[str, str]:
    """Notifiers that could not send now (bad options, missing secret, unknown hook), by name."""
    from mailconsole.alerts.notifiers import build_notifier
    from mailconsole.errors import MailconsoleError

    problems: dict[str, str] = {}
    for name in ctx.config.notifiers:
        try:
            build_notifier(ctx, name)
        except MailconsoleError as exc:
            problems[name] = str(exc)
    return problems


# --- evaluation ------------------------------------------------------------------------------------


def _lease_s(ctx: AppContext) -> float:
    return ctx.config.alerts.notify_total_seconds + 60.0


@dataclass
class _Decision:
    outcomes: list[RuleOutcome]
    notices: list[tuple[int, str, Mapping[str, Any]]]
    recovered: int
    owner: str
    now: datetime


def decide(ctx: AppContext) -> _Decision:
    """Measure every rule and, in one transaction, move the states and write the notices."""
    rules = [r for r in load_rules(ctx.config) if r.enabled]
    snap = take_snapshot(ctx)
    measured = {r.name: _safe_measure(ctx, r, snap) for r in rules}
    owner, lease = new_owner(), _lease_s(ctx)
    ensure_rows(ctx.db, [r.name for r in rules])
    outcomes: list[RuleOutcome] = []
    created: list[AlertNotification] = []
    with ctx.db.writing() as session:
        now = ctx.clock.now()
        rows = lock_rows(session, ctx.db, [r.name for r in rules])
        for rule in rules:
            row = rows[rule.name]
            m = measured[rule.name]
            episode_start = row.since if row.state == FIRING else None
            kind, carried = transition(row, rule, m, now)
            session.add(row)
            if kind is not None and rule.notify:
                payload = build_payload(
                    rule,
                    kind=kind,
                    state=row.state,
                    level=row.level if kind != "resolved" else None,
                    value=m.value,
                    detail=m.detail,
                    metrics=snap.metrics,
                    now=now,
                    # a resolved notice says since when it had been firing
                    since=episode_start if kind == "resolved" else row.since,
                    suppressed_repeats=carried,
                )
                notice = Notice(rule.name, kind, row.level, payload)  # type: ignore[arg-type]
                created += add_notices(
                    session, notice, rule.notify, now=now, owner=owner, lease_s=lease
                )
            outcomes.append(RuleOutcome(rule.name, m.value, row.state, row.level, kind, m.detail))
    notices = [(int(n.id or 0), n.target, n.payload or {}) for n in created]
    orphan_ids = claim_orphans(ctx.db, now=now, owner=owner, lease_s=lease)
    if orphan_ids:
        with ctx.db.reading() as session:
            for n in session.execute(
                select(AlertNotification).where(AlertNotification.id.in_(orphan_ids))  # type: ignore[union-attr]
            ).scalars():
                notices.append((int(n.id or 0), n.target, n.payload or {}))
    return _Decision(outcomes, notices, len(orphan_ids), owner, now)


async def evaluate_async(
    ctx: AppContext,
    *,
    client: httpx.AsyncClient | None = None,
    on_done: Callable[[DeliveryResult], None] | None = None,
) -> EvaluationReport:
    """The scheduler's job: decide in a thread (never block the loop), then deliver concurrently."""
    ctx.require_writable("alerts evaluate")
    decision = await asyncio.to_thread(decide, ctx)
    deliveries = await deliver_all(
        ctx, decision.notices, owner=decision.owner, client=client, on_done=on_done
    )
    return EvaluationReport(decision.now, decision.outcomes, deliveries, decision.recovered)


def evaluate(ctx: AppContext, *, client: httpx.AsyncClient | None = None) -> EvaluationReport:
    """Evaluate every rule once and deliver what it decided (`mailconsole alerts evaluate`)."""
    return _run(lambda: evaluate_async(ctx, client=client))


def _run(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code (the CLI, a console worker thread).

    Called on a thread whose loop is running (sync code inside async code), it runs on a thread
    of its own: blocking, as any sync call there is, but never "this loop is already running".
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts-sync") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


# --- operator actions --------------------------------------------------------------------------------


def _writable_row(session: Any, ctx: AppContext, rule: str) -> AlertState:
    stmt = select(AlertState).where(AlertState.rule == rule)
    if not ctx.db.is_sqlite:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).scalars().first()
    if row is None:
        row = AlertState(rule=rule, state="ok", suppressed_repeats=0)
        session.add(row)
    return row


def acknowledge(ctx: AppContext, rule: str, reason: str | None = None) -> AlertView:
    """Stop repeats of a firing rule until it resolves (or gets worse)."""
    spec = find_rule(ctx.config, rule)
    with operation(ctx, "alerts.ack", target={"rule": rule}, reason=reason) as rec:
        ensure_rows(ctx.db, [rule])
        with ctx.db.writing() as session:
            row = _writable_row(session, ctx, rule)
            if row.state != FIRING:
                raise ConflictError(
                    f"alert {rule!r} is not firing: there is nothing to acknowledge"
                )
            if row.acked_by:
                rec.count, rec.detail = 0, f"already acknowledged by {row.acked_by}"
            else:
                row.acked_by, row.acked_at = ctx.actor.name, ctx.clock.now()
                session.add(row)
                rec.count = 1
    return _view(spec, row, ctx.clock.now(), None)


def silence(
    ctx: AppContext, rule: str, duration: timedelta, reason: str | None = None
) -> AlertView:
    """No notices from `rule` until now + duration (its state is still evaluated)."""
    spec = find_rule(ctx.config, rule)
    if duration <= timedelta(0) or duration > MAX_SILENCE:
        raise ValidationError(
            "silence for between 1 s and 90 days, e.g. --for 2h (to end one early: unsilence)"
        )
    until = ctx.clock.now() + duration
    with operation(
        ctx,
        "alerts.silence",
        target={"rule": rule, "until": until.isoformat(), "seconds": duration.total_seconds()},
        reason=reason,
    ) as rec:
        ensure_rows(ctx.db, [rule])
        with ctx.db.writing() as session:
            row = _writable_row(session, ctx, rule)
            row.silenced_until, row.silenced_by = until, ctx.actor.name
            session.add(row)
        rec.count = 1
    return _view(spec, row, ctx.clock.now(), None)


def unsilence(ctx: AppContext, rule: str, reason: str | None = None) -> AlertView:
    """End a silence now."""
    spec = find_rule(ctx.config, rule)
    with operation(ctx, "alerts.unsilence", target={"rule": rule}, reason=reason) as rec:
        ensure_rows(ctx.db, [rule])
        with ctx.db.writing() as session:
            row = _writable_row(session, ctx, rule)
            rec.count = 1 if is_silenced(row, ctx.clock.now()) else 0
            row.silenced_until, row.silenced_by = None, None
            session.add(row)
    return _view(spec, row, ctx.clock.now(), None)


async def test_alert_async(
    ctx: AppContext,
    rule: str,
    *,
    target: str | None = None,
    client: httpx.AsyncClient | None = None,
) -> list[DeliveryResult]:
    """Send a `test` notice of `rule` (its live value) to its targets; the state is untouched."""
    spec = find_rule(ctx.config, rule)
    targets = [target] if target else list(spec.notify)
    if target and target not in ctx.config.notifiers:
        known = ", ".join(sorted(ctx.config.notifiers)) or "none configured"
        raise ValidationError(f"no notifier {target!r} (notifiers: {known})")
    if not targets:
        raise ValidationError(
            f"alert {rule!r} has no notifier: configure [notifiers.NAME] and "
            f"alerts.rules.{rule}.notify (or alerts.default_notify)"
        )
    with operation(ctx, "alerts.test", target={"rule": rule, "notify": targets}) as rec:

        def write() -> tuple[list[tuple[int, str, Mapping[str, Any]]], str]:
            snap = take_snapshot(ctx)
            m = _safe_measure(ctx, spec, snap)
            row = _rows(ctx).get(rule)
            now = ctx.clock.now()
            payload = build_payload(
                spec,
                kind="test",
                state=row.state if row else "ok",
                level=spec.level_for(m.value),
                value=m.value,
                detail=m.detail,
                metrics=snap.metrics,
                now=now,
                since=row.since if row else None,
            )
            owner = new_owner()
            with ctx.db.writing() as session:
                created = add_notices(
                    session,
                    Notice(rule, "test", spec.level_for(m.value), payload),
                    targets,
                    now=now,
                    owner=owner,
                    lease_s=_lease_s(ctx),
                )
            return [(int(n.id or 0), n.target, payload) for n in created], owner

        notices, owner = await asyncio.to_thread(write)
        results = await deliver_all(ctx, notices, owner=owner, client=client)
        rec.count = sum(1 for r in results if r.status == "sent")
        failed = [r for r in results if r.status != "sent"]
        if failed:
            rec.detail = "; ".join(f"{r.target}: {r.error}" for r in failed)[:500]
    return results


def test_alert(
    ctx: AppContext,
    rule: str,
    *,
    target: str | None = None,
    client: httpx.AsyncClient | None = None,
) -> list[DeliveryResult]:
    return _run(lambda: test_alert_async(ctx, rule, target=target, client=client))


test_alert.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
test_alert_async.__test__ = False  # type: ignore[attr-defined]


__all__ = [
    "AlertView",
    "EvaluationReport",
    "NotificationView",
    "RuleOutcome",
    "acknowledge",
    "active_alerts",
    "decide",
    "evaluate",
    "evaluate_async",
    "history",
    "list_alerts",
    "notifier_problems",
    "silence",
    "test_alert",
    "unsilence",
]
