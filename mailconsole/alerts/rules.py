"""Alert rules: what each one watches, and how a metric becomes the value compared to a threshold.

Every figure the rules share with the Dashboard comes from `services.metrics.queue_status`, so an
alert and the card an operator opens never disagree. The rest are read here, cheaply:
dead letters in a custom window, provider quota (written by the engine's health job into
`backend_state`) and the scheduler heartbeat. The heartbeat rule is a dead man's switch: it reads
the leader lease even when it has expired (and the last job run when a leader left), so any
process — a viewer, `mailconsole alerts evaluate` from cron — sees a leader that has stopped.

All metrics are "higher is worse": a rule fires at or above its threshold (level critical), or at
or above its warning (level warning).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select

from mailconsole.clock import ensure_utc, format_duration
from mailconsole.config import AlertRuleConfig, Config
from mailconsole.context import AppContext
from mailconsole.errors import ConfigError, NotFoundError
from mailconsole.store.models import BackendState, JobRun, Message, MessageStatus

Unit = Literal["fraction", "count", "seconds"]
Level = Literal["warning", "critical"]

DEFAULT_DEAD_LETTER_WINDOW_S = 3600.0


@dataclass(frozen=True)
class MetricSpec:
    """What a metric measures, in which unit, and what it can be narrowed to."""

    name: str
    unit: Unit
    label: str
    per_backend: bool = False


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("failure_rate_24h", "fraction", "failure rate (24 h)", per_backend=True),
        MetricSpec("queue_backlog", "count", "queue backlog", per_backend=True),
        MetricSpec("oldest_queue_age_s", "seconds", "oldest queued age"),
        MetricSpec("dead_letters_new", "count", "new dead letters", per_backend=True),
        MetricSpec("outage_open_s", "seconds", "outage open for", per_backend=True),
        MetricSpec("quota_used", "fraction", "provider quota used", per_backend=True),
        MetricSpec("scheduler_heartbeat_age_s", "seconds", "scheduler heartbeat age"),
    )
}


@dataclass(frozen=True)
class Rule:
    """One configured (or default) rule, with its notify targets resolved."""

    name: str
    metric: str
    threshold: float
    warning: float | None = None
    window_seconds: float | None = None
    backend: str | None = None
    cooldown_seconds: float = 3600.0
    notify: tuple[str, ...] = ()
    enabled: bool = True

    @property
    def spec(self) -> MetricSpec:
        return METRICS[self.metric]

    def level_for(self, value: float | None) -> Level | None:
        """critical at or above the threshold, warning at or above the warning, else None (ok)."""
        if value is None:
            return None
        if value >= self.threshold:
            return "critical"
        if self.warning is not None and value >= self.warning:
            return "warning"
        return None

    def describe(self) -> str:
        """The rule in words, e.g. `failure rate (24 h) ≥ 10 % (warning 5 %)`."""
        text = f"{self.spec.label}"
        if self.metric == "dead_letters_new":
            text += f" in {format_duration(self.window_seconds or DEFAULT_DEAD_LETTER_WINDOW_S)}"
        if self.backend:
            text += f" on {self.backend}"
        text += f" ≥ {format_value(self.threshold, self.spec.unit)}"
        if self.warning is not None:
            text += f" (warning {format_value(self.warning, self.spec.unit)})"
        return text


def default_rule_configs(config: Config) -> dict[str, AlertRuleConfig]:
    """The rules used when none are configured: what every mail platform wants watched."""
    return {
        "failure_rate": AlertRuleConfig(metric="failure_rate_24h", threshold=0.10, warning=0.05),
        "queue_backlog": AlertRuleConfig(metric="queue_backlog", threshold=100),
        "scheduler_heartbeat": AlertRuleConfig(metric="scheduler_heartbeat_age_s", threshold=300),
        "outage_open": AlertRuleConfig(metric="outage_open_s", threshold=600),
    }


def load_rules(config: Config) -> list[Rule]:
    """The rules in config order (the defaults when none are configured)."""
    alerts = config.alerts
    configured = alerts.rules or default_rule_configs(config)
    fallback_targets = tuple(alerts.default_notify) or tuple(config.notifiers)
    rules = []
    for name, rc in configured.items():
        rules.append(
            Rule(
                name=name,
                metric=rc.metric,
                threshold=rc.threshold,
                warning=rc.warning,
                window_seconds=rc.window_seconds,
                backend=rc.backend,
                cooldown_seconds=(
                    rc.cooldown_seconds
                    if rc.cooldown_seconds is not None
                    else alerts.cooldown_seconds
                ),
                notify=tuple(rc.notify) or fallback_targets,
                enabled=rc.enabled,
            )
        )
    return rules


def find_rule(config: Config, name: str) -> Rule:
    rules = load_rules(config)
    for rule in rules:
        if rule.name == name:
            return rule
    known = ", ".join(r.name for r in rules) or "none"
    raise NotFoundError(
        f"no alert rule {name!r}: the rules are {known} (`mailconsole alerts list`)"
    )


# --- measuring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """A rule's value now; `value` is None when the metric has no data (nothing to judge)."""

    value: float | None
    detail: str = ""


@dataclass
class Snapshot:
    """The figures of one evaluation, read once and shared by every rule."""

    now: datetime
    status: Any  # services.metrics.QueueStatus
    metrics: dict[str, Any]  # status.to_dict(): the payload's "metrics"
    extra: dict[str, Any] = field(default_factory=dict)  # cached per-rule queries


def take_snapshot(ctx: AppContext) -> Snapshot:
    from mailconsole.services.metrics import queue_status

    status = queue_status(ctx)
    return Snapshot(now=status.generated_at, status=status, metrics=status.to_dict())


def measure(ctx: AppContext, rule: Rule, snap: Snapshot) -> Measurement:
    """The value of `rule`'s metric in `snap` (and a few figures read on demand)."""
    status = snap.status
    backend = rule.backend
    per = status.by_backend.get(backend) if backend else None
    if rule.metric == "failure_rate_24h":
        if backend:
            if per is None or not per.attempts_24h:
                return Measurement(0.0, f"no attempts on {backend} in 24 h")
            return Measurement(
                per.failure_rate_24h,
                f"{per.failed_24h} of {per.attempts_24h} attempts on {backend} failed in 24 h",
            )
        return Measurement(
            status.failure_rate_24h,
            f"{status.failed_24h} of {status.attempts_24h} attempts failed in 24 h",
        )
    if rule.metric == "queue_backlog":
        if backend:
            value = per.backlog if per is not None else 0
        else:
            value = status.queue_backlog
        return Measurement(float(value), f"{value} queued or sending")
    if rule.metric == "oldest_queue_age_s":
        age = status.oldest_queue_age_s
        return Measurement(float(age or 0.0), "queue empty" if age is None else "")
    if rule.metric == "dead_letters_new":
        window = rule.window_seconds or DEFAULT_DEAD_LETTER_WINDOW_S
        if window == 86400 and not backend:
            count = int(status.dead_letters_new_24h)
        else:
            count = _dead_letters_since(ctx, snap.now - timedelta(seconds=window), backend)
        return Measurement(float(count), f"{count} dead in the last {format_duration(window)}")
    if rule.metric == "outage_open_s":
        return _outage(status, backend)
    if rule.metric == "quota_used":
        return _quota(ctx, snap, backend)
    if rule.metric == "scheduler_heartbeat_age_s":
        return _heartbeat(ctx, snap)
    raise ConfigError(f"unknown alert metric {rule.metric!r}")  # pragma: no cover - validated


def _dead_letters_since(ctx: AppContext, cutoff: datetime, backend: str | None) -> int:
    stmt = select(func.count()).where(
        Message.status == MessageStatus.DEAD.value, Message.updated_at >= cutoff
    )
    if backend:
        stmt = stmt.where(Message.backend == backend)
    with ctx.db.reading() as session:
        return int(session.execute(stmt).scalar_one())


def _outage(status: Any, backend: str | None) -> Measurement:
    longest, where = 0.0, None
    for name, per in status.by_backend.items():
        if backend and name != backend:
            continue
        outage = per.open_outage
        if outage is not None and outage.duration_s >= longest:
            longest, where = float(outage.duration_s), outage
    if where is None:
        return Measurement(0.0, "no open outage")
    code = f", first error {where.first_error_code}" if where.first_error_code else ""
    return Measurement(longest, f"{where.backend} in outage for {format_duration(longest)}{code}")


def _quota(ctx: AppContext, snap: Snapshot, backend: str | None) -> Measurement:
    """The highest used fraction among accounts that report a quota (None when none does)."""
    if "quota" not in snap.extra:
        with ctx.db.reading() as session:
            rows = list(session.exec(select(BackendState)).scalars())  # type: ignore[call-overload]
        snap.extra["quota"] = [
            (
                row.backend,
                getattr(row, "quota_sent", None),
                getattr(row, "quota_max", None),
                getattr(row, "quota_checked_at", None),
            )
            for row in rows
        ]
    best: tuple[float, str, float, float] | None = None
    for name, sent, maximum, _checked in snap.extra["quota"]:
        if backend and name != backend:
            continue
        if sent is None or not maximum or maximum <= 0:
            continue
        fraction = float(sent) / float(maximum)
        if best is None or fraction > best[0]:
            best = (fraction, name, float(sent), float(maximum))
    if best is None:
        return Measurement(None, "no account reports a quota")
    fraction, name, sent, maximum = best
    return Measurement(fraction, f"{name} used {sent:,.0f} of {maximum:,.0f} in 24 h")


def _heartbeat(ctx: AppContext, snap: Snapshot) -> Measurement:
    """Seconds since a leader last showed life: its lease heartbeat, else its last job run.

    A leader that stops gracefully deletes its lease row, so without one the age runs from the
    last scheduled job that ran (`job_run`); a database where neither exists never had a
    scheduler, and there is nothing to judge yet.
    """
    from mailconsole.engine.leader import current_leader

    leader = current_leader(ctx)
    if leader is not None:
        age = max(0.0, (snap.now - leader.heartbeat_at).total_seconds())
        return Measurement(age, f"last heartbeat from {leader.owner} {format_duration(age)} ago")
    with ctx.db.reading() as session:
        last = session.execute(
            select(func.max(func.coalesce(JobRun.finished_at, JobRun.started_at)))
        ).scalar_one_or_none()
    if last is None:
        return Measurement(None, "no scheduler has run on this database yet")
    if isinstance(last, str):  # SQLite hands back text from an aggregate over the column
        last = datetime.fromisoformat(last)
    last = ensure_utc(last)
    age = max(0.0, (snap.now - last).total_seconds())
    return Measurement(age, f"no leader; the last job ran {format_duration(age)} ago")


# --- formatting ------------------------------------------------------------------------------------


def format_value(value: float | None, unit: Unit) -> str:
    """A value as people read it: `12.5 %`, `1,204`, `15m`."""
    if value is None:
        return "—"
    if unit == "fraction":
        pct = value * 100
        return f"{pct:.1f} %" if pct % 1 else f"{pct:.0f} %"
    if unit == "seconds":
        return format_duration(value)
    return f"{value:,.0f}"


def metric_summary(metrics: Mapping[str, Any]) -> str:
    """The queue at a glance in one line, for notices (the same figures as `queue status`)."""
    rate = metrics.get("failure_rate_24h") or 0.0
    age = metrics.get("oldest_queue_age_s")
    return (
        f"backlog {metrics.get('queue_backlog', 0):,} · oldest {format_duration(age)} · "
        f"failure rate 24 h {format_value(rate, 'fraction')} · "
        f"dead letters new 24 h {metrics.get('dead_letters_new_24h', 0):,}"
    )
