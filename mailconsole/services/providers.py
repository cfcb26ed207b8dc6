"""The configured accounts as the Providers screen and the Dashboard show them.

Provider health and quota are not fetched here: the scheduler's health job writes them into
`backend_state` every few minutes, and this module only reads them, so opening the Dashboard
never waits on a provider's API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from mailconsole.backend_api import load_backend_class
from mailconsole.context import AppContext
from mailconsole.engine.leader import current_leader
from mailconsole.errors import MailconsoleError
from mailconsole.services._readmodel import ReadModel
from mailconsole.services.metrics import (
    LeaderView,
    OutageView,
    QueueStatus,
    outages,
    queue_status,
)
from mailconsole.store.models import BackendState, JobRun


@dataclass(frozen=True)
class CredentialView(ReadModel):
    needed: bool
    source: str  # environment | keyring | missing | not needed
    env_var: str
    detail: str


@dataclass(frozen=True)
class ProviderView(ReadModel):
    name: str
    type: str
    from_addr: str | None
    enabled: bool
    role: str  # primary | fallback | "" (reachable only by an explicit --backend)
    paused: bool
    circuit: str  # closed | open
    circuit_kind: str | None  # transient | account
    circuit_reason: str | None
    circuit_opened_at: datetime | None
    open_outage: OutageView | None
    backlog: int
    failure_rate_24h: float
    health_ok: bool | None  # None: never checked
    health_detail: str | None
    health_checked_at: datetime | None
    quota_used: float | None
    quota_max: float | None
    quota_fraction: float | None
    quota_checked_at: datetime | None
    credential: CredentialView


@dataclass(frozen=True)
class JobRunView(ReadModel):
    job: str
    owner: str | None
    started_at: datetime | None
    finished_at: datetime | None
    next_run_at: datetime | None
    outcome: str | None
    summary: dict[str, Any] | None


def needs_secret(account_type: str) -> bool:
    """Whether the backend type needs a token or password (unknown types are assumed to)."""
    try:
        return bool(getattr(load_backend_class(account_type), "needs_secret", True))
    except MailconsoleError:
        return True
    except Exception:  # a broken third-party plugin: assume the safe answer
        return True


def credential(ctx: AppContext, account: str) -> CredentialView:
    """Where the account's secret comes from, never the secret itself."""
    acc = ctx.config.accounts.get(account)
    status = ctx.secrets.status(account)
    needed = needs_secret(acc.type) if acc is not None else True
    source, detail = status.source.value, status.detail
    if source == "missing" and not needed:
        source, detail = "not needed", f"a {acc.type if acc else 'this'} account needs no secret"
    return CredentialView(needed=needed, source=source, env_var=status.env_var, detail=detail)


def _role(ctx: AppContext, name: str) -> str:
    if name == ctx.config.primary_account:
        return "primary"
    primary = ctx.config.primary_account
    if primary and ctx.config.fallback_for(primary) == name:
        return "fallback"
    return ""


def providers(ctx: AppContext, *, status: QueueStatus | None = None) -> list[ProviderView]:
    """Every configured account with its switches, circuit, health, quota and credential source."""
    status = status or queue_status(ctx)
    with ctx.db.reading() as session:
        states = {s.backend: s for s in session.execute(select(BackendState)).scalars()}
    views = []
    for name, acc in ctx.config.accounts.items():
        state = states.get(name)
        per = status.by_backend.get(name)
        used = state.quota_sent if state else None
        cap = state.quota_max if state else None
        views.append(
            ProviderView(
                name=name,
                type=acc.type,
                from_addr=acc.from_addr,
                enabled=acc.enabled,
                role=_role(ctx, name),
                paused=bool(state and state.paused),
                circuit=state.circuit if state else "closed",
                circuit_kind=state.circuit_kind if state else None,
                circuit_reason=state.circuit_reason if state else None,
                circuit_opened_at=state.circuit_opened_at if state else None,
                open_outage=per.open_outage if per else None,
                backlog=per.backlog if per else 0,
                failure_rate_24h=per.failure_rate_24h if per else 0.0,
                health_ok=state.health_ok if state else None,
                health_detail=state.health_detail if state else None,
                health_checked_at=state.health_checked_at if state else None,
                quota_used=used,
                quota_max=cap,
                quota_fraction=(used / cap) if used is not None and cap else None,
                quota_checked_at=state.quota_checked_at if state else None,
                credential=credential(ctx, name),
            )
        )
    return views


def outage_history(
    ctx: AppContext, backend: str | None = None, limit: int = 50
) -> list[OutageView]:
    return outages(ctx, backend=backend, limit=limit)


def leader_view(ctx: AppContext) -> LeaderView | None:
    """The process that runs the jobs for this database, and whether its heartbeat is stale
    (its lease expired, or it has not beaten for `thresholds.heartbeat_stale_s`)."""
    lease = current_leader(ctx)
    if lease is None:
        return None
    age = max(0.0, (ctx.clock.now() - lease.heartbeat_at).total_seconds())
    return LeaderView(
        owner=lease.owner,
        host=lease.host,
        pid=lease.pid,
        heartbeat_at=lease.heartbeat_at,
        expires_at=lease.expires_at,
        age_s=round(age, 3),
        stale=lease.stale or age > ctx.config.thresholds.heartbeat_stale_s,
    )


def last_job_run(ctx: AppContext, job: str) -> JobRunView | None:
    with ctx.db.reading() as session:
        row = session.get(JobRun, job)
    if row is None:
        return None
    return JobRunView(
        job=row.job,
        owner=row.owner,
        started_at=row.started_at,
        finished_at=row.finished_at,
        next_run_at=row.next_run_at,
        outcome=row.outcome,
        summary=row.summary,
    )


__all__ = [
    "CredentialView",
    "JobRunView",
    "ProviderView",
    "credential",
    "last_job_run",
    "leader_view",
    "needs_secret",
    "outage_history",
    "providers",
]
