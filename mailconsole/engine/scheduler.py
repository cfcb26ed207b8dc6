"""The in-process scheduler: APScheduler 3's AsyncIOScheduler running the engine's jobs.

It runs in the console's event loop or headless in `mailconsole worker`. Only one process per
database leads (the `leader` lease, renewed by the heartbeat job every third of
`dispatch.leader_lease_seconds`); the other processes' jobs return at once, and they show who
leads. Built-in jobs: dispatch (every `dispatch.interval_seconds`, and again at once while a run
stopped at its claim limit, so a backlog drains quickly), expired-lease recovery, and provider
health/quota. Other parts add theirs without touching this module: `register_job(name, func,
seconds)` from a module named `jobs` in any `mailconsole` subpackage (e.g.
`mailconsole/alerts/jobs.py`), which `load_job_modules()` imports at start; or pass `jobs=[…]`.

Job defaults are explicit (APScheduler's own are a 1 s misfire grace): `coalesce=True`,
`max_instances=1` (a job never overlaps itself), and a misfire grace at least the job's interval.
Each leader's job run is written to `job_run` (start, end, next run, outcome, summary) for the
Dashboard's "last and next dispatch".

`shutdown()` is graceful: no new claims, in-flight sends finish and are recorded, messages still
held are released to the queue, the leader lease is given up so a successor takes over at once.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import logging
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from mailconsole.clock import ensure_utc
from mailconsole.context import AppContext
from mailconsole.engine import claim, leader
from mailconsole.engine.backends import BackendRegistry
from mailconsole.engine.dispatcher import DispatchReport, run_dispatch_once
from mailconsole.engine.leader import LEADER, LeaseInfo, make_owner_id
from mailconsole.engine.provider_health import refresh_provider_health
from mailconsole.errors import ConflictError
from mailconsole.store.models import JobRun

log = logging.getLogger(__name__)

JobFunc = Callable[[AppContext], Any]  # sync (run in a thread) or async; may return a summary dict
LeadershipCallback = Callable[[str, LeaseInfo | None], None]  # ("leading"|"waiting"|"lost", holder)

DISPATCH_JOB = "dispatch"
RECOVER_JOB = "recover_leases"
HEALTH_JOB = "provider_health"
HEARTBEAT_JOB = "leader_heartbeat"
MAX_DRAIN_RUNS = 1000  # dispatch runs per job before yielding to the next tick


@dataclass(frozen=True)
class JobSpec:
    """A scheduled job: `func(ctx)` every `seconds`, on the leader only unless told otherwise."""

    name: str
    func: JobFunc
    seconds: float
    leader_only: bool = True


_REGISTERED: dict[str, JobSpec] = {}


def register_job(name: str, func: JobFunc, seconds: float, *, leader_only: bool = True) -> None:
    """Add a job to every EngineScheduler started afterwards (replaces one of the same name)."""
    if seconds <= 0:
        raise ValueError(f"job {name!r}: seconds must be positive")
    _REGISTERED[name] = JobSpec(name=name, func=func, seconds=seconds, leader_only=leader_only)


def unregister_job(name: str) -> None:
    _REGISTERED.pop(name, None)


def registered_jobs() -> list[JobSpec]:
    return list(_REGISTERED.values())


def load_job_modules() -> list[str]:
    """Import `mailconsole.<package>.jobs` for every subpackage that has one (they register jobs)."""
    import mailconsole

    loaded = []
    for info in pkgutil.iter_modules(mailconsole.__path__):
        if not info.ispkg:
            continue
        name = f"mailconsole.{info.name}.jobs"
        try:
            if importlib.util.find_spec(name) is None:
                continue
            importlib.import_module(name)
            loaded.append(name)
        except Exception:
            log.exception("could not load scheduled jobs from %s", name)
    return loaded


class _QuietOverlap(logging.Filter):
    """Drop APScheduler's warning for a tick skipped while the job still runs.

    With `max_instances=1` that is the design (a long drain spans many dispatch ticks), not a
    problem; the listener below notes it at debug level.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


_overlap_filter = _QuietOverlap()
logging.getLogger("apscheduler.scheduler").addFilter(_overlap_filter)


def _utc(value: datetime | None) -> datetime | None:
    return ensure_utc(value) if value is not None else None


class EngineScheduler:
    """The engine's jobs on an AsyncIOScheduler, led by one process per database."""

    def __init__(
        self,
        ctx: AppContext,
        registry: BackendRegistry | None = None,
        *,
        owner: str | None = None,
        jobs: Sequence[JobSpec] | None = None,
        include_registered: bool = True,
        on_leadership: LeadershipCallback | None = None,
    ) -> None:
        self.ctx = ctx
        self.owner = owner or make_owner_id()
        self.registry = registry or BackendRegistry(ctx)
        self._own_registry = registry is None
        self.on_leadership = on_leadership
        self.is_leader = False
        self.leader: LeaseInfo | None = None
        self.last_dispatch: DispatchReport | None = None
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False
        self._last_waiting_owner: str | None = None
        self._notified_viewer = False
        d = ctx.config.dispatch
        self.lease_ttl = d.leader_lease_seconds
        builtin = [
            JobSpec(DISPATCH_JOB, self._dispatch_job, d.interval_seconds),
            JobSpec(RECOVER_JOB, self._recover_job, d.recover_interval_seconds),
            JobSpec(HEALTH_JOB, self._health_job, d.health_interval_seconds),
        ]
        extra = list(jobs or [])
        if include_registered:
            load_job_modules()
            extra += registered_jobs()
        self.jobs: dict[str, JobSpec] = {j.name: j for j in [*builtin, *extra]}
        grace = max([self.lease_ttl / 3, *(j.seconds for j in self.jobs.values())])
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(max(30, grace)),
            },
        )
        self._scheduler.add_listener(
            self._on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )

    # --- life cycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._scheduler.running

    def start(self) -> None:
        """Schedule the jobs; call inside the running event loop. The heartbeat runs at once."""
        asyncio.get_running_loop()  # fail early, with a clear error, outside a loop
        now = datetime.now(UTC)
        self._scheduler.add_job(
            self._heartbeat_job,
            "interval",
            seconds=self.lease_ttl / 3,
            id=HEARTBEAT_JOB,
            name=HEARTBEAT_JOB,
            next_run_time=now,
            misfire_grace_time=int(max(30, self.lease_ttl)),
        )
        for spec in self.jobs.values():
            self._scheduler.add_job(
                self._run_job,
                "interval",
                seconds=spec.seconds,
                args=[spec.name],
                id=spec.name,
                name=spec.name,
                misfire_grace_time=int(max(30, spec.seconds)),
            )
        self._scheduler.start()
        log.info("scheduler started as %s with jobs: %s", self.owner, ", ".join(self.jobs))

    async def shutdown(self, timeout: float = 120.0) -> None:
        """Stop gracefully: finish in-flight sends, release held messages and the leader lease."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._scheduler.running:
            self._scheduler.pause()  # no new runs; shutdown() would cancel the running ones
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            log.info("waiting for %d running job(s) to finish", len(pending))
            _done, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        try:
            released = await asyncio.to_thread(claim.release, self.ctx, self.owner)
            if released:
                log.info("released %d claimed but unsent message(s) to the queue", released)
        except Exception:
            log.warning("releasing held messages failed (their leases expire)", exc_info=True)
        if self.is_leader:
            try:
                await asyncio.to_thread(leader.release, self.ctx, LEADER, self.owner)
            except Exception:
                log.warning("releasing the leader lease failed (it expires)", exc_info=True)
            self.is_leader = False
        if self._own_registry:
            await self.registry.aclose()
        log.info("scheduler stopped")

    # --- leadership ---------------------------------------------------------------------------

    async def heartbeat(self) -> bool:
        """Acquire or renew the leader lease; returns whether this process leads now."""
        if self._stop.is_set():
            return self.is_leader
        if self.ctx.is_read_only:
            # A read-only console never leads: it only shows who does.
            holder = await asyncio.to_thread(leader.current_leader, self.ctx)
            self.leader = holder
            owner = holder.owner if holder else None
            if owner != self._last_waiting_owner or not self._notified_viewer:
                self._notified_viewer = True
                self._last_waiting_owner = owner
                self._notify("waiting", holder)
            return False
        try:
            result = await asyncio.to_thread(
                leader.try_acquire, self.ctx, LEADER, self.owner, self.lease_ttl
            )
        except Exception:
            log.warning("leader heartbeat failed", exc_info=True)
            return self.is_leader
        was = self.is_leader
        self.is_leader = result.acquired
        self.leader = result.holder
        if self.is_leader and not was:
            self._last_waiting_owner = None
            log.info("leading: %s", self.owner)
            self._notify("leading", result.holder)
            await self._became_leader()
        elif was and not self.is_leader:
            log.warning("leadership lost to %s", result.holder.owner if result.holder else "?")
            self._notify("lost", result.holder)
        elif not self.is_leader:
            holder_owner = result.holder.owner if result.holder else None
            if holder_owner != self._last_waiting_owner:
                self._last_waiting_owner = holder_owner
                log.info(
                    "waiting: leader is %s", result.holder.describe() if result.holder else "?"
                )
                self._notify("waiting", result.holder)
        return self.is_leader

    def _notify(self, event: str, holder: LeaseInfo | None) -> None:
        if self.on_leadership is not None:
            try:
                self.on_leadership(event, holder)
            except Exception:
                log.warning("leadership callback failed", exc_info=True)

    async def _became_leader(self) -> None:
        """A new leader first recovers the leases a crashed predecessor left, then dispatches."""
        try:
            await self._run_job(RECOVER_JOB)
        except Exception:
            log.warning("lease recovery at takeover failed", exc_info=True)
        if self._scheduler.running and self._scheduler.get_job(DISPATCH_JOB) is not None:
            self._scheduler.modify_job(DISPATCH_JOB, next_run_time=datetime.now(UTC))

    async def _heartbeat_job(self) -> None:
        await self.heartbeat()

    # --- jobs ---------------------------------------------------------------------------------

    async def run_job(self, name: str) -> Any:
        """Run one job now (tests, "run now" buttons), with the same leader check and job_run row."""
        return await self._run_job(name)

    async def _run_job(self, name: str) -> Any:
        spec = self.jobs[name]
        if self._stop.is_set():
            return None
        if spec.leader_only and not self.is_leader:
            who = self.leader.describe() if self.leader else "nobody yet"
            log.debug("%s skipped: not the leader (leader is %s)", name, who)
            return None
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        started = self.ctx.clock.now()
        outcome, summary = "ok", None
        try:
            if inspect.iscoroutinefunction(spec.func):
                summary = await spec.func(self.ctx)
            else:
                summary = await asyncio.to_thread(spec.func, self.ctx)
            if isinstance(summary, dict) and summary.get("outcome") in ("skipped", "error"):
                outcome = summary["outcome"]
        except Exception as exc:
            outcome = "error"
            summary = {"error": f"{type(exc).__name__}: {exc}"}
            log.exception("job %s failed", name)
        finally:
            if task is not None:
                self._tasks.discard(task)
        await asyncio.to_thread(self._write_job_run, name, started, outcome, summary)
        return summary

    def _next_run(self, name: str) -> datetime | None:
        try:
            job = self._scheduler.get_job(name)
        except Exception:
            return None
        return _utc(job.next_run_time) if job is not None else None

    def _write_job_run(self, name: str, started: datetime, outcome: str, summary: Any) -> None:
        if not isinstance(summary, dict):
            summary = None if summary is None else {"result": str(summary)}
        try:
            with self.ctx.db.writing() as s:
                row = s.get(JobRun, name) or JobRun(job=name)
                row.owner = self.owner
                row.started_at = started
                row.finished_at = self.ctx.clock.now()
                row.next_run_at = self._next_run(name)
                row.outcome = outcome
                row.summary = summary
                s.add(row)
        except Exception:
            log.warning("could not record the run of job %s", name, exc_info=True)

    def _on_event(self, event: JobEvent) -> None:
        job = getattr(event, "job_id", "?")
        if event.code == EVENT_JOB_ERROR:
            exc = getattr(event, "exception", None)
            log.error("job %s raised %s", job, exc)
            if job in self.jobs and self.is_leader:
                summary = {"error": f"{type(exc).__name__}: {exc}"}
                started = self.ctx.clock.now()
                try:
                    asyncio.get_running_loop().create_task(
                        asyncio.to_thread(self._write_job_run, job, started, "error", summary)
                    )
                except RuntimeError:
                    pass
        elif event.code == EVENT_JOB_MISSED:
            log.warning("job %s missed its run time (the event loop was busy or asleep)", job)
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            # The previous run is still going (a long drain): this tick is skipped, not queued.
            log.debug("job %s still running: this tick skipped", job)

    # --- built-in jobs ------------------------------------------------------------------------

    async def _dispatch_job(self, _ctx: AppContext) -> dict[str, Any]:
        """Dispatch runs back to back while each one stops at its claim limit."""
        totals: dict[str, Any] = {"runs": 0, "claimed": 0, "sent": 0, "retried": 0, "dead": 0,
                                  "deferred": 0, "suppressed": 0, "stale": 0}  # fmt: skip
        for _ in range(MAX_DRAIN_RUNS):
            if self._stop.is_set() or not self.is_leader:
                break
            try:
                report = await run_dispatch_once(
                    self.ctx, registry=self.registry, owner=self.owner, stop=self._stop, wait_s=0
                )
            except ConflictError as exc:
                log.info("dispatch skipped: %s", exc)
                return {**totals, "outcome": "skipped", "reason": str(exc)}
            self.last_dispatch = report
            totals["runs"] += 1
            for key in ("claimed", "sent", "retried", "dead", "deferred", "suppressed", "stale"):
                totals[key] += getattr(report, key)
            if report.paused:
                totals["paused"] = True
            if report.idle and not report.paused:
                log.debug("dispatch: %s", report.summary())
            else:
                log.info("dispatch: %s", report.summary())
            if report.notes and not report.idle:
                totals["notes"] = report.notes[:10]
            if not report.more_waiting:
                break
        return totals

    async def _recover_job(self, _ctx: AppContext) -> dict[str, Any]:
        report = await asyncio.to_thread(claim.recover_expired_leases, self.ctx)
        if report.total:
            log.warning(
                "recovered %d message(s) whose lease expired (%d dead after their last attempt)",
                report.total,
                report.dead,
            )
        return report.to_dict()

    async def _health_job(self, _ctx: AppContext) -> dict[str, Any]:
        return await refresh_provider_health(self.ctx, self.registry)
