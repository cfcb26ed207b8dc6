"""The alert state machine, and its persistence in `alert_state` / `alert_notification`.

Per rule: `ok` → `firing` sends one notice; while firing, at most one repeat per cooldown, carrying
how many evaluations would have notified meanwhile (`suppressed_repeats`); a warning that becomes
critical notifies at once (`escalated`, and voids an acknowledgement: it got worse than what was
acknowledged); `firing` → `ok` sends one `resolved`. Silenced: no notices, state still tracked;
a rule that started firing during a silence announces itself when the silence ends if it still
fires. Acknowledged: no repeats until it resolves.

The decision and its notices are written in ONE transaction with the state change: the notices go
in as `pending` rows, claimed by this process with a lease; delivery happens after the commit and
marks each row sent or failed. So a crash after the commit loses nothing (the next evaluation
delivers the pending rows once their lease runs out) and a restart repeats nothing already decided.
Two evaluators at once (the leader's job and a cron `alerts evaluate`) serialise on the row lock
(`SELECT … FOR UPDATE` on PostgreSQL; `BEGIN IMMEDIATE` on SQLite), and the second sees the first's
state, so a transition is announced once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlmodel import Session

from mailconsole.alerts.rules import Level, Measurement, Rule, format_value, metric_summary
from mailconsole.store.db import Database
from mailconsole.store.models import AlertNotification, AlertState

OK = "ok"
FIRING = "firing"


@dataclass(frozen=True)
class Notice:
    """A notice decided for one rule (one `alert_notification` row per target)."""

    rule: str
    kind: str  # firing | repeat | escalated | resolved | test
    level: Level | None
    payload: dict[str, Any]


def is_silenced(row: AlertState, now: datetime) -> bool:
    return row.silenced_until is not None and row.silenced_until > now


def episode_announced(row: AlertState) -> bool:
    """Whether the current firing episode has been notified (its start may fall in a silence)."""
    return (
        row.last_notified_at is not None
        and row.since is not None
        and row.last_notified_at >= row.since
    )


def transition(
    row: AlertState, rule: Rule, measurement: Measurement, now: datetime
) -> tuple[str | None, int]:
    """Move `row` to its next state; returns (notice kind or None, suppressed count it carries).

    Pure apart from mutating `row`; every rule of the state machine is here.
    """
    value = measurement.value
    row.last_evaluated_at = now
    row.detail = measurement.detail or None
    if value is None:  # no data: judge nothing, keep the state
        return None, 0
    row.last_value = value
    level = rule.level_for(value)
    silenced = is_silenced(row, now)

    if row.state != FIRING:
        if level is None:
            return None, 0
        row.state, row.level, row.since, row.last_fired_at = FIRING, level, now, now
        row.suppressed_repeats = 0
        row.acked_by = row.acked_at = None
        if silenced:
            row.suppressed_repeats += 1
            return None, 0
        row.last_notified_at = now
        return "firing", 0

    if level is None:
        announced = episode_announced(row)
        carried = row.suppressed_repeats
        row.state, row.level, row.since, row.last_resolved_at = OK, None, now, now
        row.acked_by = row.acked_at = None
        row.suppressed_repeats = 0
        if silenced or not announced:
            return None, 0
        row.last_notified_at = now
        return "resolved", carried

    escalated = level == "critical" and row.level == "warning"
    row.level = level
    if silenced:
        row.suppressed_repeats += 1
        return None, 0
    if not episode_announced(row):  # began during a silence that is over now
        row.last_notified_at = now
        return _flush(row, "firing")
    if escalated:
        row.acked_by = row.acked_at = None
        row.last_notified_at = now
        return _flush(row, "escalated")
    if row.acked_by is not None:
        row.suppressed_repeats += 1
        return None, 0
    assert row.last_notified_at is not None
    if (now - row.last_notified_at).total_seconds() >= rule.cooldown_seconds:
        row.last_notified_at = now
        return _flush(row, "repeat")
    row.suppressed_repeats += 1
    return None, 0


def _flush(row: AlertState, kind: str) -> tuple[str, int]:
    carried, row.suppressed_repeats = row.suppressed_repeats, 0
    return kind, carried


SUMMARY_VERB = {
    "firing": "FIRING",
    "repeat": "STILL FIRING",
    "escalated": "ESCALATED",
    "resolved": "RESOLVED",
    "test": "TEST",
}


def build_payload(
    rule: Rule,
    *,
    kind: str,
    state: str,
    level: str | None,
    value: float | None,
    detail: str | None,
    metrics: Mapping[str, Any],
    now: datetime,
    since: datetime | None = None,
    suppressed_repeats: int = 0,
) -> dict[str, Any]:
    """What every notifier receives (JSON-safe); stored with the notice so a retry sends the same."""
    unit = rule.spec.unit
    shown = format_value(value, unit)
    verb = SUMMARY_VERB.get(kind, kind.upper())
    lvl = f" ({level})" if level and kind != "resolved" else ""
    summary = f"[{verb}{lvl}] {rule.name}: {rule.spec.label} is {shown}; rule {rule.describe()}"
    if detail:
        summary += f" — {detail}"
    if suppressed_repeats:
        plural = "s" if suppressed_repeats != 1 else ""
        summary += f" ({suppressed_repeats} repeat{plural} suppressed)"
    return {
        "id": uuid.uuid4().hex,
        "rule": rule.name,
        "metric": rule.metric,
        "backend": rule.backend,
        "kind": kind,
        "state": state,
        "level": level,
        "threshold": rule.threshold,
        "warning": rule.warning,
        "value": value,
        "value_text": shown,
        "unit": unit,
        "detail": detail,
        "since": since.isoformat() if since else None,
        "suppressed_repeats": suppressed_repeats,
        "time": now.isoformat(),
        "summary": summary.replace("\n", " "),
        "metrics_summary": metric_summary(metrics),
        "metrics": dict(metrics),
    }


# --- persistence -----------------------------------------------------------------------------------


def ensure_rows(db: Database, rules: Iterable[str]) -> None:
    """Create missing state rows without racing another evaluator (insert … on conflict nothing)."""
    names = list(rules)
    if not names:
        return
    with db.reading() as session:  # the usual case: every row exists, no write lock needed
        have = set(
            session.execute(
                select(AlertState.rule).where(AlertState.rule.in_(names))  # type: ignore[attr-defined]
            ).scalars()
        )
    names = [n for n in names if n not in have]
    if not names:
        return
    if db.is_sqlite:
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    with db.writing() as session:
        session.execute(
            insert(AlertState)
            .values([{"rule": n, "state": OK, "suppressed_repeats": 0} for n in names])
            .on_conflict_do_nothing(index_elements=["rule"])
        )


def lock_rows(session: Session, db: Database, rules: Sequence[str]) -> dict[str, AlertState]:
    stmt = select(AlertState).where(AlertState.rule.in_(rules))  # type: ignore[attr-defined]
    if not db.is_sqlite:
        stmt = stmt.with_for_update()
    return {row.rule: row for row in session.execute(stmt).scalars()}


def add_notices(
    session: Session,
    notice: Notice,
    targets: Sequence[str],
    *,
    now: datetime,
    owner: str,
    lease_s: float,
) -> list[AlertNotification]:
    """One pending row per target, claimed by `owner` (this process) for `lease_s`."""
    rows = []
    for target in targets:
        row = AlertNotification(
            rule=notice.rule,
            kind=notice.kind,
            level=notice.level,
            target=target,
            at=now,
            status="pending",
            tries=0,
            payload=notice.payload,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_s),
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def claim_orphans(db: Database, *, now: datetime, owner: str, lease_s: float) -> list[int]:
    """Claim pending notices whose lease ran out (their process crashed) for delivery here."""
    expired = or_(
        AlertNotification.lease_expires_at.is_(None),  # type: ignore[union-attr]
        AlertNotification.lease_expires_at <= now,  # type: ignore[operator]
    )
    with db.reading() as session:  # the usual case: none, and no write lock taken to learn it
        if (
            session.execute(
                select(AlertNotification.id)
                .where(AlertNotification.status == "pending", expired)
                .limit(1)
            ).first()
            is None
        ):
            return []
    with db.writing() as session:
        stmt = (
            select(AlertNotification.id)
            .where(AlertNotification.status == "pending", expired)
            .order_by(AlertNotification.id)
            .limit(500)
        )
        if not db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = [int(i) for i in session.execute(stmt).scalars()]
        if ids:
            session.execute(
                update(AlertNotification)
                .where(AlertNotification.id.in_(ids))  # type: ignore[union-attr]
                .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_s))
            )
    return ids


def mark_delivered(
    db: Database,
    notification_id: int,
    *,
    owner: str,
    status: str,
    tries: int,
    error: str | None,
    at: datetime,
) -> bool:
    """Record how a delivery ended (only if this process still holds the row)."""
    with db.writing() as session:
        result = session.execute(
            update(AlertNotification)
            .where(
                AlertNotification.id == notification_id,
                AlertNotification.lease_owner == owner,
                AlertNotification.status == "pending",
            )
            .values(
                status=status,
                tries=AlertNotification.tries + tries,
                error=error,
                sent_at=at if status == "sent" else None,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def new_owner() -> str:
    """A delivery owner token unique to this evaluation (host/pid are in the audit, not here)."""
    return f"alerts-{uuid.uuid4().hex[:16]}"
