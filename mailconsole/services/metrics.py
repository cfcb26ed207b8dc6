"""The Dashboard's figures, computed once here for the console, the CLI and the alerts.

Every figure is aggregated in SQL (COUNT/SUM … GROUP BY) over indexed columns, never by loading
rows into Python, so it stays fast at millions of messages and attempts:
- backlog and oldest age: `ix_message_status_created` / `ix_message_claim` (status = queued, sending);
- dead letters: `ix_message_updated` (status, updated_at);
- failure rates and trends: whole hours from `attempt_hourly` (attempts per hour, backend,
  outcome and error code, kept exact by triggers on `delivery_attempt`); the partial hours at the
  edges of the 24 h windows from `ix_attempt_started_outcome` (started_at, outcome, backend,
  error_code), an index-only range scan of under two hours;
- outages: `ix_outage_backend_started` and the index on `outage.ended_at`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session

from mailconsole.context import AppContext
from mailconsole.engine.switches import DISPATCH_PAUSED, FALLBACK_ENABLED, get_setting
from mailconsole.services._readmodel import ReadModel
from mailconsole.store.models import (
    BACKLOG_STATUSES,
    AttemptHourly,
    AttemptOutcome,
    BackendState,
    DeliveryAttempt,
    Message,
    MessageStatus,
    Outage,
)

DAY = timedelta(hours=24)
Level = Literal["ok", "warning", "critical"]
BACKLOG_VALUES = tuple(s.value for s in BACKLOG_STATUSES)
SENT = AttemptOutcome.SENT.value


# --- read models ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutageView(ReadModel):
    id: int
    backend: str
    kind: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float  # up to now while open
    first_error_code: str | None
    first_error: str | None
    last_error_code: str | None
    failure_count: int
    open: bool


@dataclass(frozen=True)
class BackendStatus(ReadModel):
    name: str
    backlog: int
    sent_24h: int
    failed_24h: int
    attempts_24h: int
    failure_rate_24h: float
    paused: bool
    circuit: str  # closed | open
    circuit_kind: str | None  # transient (an outage) | account (credentials, quota, suspension)
    circuit_reason: str | None
    open_outage: OutageView | None
    configured: bool  # False: only seen in the data (an account since removed from the config)


@dataclass(frozen=True)
class QueueStatus(ReadModel):
    queue_backlog: int  # queued + sending
    oldest_queue_age_s: float | None
    oldest_queued_at: datetime | None
    dead_letter_count: int
    dead_letters_new_24h: int
    failed_24h: int  # failed attempts (outcome != sent) in the last 24 h
    sent_24h: int
    attempts_24h: int
    failure_rate_24h: float  # failed / attempts, 0 when there were none
    failed_prev_24h: int
    attempts_prev_24h: int
    failure_rate_prev_24h: float  # the 24 h before the last 24 h
    next_attempt_at: datetime | None  # earliest next attempt among queued messages
    paused: bool  # global dispatch pause
    fallback_enabled: bool
    by_backend: dict[str, BackendStatus]
    generated_at: datetime
    # Queued messages no dispatch will ever claim: their account is not in the config (or they
    # name none and no primary is set), keyed by that account.
    stranded: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        # The WordPress Postmark plugin's runbooks read `failed_count`; keep it for them.
        data["failed_count"] = self.failed_24h
        return data


@dataclass(frozen=True)
class TrendBucket(ReadModel):
    start: datetime
    attempts: int
    failed: int
    rate: float
    by_error_code: dict[str, int]


@dataclass(frozen=True)
class Trend(ReadModel):
    unit: Literal["hour", "day"]
    start: datetime
    end: datetime
    buckets: list[TrendBucket]
    attempts: int
    failed: int
    rate: float
    by_error_code: dict[str, int]  # the whole window, largest first

    @property
    def rates(self) -> list[float]:
        return [b.rate for b in self.buckets]


@dataclass(frozen=True)
class QShapeRow(ReadModel):
    domain: str  # "TOTAL" for the totals row
    total: int
    counts: list[int]  # one per bucket, same order as QShape.labels


@dataclass(frozen=True)
class QShape(ReadModel):
    labels: list[str]  # "5m", "10m", … "1280m+"
    bucket_minutes: list[int]
    rows: list[QShapeRow]  # the top domains, most messages first
    totals: QShapeRow  # every domain, including the ones beyond the top
    other_domains: int  # domains not in rows
    generated_at: datetime


@dataclass(frozen=True)
class LeaderView(ReadModel):
    owner: str
    host: str | None
    pid: int | None
    heartbeat_at: datetime
    expires_at: datetime
    age_s: float
    stale: bool


@dataclass(frozen=True)
class DashboardSnapshot(ReadModel):
    status: QueueStatus
    sparkline: list[float]  # hourly failure rate, oldest first, 24 values
    trend: Trend
    last_outage: OutageView | None
    providers: list[Any]  # list[mailconsole.services.providers.ProviderView]
    leader: LeaderView | None
    last_dispatch: datetime | None
    next_dispatch: datetime | None
    last_dispatch_summary: dict[str, Any] | None
    alerts: list[Any]  # active alerts (mailconsole.alerts.service), empty when not installed
    levels: dict[str, Level] = field(default_factory=dict)  # per card
    generated_at: datetime | None = None


# --- helpers ---------------------------------------------------------------------------------


def _rate(failed: int, attempts: int) -> float:
    return round(failed / attempts, 6) if attempts else 0.0


def _count_when(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def level(value: float | None, warning: float, critical: float) -> Level:
    """ok/warning/critical for a figure against its thresholds (higher is worse)."""
    if value is None:
        return "ok"
    if value >= critical:
        return "critical"
    if value >= warning:
        return "warning"
    return "ok"


def _outage_view(row: Outage, now: datetime) -> OutageView:
    end = row.ended_at or now
    return OutageView(
        id=int(row.id or 0),
        backend=row.backend,
        kind=row.kind,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration_s=max(0.0, (end - row.started_at).total_seconds()),
        first_error_code=row.first_error_code,
        first_error=row.first_error,
        last_error_code=row.last_error_code,
        failure_count=row.failure_count,
        open=row.ended_at is None,
    )


def _open_outages(session: Session, now: datetime) -> dict[str, OutageView]:
    rows = session.exec(
        select(Outage).where(Outage.ended_at.is_(None)).order_by(Outage.started_at)  # type: ignore[union-attr]
    ).scalars()
    return {row.backend: _outage_view(row, now) for row in rows}


# --- queue status ------------------------------------------------------------------------------


HOUR = timedelta(hours=1)


def _hour_floor(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def _hour_ceil(when: datetime) -> datetime:
    floor = _hour_floor(when)
    return floor if floor == when else floor + HOUR


def _attempts_by_backend(
    session: Session, day_ago: datetime, two_days_ago: datetime
) -> dict[str, tuple[int, int, int, int]]:
    """(attempts, failed) in the last 24 h and the 24 h before, per backend with any.

    Whole hours come from `attempt_hourly` (kept exact by triggers, current hour included: the
    rollup changes in the transaction that writes the attempt); only the two windows' partial
    edge hours — `two_days_ago` up to the next whole hour, and the hour around `day_ago` — are
    counted in `delivery_attempt`, along `ix_attempt_started_outcome`. Counts never depend on
    which source answered: the sources cover disjoint time ranges.
    """
    H, A = AttemptHourly, DeliveryAttempt
    recent_from = _hour_ceil(day_ago)  # whole hours of the last 24 h: [recent_from, …)
    prev_from, prev_to = _hour_ceil(two_days_ago), _hour_floor(day_ago)  # and of the 24 h before
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    recent = case((H.hour >= recent_from, 1), else_=0).label("recent")
    for name, is_recent, n, nf in session.execute(
        select(
            H.backend,
            recent,
            func.sum(H.attempts),
            func.sum(case((H.outcome != SENT, H.attempts), else_=0)),
        )
        .where(H.hour >= prev_from, or_(H.hour >= recent_from, H.hour < prev_to))
        .group_by(H.backend, recent)
    ):
        offset = 0 if is_recent else 2
        counts[name][offset] += int(n)
        counts[name][offset + 1] += int(nf)
    edges = ((0, day_ago, recent_from), (2, two_days_ago, prev_from), (2, prev_to, day_ago))
    for offset, low, high in edges:
        if low >= high:
            continue
        for name, n, nf in session.execute(
            select(A.backend, func.count(), _count_when(A.outcome != SENT))
            .where(A.started_at >= low, A.started_at < high)
            .group_by(A.backend)
        ):
            counts[name][offset] += int(n)
            counts[name][offset + 1] += int(nf)
    return {name: (a, f, pa, pf) for name, (a, f, pa, pf) in sorted(counts.items()) if a or pa}


NO_ACCOUNT = "(no account, no routing.primary)"


def queue_status(ctx: AppContext) -> QueueStatus:
    """The queue at a glance: the figures of `queue status`, the Dashboard cards and the alerts."""
    now = ctx.clock.now()
    day_ago, two_days_ago = now - DAY, now - 2 * DAY
    primary = ctx.config.primary_account
    with ctx.db.reading() as session:
        # Counts grouped by the bare columns of ix_message_backlog, so SQLite streams the index in
        # order (no temporary B-tree over the whole backlog); the route is resolved in Python
        # below. The oldest message and the next attempt are not per route: three index seeks
        # (min along ix_message_status_created and ix_message_claim) instead of carrying two
        # min() aggregates through every backlog entry (7 instead of 12 ms at 100,000).
        backlog_rows = session.execute(
            select(Message.status, Message.backend, Message.account, func.count())
            .where(Message.status.in_(BACKLOG_VALUES))  # type: ignore[attr-defined]
            .group_by(Message.status, Message.backend, Message.account)
        ).all()
        queued, sending = MessageStatus.QUEUED.value, MessageStatus.SENDING.value
        oldest_queued, oldest_sending, next_at = session.execute(
            select(
                select(func.min(Message.created_at))
                .where(Message.status == queued)
                .scalar_subquery(),
                select(func.min(Message.created_at))
                .where(Message.status == sending)
                .scalar_subquery(),
                select(func.min(Message.next_attempt_at))
                .where(Message.status == queued)
                .scalar_subquery(),
            )
        ).one()
        # Two plain counts along ix_message_updated (status, updated_at): the second is a short
        # range; summing a CASE over every dead letter cost 4x the first count.
        dead = Message.status == MessageStatus.DEAD.value
        dead_total = session.execute(select(func.count()).where(dead)).scalar_one()
        dead_new = session.execute(
            select(func.count()).where(dead, Message.updated_at >= day_ago)
        ).scalar_one()
        attempts = _attempts_by_backend(session, day_ago, two_days_ago)
        paused = bool(get_setting(session, DISPATCH_PAUSED, False))
        fallback_setting = get_setting(session, FALLBACK_ENABLED, None)
        states = {row.backend: row for row in session.exec(select(BackendState)).scalars()}
        outages = _open_outages(session, now)

    backlog: dict[str, int] = defaultdict(int)
    stranded: dict[str, int] = defaultdict(int)
    for status, backend, account, count in backlog_rows:
        backlog[backend or account or primary or "(unrouted)"] += count
        if status == queued and account is None and primary is None:
            stranded[NO_ACCOUNT] += count
        elif status == queued and account is not None and account not in ctx.config.accounts:
            stranded[account] += count
    # A message being sent has no next attempt yet: next_at is over queued ones only.
    oldest = min((t for t in (oldest_queued, oldest_sending) if t is not None), default=None)
    names = list(ctx.config.accounts)
    for extra in (*backlog, *attempts, *states, *outages):
        if extra not in names:
            names.append(extra)
    by_backend: dict[str, BackendStatus] = {}
    for name in names:
        a, f, _, _ = attempts.get(name, (0, 0, 0, 0))
        state = states.get(name)
        by_backend[name] = BackendStatus(
            name=name,
            backlog=backlog.get(name, 0),
            sent_24h=a - f,
            failed_24h=f,
            attempts_24h=a,
            failure_rate_24h=_rate(f, a),
            paused=bool(state and state.paused),
            circuit=state.circuit if state else "closed",
            circuit_kind=state.circuit_kind if state else None,
            circuit_reason=state.circuit_reason if state else None,
            open_outage=outages.get(name),
            configured=name in ctx.config.accounts,
        )
    total_a = sum(v[0] for v in attempts.values())
    total_f = sum(v[1] for v in attempts.values())
    prev_a = sum(v[2] for v in attempts.values())
    prev_f = sum(v[3] for v in attempts.values())
    return QueueStatus(
        queue_backlog=sum(backlog.values()),
        oldest_queue_age_s=round((now - oldest).total_seconds(), 3) if oldest else None,
        oldest_queued_at=oldest,
        dead_letter_count=int(dead_total),
        dead_letters_new_24h=int(dead_new),
        failed_24h=total_f,
        sent_24h=total_a - total_f,
        attempts_24h=total_a,
        failure_rate_24h=_rate(total_f, total_a),
        failed_prev_24h=prev_f,
        attempts_prev_24h=prev_a,
        failure_rate_prev_24h=_rate(prev_f, prev_a),
        next_attempt_at=next_at,
        paused=paused,
        fallback_enabled=(
            ctx.config.routing.fallback_enabled
            if fallback_setting is None
            else bool(fallback_setting)
        ),
        by_backend=by_backend,
        generated_at=now,
        stranded=dict(sorted(stranded.items())),
    )


# --- failure trend -------------------------------------------------------------------------------


def failure_trend(
    ctx: AppContext,
    *,
    hours: int | None = None,
    days: int | None = None,
    backend: str | None = None,
) -> Trend:
    """Failed ÷ attempts per hour (`hours=24`, the default) or per day (`days=7`).

    Buckets end at the current hour (or day) boundary plus the running one, so the last bucket is
    the one in progress; one grouped query over `attempt_hourly` gives every bucket and its error
    codes (an attempt without one counts under "unknown").
    """
    if hours is not None and days is not None:
        raise ValueError("give hours or days, not both")
    now = ctx.clock.now()
    if days is not None:
        unit, width, count = "day", 86400, days
        current = now.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        unit, width, count = "hour", 3600, hours or 24
        current = now.replace(minute=0, second=0, microsecond=0)
    start = current - timedelta(seconds=width * (count - 1))
    end = current + timedelta(seconds=width)
    # Hour and day buckets are made of whole hours: every figure comes from attempt_hourly
    # (at most count × 24 hours × error codes rows), never from the attempts themselves.
    H = AttemptHourly
    conds: list[Any] = [H.backend == backend] if backend else []
    with ctx.db.reading() as session:
        hourly = session.execute(
            select(
                H.hour,
                H.error_code,
                func.sum(H.attempts),
                func.sum(case((H.outcome != SENT, H.attempts), else_=0)),
            )
            .where(*conds, H.hour >= start, H.hour < end)
            .group_by(H.hour, H.error_code)
        ).all()
    rows = [
        ((hour - start) // timedelta(seconds=width), code, n, nf) for hour, code, n, nf in hourly
    ]
    attempts = [0] * count
    failed = [0] * count
    codes: list[dict[str, int]] = [defaultdict(int) for _ in range(count)]
    for index, code, n, nf in rows:
        i = int(index)
        if not 0 <= i < count:
            continue
        attempts[i] += int(n)
        failed[i] += int(nf)
        if nf:
            codes[i][code or "unknown"] += int(nf)
    totals: dict[str, int] = defaultdict(int)
    for per in codes:
        for code, n in per.items():
            totals[code] += n
    buckets = [
        TrendBucket(
            start=start + timedelta(seconds=width * i),
            attempts=attempts[i],
            failed=failed[i],
            rate=_rate(failed[i], attempts[i]),
            by_error_code=dict(sorted(codes[i].items(), key=lambda kv: -kv[1])),
        )
        for i in range(count)
    ]
    return Trend(
        unit=unit,  # type: ignore[arg-type]
        start=start,
        end=end,
        buckets=buckets,
        attempts=sum(attempts),
        failed=sum(failed),
        rate=_rate(sum(failed), sum(attempts)),
        by_error_code=dict(sorted(totals.items(), key=lambda kv: -kv[1])),
    )


# --- outages --------------------------------------------------------------------------------------


def outages(ctx: AppContext, backend: str | None = None, limit: int = 50) -> list[OutageView]:
    """The latest outages, newest first (open ones included)."""
    now = ctx.clock.now()
    stmt = select(Outage).order_by(Outage.started_at.desc(), Outage.id.desc()).limit(limit)  # type: ignore[attr-defined,union-attr]
    if backend:
        stmt = stmt.where(Outage.backend == backend)
    with ctx.db.reading() as session:
        return [_outage_view(row, now) for row in session.exec(stmt).scalars()]


def last_outage(ctx: AppContext, backend: str | None = None) -> OutageView | None:
    """The outage that matters most: an open one (the oldest open), else the latest one."""
    now = ctx.clock.now()
    with ctx.db.reading() as session:
        stmt = select(Outage).where(Outage.ended_at.is_(None))  # type: ignore[union-attr]
        if backend:
            stmt = stmt.where(Outage.backend == backend)
        row = session.exec(stmt.order_by(Outage.started_at).limit(1)).scalars().first()
    if row is not None:
        return _outage_view(row, now)
    latest = outages(ctx, backend=backend, limit=1)
    return latest[0] if latest else None


# --- qshape -----------------------------------------------------------------------------------------

QSHAPE_MINUTES = (5, 10, 20, 40, 80, 160, 320, 640, 1280)


def qshape(
    ctx: AppContext, *, bucket_minutes: tuple[int, ...] = QSHAPE_MINUTES, top: int = 20
) -> QShape:
    """The backlog by recipient domain × age, like Postfix `qshape`.

    Bucket i holds messages aged up to `bucket_minutes[i]` (and over the previous bound); the last
    column holds everything older than the last bound.
    """
    now = ctx.clock.now()
    bounds = sorted(bucket_minutes)
    cutoffs = [now - timedelta(minutes=m) for m in bounds]
    columns = []
    for i, cutoff in enumerate(cutoffs):
        newer_than_prev = Message.created_at < cutoffs[i - 1] if i else None
        cond = Message.created_at >= cutoff
        columns.append(_count_when(and_(cond, newer_than_prev) if i else cond))
    columns.append(_count_when(Message.created_at < cutoffs[-1]))
    total = func.count().label("total")
    backlog = Message.status.in_(BACKLOG_VALUES)  # type: ignore[attr-defined]
    with ctx.db.reading() as session:
        rows = session.execute(
            select(Message.recipient_domain, total, *columns)
            .where(backlog)
            .group_by(Message.recipient_domain)
            .order_by(total.desc(), Message.recipient_domain)
            .limit(top)
        ).all()
        totals = session.execute(select(func.count(), *columns).where(backlog)).one()
        domains = session.execute(
            select(func.count(func.distinct(Message.recipient_domain))).where(backlog)
        ).scalar_one()
    labels = [f"{m}m" for m in bounds] + [f"{bounds[-1]}m+"]
    return QShape(
        labels=labels,
        bucket_minutes=list(bounds),
        rows=[
            QShapeRow(domain=r[0], total=int(r[1]), counts=[int(c) for c in r[2:]]) for r in rows
        ],
        totals=QShapeRow(domain="TOTAL", total=int(totals[0]), counts=[int(c) for c in totals[1:]]),
        other_domains=max(0, int(domains) - len(rows)),
        generated_at=now,
    )


# --- dashboard ----------------------------------------------------------------------------------


def card_levels(ctx: AppContext, status: QueueStatus, last: OutageView | None) -> dict[str, Level]:
    """The colour of each Dashboard card, from the thresholds in the config."""
    t = ctx.config.thresholds
    outage_level: Level = "ok"
    if last is not None and last.open:
        outage_level = level(last.duration_s, t.outage_warning_s, t.outage_critical_s)
    return {
        "backlog": level(status.queue_backlog, t.backlog_warning, t.backlog_critical),
        "oldest_age": level(
            status.oldest_queue_age_s, t.oldest_age_warning_s, t.oldest_age_critical_s
        ),
        "failure_rate": level(
            status.failure_rate_24h, t.failure_rate_warning, t.failure_rate_critical
        ),
        "dead_letters": level(
            status.dead_letters_new_24h, t.dead_letters_new_warning, t.dead_letters_new_critical
        ),
        "outage": outage_level,
    }


def dashboard_snapshot(ctx: AppContext) -> DashboardSnapshot:
    """Everything the Dashboard shows, collected at once into one frozen snapshot."""
    from mailconsole.services.providers import last_job_run, leader_view, providers

    status = queue_status(ctx)
    trend = failure_trend(ctx, hours=24)
    last = last_outage(ctx)
    dispatch = last_job_run(ctx, "dispatch")
    levels = card_levels(ctx, status, last)
    leader = leader_view(ctx)
    levels["leader"] = "critical" if leader is None or leader.stale else "ok"
    return DashboardSnapshot(
        status=status,
        sparkline=trend.rates,
        trend=trend,
        last_outage=last,
        providers=providers(ctx, status=status),
        leader=leader,
        last_dispatch=dispatch.finished_at if dispatch else None,
        next_dispatch=dispatch.next_run_at if dispatch else None,
        last_dispatch_summary=dispatch.summary if dispatch else None,
        alerts=_active_alerts(ctx),
        levels=levels,
        generated_at=status.generated_at,
    )


def _active_alerts(ctx: AppContext) -> list[Any]:
    """The alerts service's active alerts, once that module exists (an optional layer)."""
    try:
        from mailconsole.alerts.service import active_alerts  # type: ignore[import-not-found]
    except ImportError:
        return []
    return list(active_alerts(ctx))


__all__ = [
    "BackendStatus",
    "DashboardSnapshot",
    "LeaderView",
    "OutageView",
    "QShape",
    "QShapeRow",
    "QueueStatus",
    "Trend",
    "TrendBucket",
    "card_levels",
    "dashboard_snapshot",
    "failure_trend",
    "last_outage",
    "level",
    "outages",
    "qshape",
    "queue_status",
]
