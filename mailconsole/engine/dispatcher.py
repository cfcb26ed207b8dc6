"""One dispatch run: claim due messages, send them through their routed backends, record results.

The same path serves the scheduler's dispatch job, `mailconsole worker --once`, and "process queue
now" (CLI, console). A run holds the `dispatch` lease (see `leader.py`) so two runs never overlap
on any host.

Per routed backend, up to `limits.max_connections` slots each loop: claim one batch of
`limits.batch_size` (a short write transaction), wait for the backend's token bucket
(`rate_per_second`), send, and record the results in one transaction (attempt rows, message
updates, suppressions, the circuit). Each slot claims its next batch while the current one is in
flight, so the write lock's work overlaps the provider's latency. A run claims at most
`dispatch.claim_limit` (or `limit`) messages and stops claiming after `dispatch.run_seconds`;
`DispatchReport.more_waiting` says whether it stopped for either, so the scheduler runs again at
once while a backlog drains (pause switches and routing are read at the start of each run).

Outcomes (DESIGN.md, Error codes): SENT → `sent`; TRANSIENT → back to `queued` after an
exponential backoff with jitter, or `dead` after `retry.max_attempts`; PERMANENT → `dead`, and the
recipients are suppressed when the provider says they are inactive; ACCOUNT → back to `queued`
without spending the attempt, and the backend's circuit opens (see `circuit.py`). An exception
escaping `send` is a transient `backend_error` for the whole batch.

Database work runs in threads (`asyncio.to_thread`): the console runs this in its UI event loop,
which a SQLite write lock must never freeze.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mailconsole.backend_api import Backend, Outcome, SendResult, failed_batch
from mailconsole.context import AppContext
from mailconsole.engine import circuit
from mailconsole.engine.backends import BackendRegistry
from mailconsole.engine.backoff import exhausted, retry_delay
from mailconsole.engine.claim import (
    A,
    ClaimedMessage,
    ClaimResult,
    M,
    driver_cursor,
    load_claimed,
    owned,
    ownership_where,
    release_in,
    stamp_processor,
    take_due,
)
from mailconsole.engine.leader import DISPATCH, current_lease, make_owner_id, release, try_acquire
from mailconsole.engine.ratelimit import TokenBucket
from mailconsole.engine.routing import Route, RoutingPlan, plan_routes, take_probe_slot
from mailconsole.errors import ConflictError, MailconsoleError
from mailconsole.store.models import MessageStatus, Suppression

log = logging.getLogger(__name__)

DEFAULT_WAIT_S = 5.0  # how long "process queue now" waits for a running dispatch to end
MAX_ERROR_TEXT = 2000
# A run notes a backend's success in its circuit state at most this often while nothing in the
# run has failed it: the note is an ORM read-modify-write (~5 ms), SMTP records every 50 messages.
SUCCESS_NOTE_INTERVAL = timedelta(seconds=1)
_rng = random.Random()


@dataclass
class DispatchReport:
    """What one dispatch run did; `to_dict()` is the JSON of `queue run --format=json`."""

    limit: int = 0
    claimed: int = 0  # rows taken off the queue (sent, failed, suppressed or released)
    sent: int = 0
    retried: int = 0  # transient failure, queued again with a backoff
    dead: int = 0
    deferred: int = 0  # released unsent: account error, circuit opened, stopping
    suppressed: int = 0  # a recipient is suppressed: never sent
    stale: int = 0  # results not written: the lease had been taken over
    probes: int = 0
    batches: int = 0
    paused: bool = False
    cut_short: bool = False  # stopped claiming at `dispatch.run_seconds` with messages still due
    by_error_code: Counter[str] = field(default_factory=Counter)
    by_backend: dict[str, Counter[str]] = field(default_factory=dict)
    circuits_opened: list[str] = field(default_factory=list)
    circuits_closed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    duration_s: float = 0.0

    @property
    def more_waiting(self) -> bool:
        """The run stopped at its claim limit or its time: more due messages may be waiting."""
        return self.cut_short or (self.limit > 0 and self.claimed >= self.limit)

    @property
    def idle(self) -> bool:
        return self.claimed == 0 and self.probes == 0

    def count(self, backend: str, key: str, n: int = 1) -> None:
        self.by_backend.setdefault(backend, Counter())[key] += n

    def summary(self) -> str:
        """One log line with the counts."""
        head = (
            f"claimed {self.claimed}: sent {self.sent}, retried {self.retried}, dead {self.dead}, "
            f"deferred {self.deferred}, suppressed {self.suppressed}"
        )
        if self.stale:
            head += f", stale {self.stale}"
        if self.probes:
            head += f", probes {self.probes}"
        head += f" in {self.duration_s:.2f}s"
        if self.by_error_code:
            head += " errors " + ",".join(f"{k}={v}" for k, v in self.by_error_code.most_common(5))
        if self.circuits_opened:
            head += " circuit opened: " + ",".join(self.circuits_opened)
        if self.circuits_closed:
            head += " circuit closed: " + ",".join(self.circuits_closed)
        if self.paused:
            head = "dispatch paused: nothing claimed"
        return head

    def to_dict(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "claimed": self.claimed,
            "sent": self.sent,
            "retried": self.retried,
            "dead": self.dead,
            "deferred": self.deferred,
            "suppressed": self.suppressed,
            "stale": self.stale,
            "probes": self.probes,
            "batches": self.batches,
            "paused": self.paused,
            "cut_short": self.cut_short,
            "more_waiting": self.more_waiting,
            "by_error_code": dict(self.by_error_code),
            "by_backend": {k: dict(v) for k, v in self.by_backend.items()},
            "circuits_opened": list(self.circuits_opened),
            "circuits_closed": list(self.circuits_closed),
            "notes": list(self.notes),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "duration_s": round(self.duration_s, 3),
        }


# --- the dispatch lease ----------------------------------------------------------------------


@asynccontextmanager
async def dispatch_lease(
    ctx: AppContext, token: str, wait_s: float
) -> AsyncIterator[asyncio.Event]:
    """Hold the `dispatch` lease for the body; the yielded event is set if the lease is lost.

    Waits up to `wait_s` (real seconds) for a running dispatch to end, then raises ConflictError
    naming who holds it.
    """
    ttl = ctx.config.dispatch.leader_lease_seconds
    deadline = time.monotonic() + wait_s
    while True:
        result = await asyncio.to_thread(try_acquire, ctx, DISPATCH, token, ttl)
        if result.acquired:
            break
        if time.monotonic() >= deadline:
            holder = result.holder or await asyncio.to_thread(current_lease, ctx, DISPATCH)
            who = holder.describe() if holder else "another process"
            raise ConflictError(
                f"a dispatch run is already in progress ({who}): it sends the same queue, "
                "so wait for it to finish or try again in a few seconds"
            )
        await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
    lost = asyncio.Event()

    async def keep() -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                ok = await asyncio.to_thread(try_acquire, ctx, DISPATCH, token, ttl)
            except Exception:
                log.warning("renewing the dispatch lease failed", exc_info=True)
                continue
            if not ok.acquired:
                log.warning("the dispatch lease was taken over: stopping this run's claims")
                lost.set()
                return

    keeper = asyncio.create_task(keep())
    try:
        yield lost
    finally:
        keeper.cancel()
        try:
            await keeper
        except asyncio.CancelledError:
            pass
        try:
            await asyncio.to_thread(release, ctx, DISPATCH, token)
        except Exception:
            log.warning("releasing the dispatch lease failed (it expires by itself)", exc_info=True)


# --- one run -----------------------------------------------------------------------------------


async def run_dispatch_once(
    ctx: AppContext,
    *,
    limit: int | None = None,
    registry: BackendRegistry | None = None,
    owner: str | None = None,
    stop: asyncio.Event | None = None,
    wait_s: float = DEFAULT_WAIT_S,
) -> DispatchReport:
    """Claim, send and record up to `limit` (default `dispatch.claim_limit`) due messages.

    `owner` is the lease owner written on claimed messages (default: this process's id).
    `stop`, when set, stops new claims; batches in flight finish and are recorded. Raises
    ReadOnlyError in read-only mode and ConflictError when another dispatch run holds the lease
    for longer than `wait_s`.
    """
    ctx.require_writable("process queue")
    if not await asyncio.to_thread(anything_due, ctx):
        # The idle case (most scheduler ticks): no lease, no write transaction, no backend built.
        return DispatchReport(
            limit=limit or ctx.config.dispatch.claim_limit, started_at=ctx.clock.now()
        )
    owner = owner or make_owner_id()
    token = f"{owner}#{secrets.token_hex(3)}"
    reg = registry or BackendRegistry(ctx)
    try:
        async with dispatch_lease(ctx, token, wait_s) as lost:
            run = _Run(ctx, reg, owner, limit or ctx.config.dispatch.claim_limit, stop, lost)
            return await run.run()
    finally:
        if registry is None:
            await reg.aclose()


class _NothingToProbe(Exception):
    """Rolls back a probe slot taken when no message was due for it."""


def anything_due(ctx: AppContext) -> bool:
    """Is any queued message due now? One indexed read."""
    with ctx.db.reading() as s:
        return (
            s.execute(
                select(M.c.id)
                .where(
                    M.c.status == MessageStatus.QUEUED.value,
                    M.c.next_attempt_at <= ctx.clock.now(),
                )
                .limit(1)
            ).first()
            is not None
        )


@dataclass
class _BackendRun:
    route: Route
    backend: Backend
    bucket: TokenBucket
    halted: str | None = None  # why this backend stopped claiming in this run
    drained: bool = False


@dataclass
class _Recorded:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    stale: int = 0
    opened: str | None = None  # "transient" | "account" when this batch opened the circuit
    closed: bool = False


class _Run:
    def __init__(
        self,
        ctx: AppContext,
        registry: BackendRegistry,
        owner: str,
        limit: int,
        stop: asyncio.Event | None,
        lost: asyncio.Event,
    ) -> None:
        self.ctx = ctx
        self.cfg = ctx.config
        self.registry = registry
        self.owner = owner
        self.remaining = limit
        self.stop = stop
        self.lost = lost
        self.report = DispatchReport(limit=limit)
        self.deadline = 0.0  # set when the slots start (see `_take`)
        lease_s = self.cfg.dispatch.lease_seconds
        self.send_timeout = max(1.0, lease_s * 0.8)
        # backend -> when this run last noted a success that found the circuit closed
        self.noted_success: dict[str, datetime] = {}

    def stopping(self) -> bool:
        return self.lost.is_set() or (self.stop is not None and self.stop.is_set())

    async def run(self) -> DispatchReport:
        clock = self.ctx.clock
        self.report.started_at = clock.now()
        t0 = time.monotonic()
        try:
            plan = await asyncio.to_thread(self._plan)
            if plan is None:
                return self.report
            if plan.paused:
                self.report.paused = True
                self.report.notes.append("dispatch is paused: nothing claimed")
                return self.report
            for source, why in plan.held.items():
                self.report.notes.append(f"{source}: {why}")
            for route in plan.probes:
                if self.stopping():
                    break
                await self._probe(route, plan)
            runs = []
            for route in plan.normal:
                backend = await self._backend(route.backend)
                if backend is None:
                    continue
                limits = backend.limits
                bucket = self.registry.bucket(route.backend, limits.rate_per_second)
                runs.append(_BackendRun(route, backend, bucket))
            self.deadline = time.monotonic() + self.cfg.dispatch.run_seconds
            await asyncio.gather(*(self._drive(r, plan) for r in runs))
            return self.report
        finally:
            self.report.duration_s = time.monotonic() - t0

    # --- planning ---------------------------------------------------------------------------

    def _plan(self) -> RoutingPlan | None:
        """The routing plan, or None when nothing at all is due (no write, no backend built)."""
        now = self.ctx.clock.now()
        if not anything_due(self.ctx):
            return None
        with self.ctx.db.reading() as s:
            plan = plan_routes(s, self.cfg, now)
        if plan.routes:
            with self.ctx.db.writing() as s:
                circuit.ensure_states(s, {r.backend for r in plan.routes}, now)
        return plan

    async def _backend(self, name: str) -> Backend | None:
        """Build (or reuse) the backend; a failure to build opens its circuit as an account error."""
        try:
            return self.registry.get(name)
        except MailconsoleError as exc:
            reason = str(exc)
            opened = await asyncio.to_thread(self._open_for_build_error, name, reason)
            if opened:
                self.report.circuits_opened.append(name)
                log.warning("%s: cannot be built, circuit opened: %s", name, reason)
            self.report.notes.append(f"{name}: cannot be built: {reason}")
            return None

    def _open_for_build_error(self, name: str, reason: str) -> bool:
        now = self.ctx.clock.now()
        with self.ctx.db.writing() as s:
            return circuit.note_account_error(
                s, name, "config_error", reason, now, self.cfg.dispatch
            )

    # --- probes and normal traffic ------------------------------------------------------------

    async def _probe(self, route: Route, plan: RoutingPlan) -> None:
        backend = await self._backend(route.backend)
        if backend is None:
            return
        claim = await asyncio.to_thread(self._claim, route, plan, 1, True)
        self._count_claim(route.backend, claim)
        if not claim.messages:
            return
        self.report.probes += 1
        log.info("%s: probing with message %s", route.backend, claim.messages[0].id)
        bucket = self.registry.bucket(route.backend, backend.limits.rate_per_second)
        run = _BackendRun(route, backend, bucket)
        await self._send_and_record(run, claim.messages)

    async def _drive(self, run: _BackendRun, plan: RoutingPlan) -> None:
        slots = max(1, run.backend.limits.max_connections)
        await asyncio.gather(*(self._slot(run, plan) for _ in range(slots)))

    async def _slot(self, run: _BackendRun, plan: RoutingPlan) -> None:
        """Claim, send and record batches until the run ends, one batch claimed ahead.

        The next batch is claimed while the current one is in flight, so a slot's connection
        never waits for the claim's write; its results are recorded before the next send (a
        record may open the circuit, and then the claimed-ahead batch is released unsent).
        """
        batch_size = max(1, run.backend.limits.batch_size)
        ahead: asyncio.Task[ClaimResult | None] | None = None
        try:
            claim = await self._take(run, plan, batch_size, first=True)
            while claim is not None:
                if claim.full:
                    ahead = asyncio.create_task(self._take(run, plan, batch_size))
                if claim.messages:  # (a claim may be all suppressed recipients)
                    await self._send_and_record(run, claim.messages)
                if ahead is None:
                    return
                claim, ahead = await ahead, None
        finally:
            if ahead is not None:  # the send or record failed: give the claimed-ahead batch back
                claimed = await ahead
                if claimed is not None and claimed.messages:
                    ids = [m.id for m in claimed.messages]
                    released = await asyncio.to_thread(self._release, ids)
                    self.report.deferred += released
                    self.report.count(run.route.backend, "deferred", released)

    async def _take(
        self, run: _BackendRun, plan: RoutingPlan, size: int, *, first: bool = False
    ) -> ClaimResult | None:
        """The slot's next claim, or None when this run claims no more for this backend.

        Past `dispatch.run_seconds` a slot claims no more, except its first batch: every run
        moves the queue, however slow its start.
        """
        if self.stopping() or run.halted or run.drained:
            return None
        if not first and time.monotonic() >= self.deadline:
            self.report.cut_short = True
            return None
        want = min(size, self.remaining)
        if want <= 0:
            return None
        self.remaining -= want
        try:
            claim = await asyncio.to_thread(self._claim, run.route, plan, want, False)
        except BaseException:
            self.remaining += want
            raise
        self.remaining += want - claim.taken
        self._count_claim(run.route.backend, claim)
        if not claim.full:
            run.drained = True
        return claim

    def _count_claim(self, backend: str, claim: ClaimResult) -> None:
        self.report.claimed += claim.taken
        if claim.suppressed:
            self.report.suppressed += len(claim.suppressed)
            self.report.count(backend, "suppressed", len(claim.suppressed))

    def _claim(self, route: Route, plan: RoutingPlan, limit: int, probe: bool) -> ClaimResult:
        now = self.ctx.clock.now()
        d = self.cfg.dispatch
        try:
            with self.ctx.db.writing() as s:
                if probe and not take_probe_slot(
                    s,
                    route.backend,
                    now,
                    d.probe_interval_seconds,
                    d.account_probe_interval_seconds,
                ):
                    return ClaimResult(requested=limit)
                taken = take_due(
                    s,
                    owner=self.owner,
                    backend=route.backend,
                    sources=route.sources,
                    include_unrouted=route.include_unrouted,
                    limit=limit,
                    now=now,
                    lease_seconds=d.lease_seconds,
                )
                if probe and not (taken.rows or taken.suppressed):
                    # Nothing to probe with: keep the slot for the next message that comes.
                    raise _NothingToProbe
        except _NothingToProbe:
            return ClaimResult(requested=limit)
        # Bodies are read after the write lock is released (they never change once enqueued).
        with self.ctx.db.reading() as s:
            return load_claimed(s, taken, backend=route.backend, primary=plan.primary)

    async def _send_and_record(self, run: _BackendRun, batch: list[ClaimedMessage]) -> None:
        name = run.route.backend
        await run.bucket.acquire(len(batch))
        if self.stopping() or run.halted:
            released = await asyncio.to_thread(self._release, [m.id for m in batch])
            self.report.deferred += released
            self.report.count(name, "deferred", released)
            return
        results, started_at, duration_ms = await self._send(run.backend, batch)
        self.report.batches += 1
        rec = await asyncio.to_thread(self._record, name, batch, results, started_at, duration_ms)
        r = self.report
        r.sent += rec.sent
        r.retried += rec.retried
        r.dead += rec.dead
        r.deferred += rec.deferred
        r.stale += rec.stale
        for key in ("sent", "retried", "dead", "deferred", "stale"):
            if getattr(rec, key):
                r.count(name, key, getattr(rec, key))
        for res in results:
            if res.outcome is not Outcome.SENT and res.error_code:
                r.by_error_code[res.error_code] += 1
        if rec.closed:
            r.circuits_closed.append(name)
            log.info("%s: accepted mail again, circuit closed", name)
        if rec.opened:
            r.circuits_opened.append(name)
            run.halted = f"circuit opened ({rec.opened})"
            first = next((x for x in results if x.outcome is not Outcome.SENT), None)
            log.warning(
                "%s: circuit opened (%s): %s %s",
                name,
                rec.opened,
                first.error_code if first else "",
                first.error_message if first else "",
            )
        if any(res.outcome is Outcome.ACCOUNT for res in results):
            run.halted = run.halted or "account error"
            # The operator fixes the token or the account; the next build reads it afresh.
            self.registry.invalidate(name)

    async def _send(
        self, backend: Backend, batch: Sequence[ClaimedMessage]
    ) -> tuple[list[SendResult], datetime, float]:
        outgoing = [m.outgoing() for m in batch]
        clock = self.ctx.clock
        started_at = clock.now()
        t0 = clock.monotonic()
        try:
            raw = await asyncio.wait_for(backend.send(outgoing), self.send_timeout)
        except TimeoutError:
            raw = failed_batch(
                outgoing,
                Outcome.TRANSIENT,
                "timeout",
                f"the backend did not answer within {self.send_timeout:.0f} s",
            )
        except Exception as exc:
            raw = failed_batch(
                outgoing, Outcome.TRANSIENT, "backend_error", f"{type(exc).__name__}: {exc}"
            )
        duration_ms = max(0.0, (clock.monotonic() - t0) * 1000.0)
        by_id = {res.message_id: res for res in raw or []}
        results = [
            by_id.get(m.id)
            or SendResult(
                message_id=m.id,
                outcome=Outcome.TRANSIENT,
                error_code="backend_error",
                error_message="the backend returned no result for this message",
            )
            for m in batch
        ]
        return results, started_at, duration_ms

    def _release(self, ids: list[int]) -> int:
        with self.ctx.db.writing() as s:
            return release_in(s, self.owner, self.ctx.clock.now(), ids)

    # --- recording ---------------------------------------------------------------------------

    def _record(
        self,
        backend: str,
        batch: Sequence[ClaimedMessage],
        results: Sequence[SendResult],
        started_at: datetime,
        duration_ms: float,
    ) -> _Recorded:
        now = self.ctx.clock.now()
        retry = self.cfg.retry
        by_id = {m.id: m for m in batch}
        owner = self.owner
        sent_v = Outcome.SENT
        transient_v = Outcome.TRANSIENT
        permanent_v = Outcome.PERMANENT
        queued = MessageStatus.QUEUED.value
        dead = MessageStatus.DEAD.value
        # The rows are built before the write transaction (SQLite has one writer at a time, and a
        # dispatch's claims and records queue for it): tuples in the column orders of
        # _ATTEMPT_COLUMNS, _SENT_COLUMNS and _OTHER_COLUMNS, keyed by message id so that rows
        # whose lease was taken over can be dropped. The batch's timestamps go through the column
        # type's bind processor once (per row only for a retry's own next_attempt_at).
        stamp = stamp_processor(self.ctx.db.engine.dialect)
        now_b = stamp(now)
        started_b = stamp(started_at)
        planned: list[tuple[int, str, tuple[Any, ...], tuple[Any, ...]]] = []
        suppress: list[dict[str, Any]] = []
        for res in results:
            msg = by_id[res.message_id]
            mid = msg.id
            attempt = msg.attempt
            outcome = res.outcome
            text = _clip(res.error_message)
            attempt_row = (mid, attempt, backend, started_b, duration_ms, outcome.value,
                           None if outcome is sent_v else res.error_code, res.provider_code,
                           text, res.provider_message_id)  # fmt: skip
            if outcome is sent_v:
                planned.append(
                    (mid, "sent", attempt_row, (now_b, res.provider_message_id, now_b, mid, owner,
                                                attempt))
                )  # fmt: skip
                continue
            status, attempts_after, next_b = queued, attempt, now_b
            if outcome is transient_v:
                if exhausted(retry, attempt):
                    kind, status = "dead", dead
                else:
                    kind = "retried"
                    delay = retry_delay(retry, attempt, retry_after=res.retry_after, rng=_rng)
                    next_b = stamp(now + timedelta(seconds=delay))
            elif outcome is permanent_v:
                kind, status = "dead", dead
                if res.suppress_recipients:
                    suppress += _suppression_rows(msg, res, backend, now)
            else:  # ACCOUNT: the message did nothing wrong; give the attempt back
                kind = "deferred"
                attempts_after = attempt - 1
            planned.append(
                (mid, kind, attempt_row, (status, attempts_after, next_b, res.error_code,
                                          res.provider_code, text, now_b, mid, owner, attempt))
            )  # fmt: skip
        rec = _Recorded()
        with self.ctx.db.writing() as s:
            held = owned(s, owner, batch)
            attempts: list[tuple[Any, ...]] = []
            sent_rows: list[tuple[Any, ...]] = []
            other_rows: list[tuple[Any, ...]] = []
            for mid, kind, attempt_row, update_row in planned:
                if mid not in held:
                    rec.stale += 1
                    log.warning(
                        "message %s: result of attempt %s ignored: the lease was taken over",
                        mid,
                        attempt_row[1],
                    )
                    continue
                setattr(rec, kind, getattr(rec, kind) + 1)
                attempts.append(attempt_row)
                (sent_rows if kind == "sent" else other_rows).append(update_row)
            if rec.stale:
                stale = set(by_id) - held
                suppress = [row for row in suppress if row["message_id"] not in stale]
            if s.get_bind().dialect.name == "sqlite":
                _write_results_sqlite(s, attempts, sent_rows, other_rows)
            else:
                _write_results(s, attempts, sent_rows, other_rows, now)
            if suppress:
                _insert_suppressions(s, suppress)
            self._update_circuit(s, backend, results, started_at, now, rec)
        return rec

    def _update_circuit(
        self,
        s: Any,
        backend: str,
        results: Sequence[SendResult],
        started_at: datetime,
        now: datetime,
        rec: _Recorded,
    ) -> None:
        d = self.cfg.dispatch
        if any(res.outcome is Outcome.SENT for res in results):
            last = self.noted_success.get(backend)
            if last is None or not (timedelta(0) <= now - last < SUCCESS_NOTE_INTERVAL):
                rec.closed = circuit.note_success(s, backend, now)
                self.noted_success[backend] = now
            # else: noted under a second ago with nothing failed since (a failure below clears
            # the memo), so the state is already closed with no failure run.
        account = next((res for res in results if res.outcome is Outcome.ACCOUNT), None)
        if account is not None:
            self.noted_success.pop(backend, None)
            if circuit.note_account_error(
                s, backend, account.error_code or "account_error", account.error_message, now, d
            ):
                rec.opened = circuit.ACCOUNT
                rec.closed = False
            return
        if results and all(
            res.outcome is Outcome.TRANSIENT and circuit.is_backend_level(res.error_code)
            for res in results
        ):
            self.noted_success.pop(backend, None)
            first = results[0]
            if circuit.note_wholesale_failure(
                s,
                backend,
                first.error_code or "backend_error",
                first.error_message,
                now,
                d,
                started_at=started_at,
            ):
                rec.opened = circuit.TRANSIENT


_ATTEMPT_COLUMNS = (
    "message_id", "attempt_no", "backend", "started_at", "duration_ms", "outcome", "error_code",
    "provider_code", "error_message", "provider_message_id",
)  # fmt: skip
# The update rows, in the order of the `?` in _UPDATE_SENT_SQL and _UPDATE_OTHER_SQL (the names
# are the bind parameters of the PostgreSQL statements; `None` is a value bound there as `now`).
_SENT_COLUMNS = (None, "b_pmid", None, "b_id", "b_owner", "b_attempt")
_OTHER_COLUMNS = (
    "b_status", "b_attempts", "b_next", "b_code", "b_pcode", "b_error", None, "b_id", "b_owner",
    "b_attempt",
)  # fmt: skip
# The ownership check of `claim.ownership_where()`, written out for the driver.
_OWNED_SQL = f"WHERE id = ? AND lease_owner = ? AND attempts = ? AND status = '{MessageStatus.SENDING.value}'"
_INSERT_ATTEMPTS_SQL = (
    f"INSERT INTO {A.name} ({', '.join(_ATTEMPT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_ATTEMPT_COLUMNS))})"
)
_UPDATE_SENT_SQL = (
    f"UPDATE {M.name} SET status = '{MessageStatus.SENT.value}', sent_at = ?, "
    "provider_message_id = ?, lease_owner = NULL, lease_expires_at = NULL, updated_at = ? "
    + _OWNED_SQL
)
_UPDATE_OTHER_SQL = (
    f"UPDATE {M.name} SET status = ?, attempts = ?, next_attempt_at = ?, last_error_code = ?, "
    "last_provider_code = ?, last_error = ?, lease_owner = NULL, lease_expires_at = NULL, "
    "updated_at = ? " + _OWNED_SQL
)


def _write_results_sqlite(
    s: Any,
    attempts: list[tuple[Any, ...]],
    sent_rows: list[tuple[Any, ...]],
    other_rows: list[tuple[Any, ...]],
) -> None:
    """Attempt rows and message updates through the driver's executemany, rows as tuples.

    Recording spent most of its CPU in SQLAlchemy's per-row parameter processing; the values
    here are already what the column types would bind (see `claim.stamp_processor`).
    """
    cursor = driver_cursor(s)
    if attempts:
        cursor.executemany(_INSERT_ATTEMPTS_SQL, attempts)
    if sent_rows:
        cursor.executemany(_UPDATE_SENT_SQL, sent_rows)
    if other_rows:
        cursor.executemany(_UPDATE_OTHER_SQL, other_rows)


def _write_results(
    s: Any,
    attempts: list[tuple[Any, ...]],
    sent_rows: list[tuple[Any, ...]],
    other_rows: list[tuple[Any, ...]],
    now: datetime,
) -> None:
    """The same writes through SQLAlchemy (PostgreSQL)."""
    if attempts:
        s.execute(insert(A), [dict(zip(_ATTEMPT_COLUMNS, row, strict=True)) for row in attempts])
    if sent_rows:
        s.execute(
            update(M)
            .where(ownership_where())
            .values(
                status=MessageStatus.SENT.value,
                sent_at=now,
                provider_message_id=bindparam("b_pmid"),
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            ),
            [_named(_SENT_COLUMNS, row) for row in sent_rows],
        )
    if other_rows:
        s.execute(
            update(M)
            .where(ownership_where())
            .values(
                status=bindparam("b_status"),
                attempts=bindparam("b_attempts"),
                next_attempt_at=bindparam("b_next"),
                last_error_code=bindparam("b_code"),
                last_provider_code=bindparam("b_pcode"),
                last_error=bindparam("b_error"),
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            ),
            [_named(_OTHER_COLUMNS, row) for row in other_rows],
        )


def _named(names: tuple[str | None, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    return {name: value for name, value in zip(names, row, strict=True) if name is not None}


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


def _suppression_rows(
    msg: ClaimedMessage, res: SendResult, backend: str, now: datetime
) -> list[dict[str, Any]]:
    """The recipients the provider called inactive: those named in its message, else all."""
    named = [a for a in msg.recipients if res.error_message and _mentions(res.error_message, a)]
    return [
        {
            "address": a.lower(),
            "reason": "inactive",
            "source": backend,
            "detail": _clip(res.error_message),
            "message_id": msg.id,
            "created_at": now,
        }
        for a in dict.fromkeys(named or msg.recipients)
    ]


def _mentions(text: str, address: str) -> bool:
    return (
        re.search(rf"(?<![\w.+-]){re.escape(address)}(?![\w.-])", text, re.IGNORECASE) is not None
    )


def _insert_suppressions(session: Any, rows: list[dict[str, Any]]) -> None:
    table = Suppression.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    ins_mod: Any = postgresql if dialect == "postgresql" else sqlite
    unique = list({r["address"]: r for r in rows}.values())
    session.execute(
        ins_mod.insert(table).on_conflict_do_nothing(index_elements=["address"]), unique
    )
