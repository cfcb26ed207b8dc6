"""`health check`: one verdict for monitoring (Nagios-style exit codes) and the Dashboard.

Each check says ok / warning / critical, the value it looked at and why; the report's status is
the worst of them, and its exit code follows the monitoring-plugin convention: 0 ok, 1 warning,
2 critical. Thresholds come from the `[thresholds]` section of the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mailconsole.clock import format_duration
from mailconsole.context import AppContext
from mailconsole.errors import StoreError
from mailconsole.services._readmodel import ReadModel
from mailconsole.services.metrics import QueueStatus, level, queue_status
from mailconsole.services.providers import credential, leader_view

Status = Literal["ok", "warning", "critical"]
RANK: dict[str, int] = {"ok": 0, "warning": 1, "critical": 2}
EXIT_CODES: dict[str, int] = RANK


@dataclass(frozen=True)
class Check(ReadModel):
    name: str
    status: Status
    value: Any
    reason: str


@dataclass(frozen=True)
class HealthReport(ReadModel):
    status: Status
    checks: list[Check]
    exit_code: int
    generated_at: datetime


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=lambda s: RANK[s], default="ok")


def _database(ctx: AppContext) -> Check:
    try:
        current, head = ctx.db.current_revision(), ctx.db.head_revision()
    except StoreError as exc:
        return Check("database", "critical", None, str(exc))
    if current != head:
        return Check(
            "database",
            "critical",
            current,
            f"schema {current or 'missing'}, this version needs {head}: run `mailconsole db upgrade`",
        )
    return Check("database", "ok", current, f"reachable, schema {head}")


def _scheduler(ctx: AppContext) -> Check:
    leader = leader_view(ctx)
    limit = ctx.config.thresholds.heartbeat_stale_s
    if leader is None:
        return Check(
            "scheduler",
            "critical",
            None,
            "no process runs the jobs (nothing dispatches): start `mailconsole worker`",
        )
    who = f"{leader.owner} on {leader.host or '?'}"
    if leader.stale:
        return Check(
            "scheduler",
            "critical",
            leader.age_s,
            f"leader {who} last beat {format_duration(leader.age_s)} ago (stale after "
            f"{format_duration(limit)}): is the worker running?",
        )
    return Check(
        "scheduler", "ok", leader.age_s, f"leader {who}, heartbeat {leader.age_s:.0f}s ago"
    )


def _thresholds(ctx: AppContext, status: QueueStatus) -> list[Check]:
    t = ctx.config.thresholds
    checks = []
    lv = level(status.queue_backlog, t.backlog_warning, t.backlog_critical)
    checks.append(
        Check(
            "backlog",
            lv,
            status.queue_backlog,
            f"{status.queue_backlog} queued or sending (warning at {t.backlog_warning}, "
            f"critical at {t.backlog_critical})",
        )
    )
    age = status.oldest_queue_age_s
    lv = level(age, t.oldest_age_warning_s, t.oldest_age_critical_s)
    checks.append(
        Check(
            "oldest_age",
            lv,
            age,
            (
                f"oldest queued message is {format_duration(age)} old (warning at "
                f"{format_duration(t.oldest_age_warning_s)}, critical at "
                f"{format_duration(t.oldest_age_critical_s)})"
                if age is not None
                else "the queue is empty"
            ),
        )
    )
    rate = status.failure_rate_24h
    lv = (
        level(rate, t.failure_rate_warning, t.failure_rate_critical)
        if status.attempts_24h
        else "ok"
    )
    checks.append(
        Check(
            "failure_rate",
            lv,
            rate,
            f"{status.failed_24h} of {status.attempts_24h} attempts failed in 24 h ({rate:.1%}; "
            f"warning at {t.failure_rate_warning:.0%}, critical at {t.failure_rate_critical:.0%})",
        )
    )
    new = status.dead_letters_new_24h
    lv = level(new, t.dead_letters_new_warning, t.dead_letters_new_critical)
    checks.append(
        Check(
            "dead_letters",
            lv,
            new,
            f"{new} new dead letter(s) in 24 h, {status.dead_letter_count} in all "
            f"(warning at {t.dead_letters_new_warning}, critical at {t.dead_letters_new_critical})",
        )
    )
    return checks


def _outages(ctx: AppContext, status: QueueStatus) -> Check:
    t = ctx.config.thresholds
    open_ = [b.open_outage for b in status.by_backend.values() if b.open_outage is not None]
    if not open_:
        return Check("outages", "ok", 0, "no open outage")
    lv = worst([level(o.duration_s, t.outage_warning_s, t.outage_critical_s) for o in open_])
    parts = [
        f"{o.backend} since {format_duration(o.duration_s)} ({o.first_error_code or 'error'})"
        for o in open_
    ]
    return Check("outages", lv, len(open_), "open outage: " + "; ".join(parts))


def _circuits(status: QueueStatus) -> Check:
    open_ = [b for b in status.by_backend.values() if b.circuit == "open"]
    if not open_:
        return Check("circuits", "ok", 0, "every circuit closed")
    parts = [f"{b.name}: {b.circuit_reason or b.circuit_kind or 'open'}" for b in open_]
    # An account circuit (revoked token, suspended account, quota) stays open until an operator
    # acts; a transient one is an outage in progress, which the outages check grades by duration.
    lv: Status = "critical" if any(b.circuit_kind != "transient" for b in open_) else "warning"
    return Check("circuits", lv, len(open_), "circuit open on " + "; ".join(parts))


def _switches(status: QueueStatus) -> Check:
    paused = [b.name for b in status.by_backend.values() if b.paused]
    if status.paused:
        return Check(
            "dispatch", "warning", "paused", "dispatch is paused: `mailconsole queue resume`"
        )
    if paused:
        return Check(
            "dispatch",
            "warning",
            paused,
            f"paused backend(s): {', '.join(paused)}: `mailconsole queue resume --backend NAME`",
        )
    return Check("dispatch", "ok", "running", "dispatch is running")


def _routes(status: QueueStatus) -> Check:
    """Queued messages whose account left the config: kept, but no dispatch claims them."""
    if not status.stranded:
        return Check("routes", "ok", 0, "every queued message routes to a configured account")
    total = sum(status.stranded.values())
    parts = ", ".join(f"{name} ({n:,})" for name, n in status.stranded.items())
    return Check(
        "routes",
        "critical",
        status.stranded,
        f"{total:,} queued message(s) will never be sent: their account is not in the config: "
        f"{parts}; add it back under [accounts] (they are kept), or purge them",
    )


def _credentials(ctx: AppContext) -> Check:
    missing, sources = [], {}
    for name, acc in ctx.config.accounts.items():
        if not acc.enabled:
            continue
        cred = credential(ctx, name)
        sources[name] = cred.source
        if cred.source == "missing":
            missing.append(f"{name} ({cred.detail})")
    if missing:
        return Check("credentials", "critical", sources, "no secret for " + "; ".join(missing))
    if not sources:
        return Check("credentials", "warning", sources, "no account is configured")
    return Check("credentials", "ok", sources, "every enabled account has its secret")


def health_check(ctx: AppContext) -> HealthReport:
    """Run every check; a database that cannot be read stops the rest (reported critical)."""
    now = ctx.clock.now()
    checks = [_database(ctx)]
    if checks[0].status == "ok":
        status = queue_status(ctx)
        checks += [
            _scheduler(ctx),
            *_thresholds(ctx, status),
            _outages(ctx, status),
            _circuits(status),
            _switches(status),
            _routes(status),
        ]
    checks.append(_credentials(ctx))
    overall = worst([c.status for c in checks])
    return HealthReport(
        status=overall, checks=checks, exit_code=EXIT_CODES[overall], generated_at=now
    )


__all__ = ["EXIT_CODES", "Check", "HealthReport", "health_check", "worst"]
