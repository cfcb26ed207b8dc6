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


@dataclass(slots=True)
class ClaimedMessage:
    """A message this worker holds the lease on, with everything needed to send it.

    The backend's `OutgoingMessage` is built once, at the claim: a dispatch handles tens of
    thousands of these a second, and copying every field again before the send was measurable.
    """

    id: int
    attempt: int  # the number of this try (attempts after the claim)
    source: str | None  # the account it was routed from (its own, or the primary)
    backend: str  # the account sending it in this run
    message: OutgoingMessage

    def outgoing(self) -> OutgoingMessage:
        return self.message

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.message.recipients


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
    if "," not in value:  # one address: most messages, on every claim
        value = value.strip()
        return (value,) if value else ()
    return tuple(a.strip() for a in value.split(",") if a.strip())


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def driver_cursor(session: Session) -> Any:
    """A cursor of the session's own DBAPI connection, inside its transaction.

    The hot paths of a dispatch on SQLite (claim, bodies, ownership, results) run a few
    statements per batch over hundreds of rows; SQLAlchemy's row objects cost more per row than
    SQLite's work on it. Plain tuples from the driver are what those paths need.
    """
    return session.connection().connection.cursor()


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
            rows: Any = driver_cursor(session).execute(
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


@dataclass
class TakenRows:
    """What a claim's write transaction took off the queue, before the bodies are read.

    `rows` are (id, attempts, account, from_addr, to, cc, bcc, reply_to, subject, tag, stream)
    with the address lists split. Reading bodies and building messages happens after the write
    transaction (`load_claimed`): bodies never change once enqueued, and SQLite's single writer
    lock is the dispatch's bottleneck, so it is held only for the writes.
    """

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    suppressed: list[int] = field(default_factory=list)
    requested: int = 0


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
    taken = take_due(
        session,
        owner=owner,
        backend=backend,
        sources=sources,
        include_unrouted=include_unrouted,
        limit=limit,
        now=now,
        lease_seconds=lease_seconds,
    )
    return load_claimed(session, taken, backend=backend, primary=primary)


def take_due(
    session: Session,
    *,
    owner: str,
    backend: str,
    sources: Sequence[str],
    include_unrouted: bool,
    limit: int,
    now: datetime,
    lease_seconds: float,
) -> TakenRows:
    """The claim's writes: lease up to `limit` due messages, mark those with a suppressed recipient."""
    taken = TakenRows(requested=limit)
    if limit <= 0:
        return taken
    expires = now + timedelta(seconds=lease_seconds)
    if _is_pg(session):
        rows = _take_pg(session, owner, backend, sources, include_unrouted, limit, now, expires)
    else:
        rows = _take_sqlite(session, owner, backend, sources, include_unrouted, limit, now, expires)
    if not rows:
        return taken
    rows.sort()  # by id: RETURNING gives no order
    # Each row's addresses are split once: they serve the suppression check and the message.
    split = [
        (r[0], r[1], r[2], r[3], _split(r[4]), _split(r[5]), _split(r[6]), *r[7:]) for r in rows
    ]
    blocked = suppressed_addresses(session, [a for r in split for a in (*r[4], *r[5], *r[6])])
    if not blocked:
        taken.rows = split
        return taken
    for r in split:
        hit = next((a for a in (*r[4], *r[5], *r[6]) if a.lower() in blocked), None)
        if hit is None:
            taken.rows.append(r)
            continue
        taken.suppressed.append(r[0])
        session.execute(
            update(M)
            .where(M.c.id == r[0], M.c.lease_owner == owner, M.c.attempts == r[1])
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
    return taken


def _take_pg(
    session: Session,
    owner: str,
    backend: str,
    sources: Sequence[str],
    include_unrouted: bool,
    limit: int,
    now: datetime,
    expires: datetime,
) -> list[tuple[Any, ...]]:
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
    # A materialized CTE runs the locking sub-select exactly once: inlined into the UPDATE,
    # PostgreSQL may re-run it during the join and claim more than `limit` rows.
    locked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
    stmt = (
        update(M)
        .where(
            M.c.id.in_(select(locked.c.id)),
            # Re-checked here: another claimer may have changed the row since the CTE read it.
            M.c.status == MessageStatus.QUEUED.value,
        )
        .values(
            status=MessageStatus.SENDING.value,
            lease_owner=owner,
            lease_expires_at=expires,
            attempts=M.c.attempts + 1,
            backend=backend,
            updated_at=now,
        )
        .returning(*CLAIM_COLUMNS)
    )
    return [tuple(r) for r in session.execute(stmt)]


def _take_sqlite(
    session: Session,
    owner: str,
    backend: str,
    sources: Sequence[str],
    include_unrouted: bool,
    limit: int,
    now: datetime,
    expires: datetime,
) -> list[tuple[Any, ...]]:
    """The same UPDATE … RETURNING written for the driver: it runs for every batch dispatched.

    No outer status check: BEGIN IMMEDIATE holds the write lock from the sub-select to the
    update, so the rows it picked are still queued. With that check, SQLite's planner
    (statistics or not) may satisfy it through `ix_message_updated`, reading every queued row's
    index entry on each claim, instead of looking the chosen ids up by primary key.
    """
    stamp = stamp_processor(session.get_bind().dialect)
    route = []
    if sources:
        route.append(f"account IN ({','.join('?' * len(sources))})")
    if include_unrouted:
        route.append("account IS NULL")
    sql = (
        f"UPDATE {M.name} SET status = '{MessageStatus.SENDING.value}', lease_owner = ?, "
        "lease_expires_at = ?, attempts = attempts + 1, backend = ?, updated_at = ? "
        f"WHERE id IN (SELECT id FROM {M.name} WHERE status = '{MessageStatus.QUEUED.value}' "
        f"AND next_attempt_at <= ? AND ({' OR '.join(route) or 'id IS NULL'}) "
        "ORDER BY next_attempt_at, id LIMIT ?) "
        f"RETURNING {', '.join(c.name for c in CLAIM_COLUMNS)}"
    )
    now_b = stamp(now)
    params = (owner, stamp(expires), backend, now_b, now_b, *sources, limit)
    return driver_cursor(session).execute(sql, params).fetchall()


def stamp_processor(dialect: Any) -> Any:
    """What a UTCDateTime column binds on SQLite (the exact stored text), for driver statements.

    The identity elsewhere: on PostgreSQL the values go through SQLAlchemy, which binds them.
    """
    if dialect.name != "sqlite":
        return lambda value: value
    bind = M.c.updated_at.type.dialect_impl(dialect).bind_processor(dialect)
    return bind if bind is not None else (lambda value: value)


def load_claimed(
    session: Session, taken: TakenRows, *, backend: str, primary: str | None
) -> ClaimResult:
    """The claimed messages with their bodies, ready for the backend (any session will do)."""
    result = ClaimResult(requested=taken.requested, suppressed=list(taken.suppressed))
    if not taken.rows:
        return result
    bodies = _bodies(session, [r[0] for r in taken.rows], _is_pg(session))
    append = result.messages.append
    no_body = (None, None, None, None, None)
    for (
        mid,
        attempts,
        account,
        from_addr,
        to,
        cc,
        bcc,
        reply_to,
        subject,
        tag,
        stream,
    ) in taken.rows:
        text, html, raw_headers, template_id, template_data = bodies.get(mid, no_body)
        append(
            ClaimedMessage(
                mid,
                attempts,
                account or primary,
                backend,
                OutgoingMessage(
                    id=mid,
                    from_addr=from_addr,
                    to=to,
                    subject=subject,
                    text=text,
                    html=html,
                    cc=cc,
                    bcc=bcc,
                    reply_to=reply_to,
                    headers=dict(raw_headers) if raw_headers else {},
                    tag=tag,
                    stream=stream,
                    template_id=template_id,
                    template_data=template_data,
                    attempt=attempts,
                ),
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
    cursor = driver_cursor(session)
    for chunk in _chunks(ids):
        sql = (
            "SELECT message_id, text_body, html_body, headers, template_id, template_data "
            f"FROM {B.name} WHERE message_id IN ({','.join('?' * len(chunk))})"
        )
        for mid, text, html, headers, template_id, data in cursor.execute(sql, tuple(chunk)):
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
            rows: Any = driver_cursor(session).execute(
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
