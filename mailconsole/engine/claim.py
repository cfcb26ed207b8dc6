"""Claiming due messages with a lease, checking ownership, releasing, and recovering leases.

The claim is one `UPDATE … WHERE id IN (SELECT … ORDER BY next_attempt_at, id LIMIT n) RETURNING …`.
On SQLite it runs inside `BEGIN IMMEDIATE` (`ctx.db.writing()`). On PostgreSQL the sub-select is
`FOR UPDATE SKIP LOCKED` in a MATERIALIZED CTE (inlined, PostgreSQL may re-run it and overshoot the
LIMIT), so concurrent claimers never block on, or take, each other's rows. A claim sets
`status='sending'`, the lease (`lease_owner`, `lease_expires_at`), the routed `backend`, and
`attempts = attempts + 1`: the number of this try. Every later write checks `id`, `lease_owner`,
`attempts` and `status`, so a worker whose lease expired and was taken over cannot overwrite the
new owner's result. Recipients in `suppression` are caught here: such a message becomes
`suppressed` in the claim's own transaction and is never handed to a backend.

How `attempts` counts (it decides when a message goes dead):
- a try that reached the provider counts, whatever its outcome, except an account-level failure
  (bad token, suspended…), which gives the attempt back: the message did nothing wrong;
- a message released unsent (suppressed at claim, a graceful stop, a run cut short) gives it back;
- a lease that expired (the worker crashed or hung mid-send) counts: the provider may have taken
  the message. Recovery writes that try's attempt row (outcome `transient`, error `lease_expired`),
  so attempt rows and the counter agree, and the timeline shows the crash. A message that keeps
  killing its worker therefore goes dead after `retry.max_attempts` instead of looping forever.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlmodel import Session

from mailconsole.backend_api import OutgoingMessage
from mailconsole.context import AppContext
from mailconsole.store.models import (
    AttemptOutcome,
    DeliveryAttempt,
    Message,
    MessageBody,
    MessageStatus,
    Suppression,
)

M = Message.__table__  # type: ignore[attr-defined]
B = MessageBody.__table__  # type: ignore[attr-defined]
A = DeliveryAttempt.__table__  # type: ignore[attr-defined]
S = Suppression.__table__  # type: ignore[attr-defined]

IN_CHUNK = 900  # bound parameters per IN list (SQLite's historical limit is 999)
RECOVER_CHUNK = 1000
LEASE_EXPIRED = "lease_expired"
CLAIM_COLUMNS = (
    M.c.id, M.c.attempts, M.c.account, M.c.from_addr, M.c.to_addrs, M.c.cc_addrs,
    M.c.bcc_addrs, M.c.reply_to, M.c.subject, M.c.tag, M.c.stream,
)  # fmt: skip


@dataclass(frozen=True)
class ClaimedMessage:
    """A message this worker holds the lease on, with everything needed to send it."""

    id: int
    attempt: int  # the number of this try (attempts after the claim)
    source: str | None  # the account it was routed from (its own, or the primary)
    backend: str  # the account sending it in this run
    from_addr: str
    to: tuple[str, ...]
    subject: str
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: str | None = None
    tag: str | None = None
    stream: str | None = None
    text: str | None = None
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    template_id: int | None = None
    template_data: dict[str, Any] | None = None

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc + self.bcc

    def outgoing(self) -> OutgoingMessage:
        return OutgoingMessage(
            id=self.id,
            from_addr=self.from_addr,
            to=self.to,
            subject=self.subject,
            text=self.text,
            html=self.html,
            cc=self.cc,
            bcc=self.bcc,
            reply_to=self.reply_to,
            headers=self.headers,
            tag=self.tag,
            stream=self.stream,
            template_id=self.template_id,
            template_data=self.template_data,
            attempt=self.attempt,
        )


@dataclass
class ClaimResult:
    messages: list[ClaimedMessage] = field(default_factory=list)
    suppressed: list[int] = field(default_factory=list)  # claimed, then marked suppressed
    requested: int = 0

    @property
    def taken(self) -> int:
        """Rows taken off the queue by this claim (sendable + suppressed)."""
        return len(self.messages) + len(self.suppressed)

    @property
    def full(self) -> bool:
        return self.requested > 0 and self.taken >= self.requested


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(a.strip() for a in value.split(",") if a.strip())


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def route_filter(sources: Sequence[str], include_unrouted: bool) -> Any:
    """Messages whose route is one of `sources` (no account = the primary's)."""
    clauses = []
    if sources:
        clauses.append(M.c.account.in_(list(sources)))
    if include_unrouted:
        clauses.append(M.c.account.is_(None))
    if not clauses:
        return M.c.id.is_(None)  # matches nothing
    return or_(*clauses)


def suppressed_addresses(session: Session, addresses: Iterable[str]) -> dict[str, str]:
    """Which of `addresses` (any case) are suppressed, lower-cased, with their reason."""
    wanted = sorted({a.lower() for a in addresses})
    found: dict[str, str] = {}
    sqlite = not _is_pg(session)
    for chunk in _chunks(wanted):
        if sqlite:  # straight to the driver: this runs on every claim, with hundreds of addresses
            rows: Any = session.connection().exec_driver_sql(
                f"SELECT address, reason FROM {S.name} "
                f"WHERE address IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
        else:
            rows = session.execute(
                select(S.c.address, S.c.reason).where(S.c.address.in_(list(chunk)))
            )
        for address, reason in rows:
            found[address] = reason
    return found


def claim_messages(
    session: Session,
    *,
    owner: str,
    backend: str,
    sources: Sequence[str],
    include_unrouted: bool,
    primary: str | None,
    limit: int,
    now: datetime,
    lease_seconds: float,
) -> ClaimResult:
    """Claim up to `limit` due messages of `sources` for `backend` inside the caller's transaction."""
    result = ClaimResult(requested=limit)
    if limit <= 0:
        return result
    due = (
        select(M.c.id)
        .where(
            M.c.status == MessageStatus.QUEUED.value,
            M.c.next_attempt_at <= now,
            route_filter(sources, include_unrouted),
        )
        .order_by(M.c.next_attempt_at, M.c.id)
        .limit(limit)
    )
    is_pg = _is_pg(session)
    if is_pg:
        # A materialized CTE runs the locking sub-select exactly once: inlined into the UPDATE,
        # PostgreSQL may re-run it during the join and claim more than `limit` rows.
        locked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        # Re-checked here: another claimer may have changed the row since the CTE read it.
        where: tuple[Any, ...] = (
            M.c.id.in_(select(locked.c.id)),
            M.c.status == MessageStatus.QUEUED.value,
        )
    else:
        # No outer status check on SQLite: BEGIN IMMEDIATE holds the write lock from the sub-select
        # to the update, so the rows it picked are still queued. With that check, SQLite's planner
        # (statistics or not) may satisfy it through `ix_message_updated`, reading every queued
        # row's index entry on each claim, instead of looking the chosen ids up by primary key.
        where = (M.c.id.in_(due.scalar_subquery()),)
    stmt = (
        update(M)
        .where(*where)
        .values(
            status=MessageStatus.SENDING.value,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=M.c.attempts + 1,
            backend=backend,
            updated_at=now,
        )
        .returning(*CLAIM_COLUMNS)
    )
    rows = sorted(session.execute(stmt).all(), key=lambda r: r.id)
    if not rows:
        return result
    # Each row's addresses are split once: they serve the suppression check and the message.
    split = [(r, _split(r.to_addrs), _split(r.cc_addrs), _split(r.bcc_addrs)) for r in rows]
    blocked = suppressed_addresses(
        session, [a for _, to, cc, bcc in split for a in (*to, *cc, *bcc)]
    )
    sendable = split
    if blocked:
        sendable = []
        for item in split:
            r, to, cc, bcc = item
            hit = next((a for a in (*to, *cc, *bcc) if a.lower() in blocked), None)
            if hit is None:
                sendable.append(item)
                continue
            result.suppressed.append(r.id)
            session.execute(
                update(M)
                .where(M.c.id == r.id, M.c.lease_owner == owner, M.c.attempts == r.attempts)
                .values(
                    status=MessageStatus.SUPPRESSED.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    attempts=M.c.attempts - 1,
                    last_error_code="suppressed",
                    last_error=f"recipient {hit} is suppressed ({blocked[hit.lower()]}): not sent",
                    updated_at=now,
                )
            )
    bodies = _bodies(session, [item[0].id for item in sendable], is_pg)
    append = result.messages.append
    for r, to, cc, bcc in sendable:
        body = bodies.get(r.id)
        if body is None:
            text = html = template_id = template_data = None
            headers: dict[str, str] = {}
        else:
            text, html, raw_headers, template_id, template_data = body
            headers = dict(raw_headers) if raw_headers else {}
        append(
            ClaimedMessage(
                id=r.id,
                attempt=r.attempts,
                source=r.account or primary,
                backend=backend,
                from_addr=r.from_addr,
                to=to,
                subject=r.subject,
                cc=cc,
                bcc=bcc,
                reply_to=r.reply_to,
                tag=r.tag,
                stream=r.stream,
                text=text,
                html=html,
                headers=headers,
                template_id=template_id,
                template_data=template_data,
            )
        )
    return result


def _bodies(session: Session, ids: Sequence[int], is_pg: bool) -> dict[int, tuple[Any, ...]]:
    """(text, html, headers, template_id, template_data) of each message id that has a body.

    On SQLite the rows come straight from the driver and only non-NULL JSON goes through the
    column type's own result processor (JSON `null` is what the store writes for none): most
    bodies have neither headers nor template data.
    """
    bodies: dict[int, tuple[Any, ...]] = {}
    if not ids:
        return bodies
    if is_pg:
        cols = (B.c.message_id, B.c.text_body, B.c.html_body, B.c.headers, B.c.template_id,
                B.c.template_data)  # fmt: skip
        for chunk in _chunks(ids):
            for b in session.execute(select(*cols).where(B.c.message_id.in_(list(chunk)))):
                bodies[b[0]] = tuple(b[1:])
        return bodies
    conn = session.connection()
    dialect = conn.dialect
    load_headers = B.c.headers.type.dialect_impl(dialect).result_processor(dialect, None)
    load_data = B.c.template_data.type.dialect_impl(dialect).result_processor(dialect, None)
    for chunk in _chunks(ids):
        sql = (
            "SELECT message_id, text_body, html_body, headers, template_id, template_data "
            f"FROM {B.name} WHERE message_id IN ({','.join('?' * len(chunk))})"
        )
        for mid, text, html, headers, template_id, data in conn.exec_driver_sql(sql, tuple(chunk)):
            if headers is not None and load_headers is not None:
                headers = None if headers == "null" else load_headers(headers)
            if data is not None and load_data is not None:
                data = None if data == "null" else load_data(data)
            bodies[mid] = (text, html, headers, template_id, data)
    return bodies


def owned(session: Session, owner: str, messages: Sequence[ClaimedMessage]) -> set[int]:
    """Ids among `messages` this owner still holds for exactly this attempt (locked on PostgreSQL).

    A message missing here was recovered after its lease expired (and maybe claimed again): its
    result must not be written.
    """
    expected = {m.id: m.attempt for m in messages}
    held: set[int] = set()
    pg = _is_pg(session)
    sending = MessageStatus.SENDING.value
    for chunk in _chunks(list(expected)):
        if not pg:  # straight to the driver: this runs on every recorded batch
            rows: Any = session.connection().exec_driver_sql(
                f"SELECT id, attempts FROM {M.name} WHERE id IN ({','.join('?' * len(chunk))}) "
                "AND lease_owner = ? AND status = ?",
                (*chunk, owner, sending),
            )
        else:
            rows = session.execute(
                select(M.c.id, M.c.attempts)
                .where(M.c.id.in_(list(chunk)), M.c.lease_owner == owner, M.c.status == sending)
                .with_for_update()
            )
        for mid, attempts in rows:
            if expected.get(mid) == attempts:
                held.add(mid)
    return held


def ownership_where() -> Any:
    """The WHERE of every write after a send; bind `b_id`, `b_owner`, `b_attempt`."""
    return and_(
        M.c.id == bindparam("b_id"),
        M.c.lease_owner == bindparam("b_owner"),
        M.c.attempts == bindparam("b_attempt"),
        M.c.status == MessageStatus.SENDING.value,
    )


def release_in(
    session: Session, owner: str, now: datetime, ids: Sequence[int] | None = None
) -> int:
    """Put messages this owner holds back on the queue unsent (the attempt is given back)."""
    base = [M.c.status == MessageStatus.SENDING.value, M.c.lease_owner == owner]
    values = {
        "status": MessageStatus.QUEUED.value,
        "lease_owner": None,
        "lease_expires_at": None,
        "attempts": M.c.attempts - 1,
        "updated_at": now,
    }
    if ids is None:
        return session.execute(update(M).where(*base).values(**values)).rowcount
    total = 0
    for chunk in _chunks(list(ids)):
        stmt = update(M).where(*base, M.c.id.in_(list(chunk))).values(**values)
        total += session.execute(stmt).rowcount
    return total


def release(ctx: AppContext, owner: str, ids: Sequence[int] | None = None) -> int:
    """Release messages claimed by `owner` but not sent (all of them when `ids` is None)."""
    with ctx.db.writing() as session:
        return release_in(session, owner, ctx.clock.now(), ids)


@dataclass(frozen=True)
class RecoveryReport:
    requeued: int = 0
    dead: int = 0  # lost their last allowed attempt to an expired lease
    undated: int = 0  # queued messages with no next_attempt_at, made due now

    @property
    def total(self) -> int:
        return self.requeued + self.dead

    def to_dict(self) -> dict[str, int]:
        return {"requeued": self.requeued, "dead": self.dead, "undated": self.undated}


def recover_expired_leases(ctx: AppContext) -> RecoveryReport:
    """Return `sending` messages whose lease expired to the queue (see the module doc on counting).

    Cheap when there is nothing to do: one indexed read, no write transaction.
    """
    now = ctx.clock.now()
    with ctx.db.reading() as s:
        any_expired = s.execute(
            select(M.c.id)
            .where(M.c.lease_expires_at < now, M.c.status == MessageStatus.SENDING.value)
            .limit(1)
        ).first()
        any_undated = s.execute(
            select(M.c.id)
            .where(M.c.status == MessageStatus.QUEUED.value, M.c.next_attempt_at.is_(None))
            .limit(1)
        ).first()
    requeued = dead = undated = 0
    if any_undated:
        with ctx.db.writing() as s:
            undated = s.execute(
                update(M)
                .where(M.c.status == MessageStatus.QUEUED.value, M.c.next_attempt_at.is_(None))
                .values(next_attempt_at=now, updated_at=now)
            ).rowcount
    if not any_expired:
        return RecoveryReport(undated=undated)
    max_attempts = ctx.config.retry.max_attempts
    lease_s = ctx.config.dispatch.lease_seconds
    while True:
        with ctx.db.writing() as s:
            q = (
                select(M.c.id, M.c.attempts, M.c.backend, M.c.lease_owner, M.c.lease_expires_at)
                .where(M.c.lease_expires_at < now, M.c.status == MessageStatus.SENDING.value)
                .order_by(M.c.lease_expires_at)
                .limit(RECOVER_CHUNK)
            )
            if _is_pg(s):
                q = q.with_for_update(skip_locked=True)
            rows = s.execute(q).all()
            if not rows:
                break
            attempts, updates = [], []
            for r in rows:
                is_dead = r.attempts >= max_attempts
                text = (
                    f"the lease of {r.lease_owner} expired before a result was recorded "
                    "(the worker stopped or crashed mid-send); the provider may have "
                    "accepted the message"
                )
                attempts.append(
                    {
                        "message_id": r.id,
                        "attempt_no": r.attempts,
                        "backend": r.backend or "unknown",
                        "started_at": r.lease_expires_at - timedelta(seconds=lease_s),
                        "duration_ms": 0.0,
                        "outcome": AttemptOutcome.TRANSIENT.value,
                        "error_code": LEASE_EXPIRED,
                        "provider_code": None,
                        "error_message": text,
                        "provider_message_id": None,
                    }
                )
                updates.append(
                    {
                        "b_id": r.id,
                        "b_owner": r.lease_owner,
                        "b_attempt": r.attempts,
                        "b_status": (MessageStatus.DEAD if is_dead else MessageStatus.QUEUED).value,
                        "b_error": text,
                    }
                )
                dead += is_dead
                requeued += not is_dead
            s.execute(insert(A), attempts)
            s.execute(
                update(M)
                .where(ownership_where())
                .values(
                    status=bindparam("b_status"),
                    lease_owner=None,
                    lease_expires_at=None,
                    next_attempt_at=now,
                    last_error_code=LEASE_EXPIRED,
                    last_provider_code=None,
                    last_error=bindparam("b_error"),
                    updated_at=now,
                ),
                updates,
            )
        if len(rows) < RECOVER_CHUNK:
            break
    return RecoveryReport(requeued=requeued, dead=dead, undated=undated)
