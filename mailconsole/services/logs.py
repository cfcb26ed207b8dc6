"""The mail log: pages over millions of messages, counts, one message's detail, and exports.

Pages are keyset pages over (created_at, id), newest first — `WHERE (created_at, id) < (?, ?)
ORDER BY created_at DESC, id DESC LIMIT n` on `ix_message_created` (or
`ix_message_status_created` with a status filter) — so page 10,000 costs what page 1 costs.
Listing queries name their columns and never touch `message_body`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, func, select, tuple_

from mailconsole.context import AppContext
from mailconsole.errors import NotFoundError, ValidationError
from mailconsole.services._readmodel import ReadModel
from mailconsole.services.filters import MessageFilter, conditions
from mailconsole.store.models import DeliveryAttempt, DeliveryEvent, Message, MessageBody

Direction = Literal["older", "newer"]
MAX_PAGE = 5000


@dataclass(frozen=True)
class MessageRow(ReadModel):
    """One message as listed: metadata only, never the body."""

    id: int
    created_at: datetime
    updated_at: datetime
    status: str
    account: str | None
    backend: str | None
    from_addr: str
    to_addrs: str
    subject: str
    recipient_domain: str
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error_code: str | None
    last_provider_code: str | None
    last_error: str | None
    provider_message_id: str | None
    replay_of: int | None
    tag: str | None

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.created_at, self.id)


ROW_FIELDS = tuple(f.name for f in fields(MessageRow))
ROW_COLUMNS = tuple(getattr(Message, name) for name in ROW_FIELDS)


@dataclass(frozen=True)
class Cursor(ReadModel):
    """A position in the keyset order: the (created_at, id) of a row."""

    created_at: datetime
    id: int


@dataclass(frozen=True)
class Page(ReadModel):
    rows: list[MessageRow]  # newest first, whatever the direction of travel
    first_cursor: Cursor | None  # of the first (newest) row
    last_cursor: Cursor | None  # of the last (oldest) row
    has_more: bool  # more rows beyond this page in the direction of travel
    has_older: bool
    has_newer: bool
    direction: Direction = "older"


@dataclass(frozen=True)
class AttemptView(ReadModel):
    attempt_no: int
    at: datetime
    backend: str
    outcome: str
    error_code: str | None
    provider_code: str | None
    error_message: str | None
    duration_ms: float
    provider_message_id: str | None


@dataclass(frozen=True)
class EventView(ReadModel):
    at: datetime
    type: str
    recipient: str | None
    detail: str | None
    backend: str | None


@dataclass(frozen=True)
class BodyView(ReadModel):
    text: str | None
    html: str | None
    headers: dict[str, str]
    template_id: int | None
    template_data: dict[str, Any] | None


@dataclass(frozen=True)
class MessageDetail(ReadModel):
    row: MessageRow
    cc_addrs: str | None
    bcc_addrs: str | None
    reply_to: str | None
    stream: str | None
    size_bytes: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    body: BodyView | None  # None when the body was not kept (log_detail = "metadata")
    attempts: list[AttemptView]  # oldest first
    events: list[EventView]  # oldest first
    replays: list[MessageRow]  # messages that replay this one (resends), oldest first
    replay_source: MessageRow | None  # the message this one replays


def _row(values: Any) -> MessageRow:
    return MessageRow(**dict(zip(ROW_FIELDS, values, strict=True)))


def _listing(flt: MessageFilter) -> Any:
    conds = conditions(flt)
    stmt = select(*ROW_COLUMNS)
    return stmt.where(and_(*conds)) if conds else stmt


KEY = tuple_(Message.created_at, Message.id)
NEWEST_FIRST = (Message.created_at.desc(), Message.id.desc())  # type: ignore[attr-defined,union-attr]
OLDEST_FIRST = (Message.created_at.asc(), Message.id.asc())  # type: ignore[attr-defined,union-attr]


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"page size {limit} is out of range: use 1 to {MAX_PAGE}")


def page_messages(
    ctx: AppContext,
    flt: MessageFilter,
    *,
    cursor: Cursor | None = None,
    direction: Direction = "older",
    limit: int = 200,
) -> Page:
    """One page of the filtered log, before (`older`) or after (`newer`) a cursor.

    Without a cursor, `older` is the newest page and `newer` the oldest one.
    """
    _check_limit(limit)
    if direction not in ("older", "newer"):
        raise ValidationError(f"direction {direction!r}: use 'older' or 'newer'")
    stmt = _listing(flt)
    if direction == "older":
        if cursor is not None:
            stmt = stmt.where(tuple_(cursor.created_at, cursor.id) > KEY)
        stmt = stmt.order_by(*NEWEST_FIRST)
    else:
        if cursor is not None:
            stmt = stmt.where(tuple_(cursor.created_at, cursor.id) < KEY)
        stmt = stmt.order_by(*OLDEST_FIRST)
    with ctx.db.reading() as session:
        found = [_row(r) for r in session.execute(stmt.limit(limit + 1)).all()]
    has_more = len(found) > limit
    rows = found[:limit]
    if direction == "newer":
        rows.reverse()
    return Page(
        rows=rows,
        first_cursor=rows[0].cursor if rows else None,
        last_cursor=rows[-1].cursor if rows else None,
        has_more=has_more,
        has_older=has_more if direction == "older" else cursor is not None,
        has_newer=has_more if direction == "newer" else cursor is not None,
        direction=direction,
    )


def oldest_page(ctx: AppContext, flt: MessageFilter, limit: int = 200) -> Page:
    """The last page (the oldest rows), for jumping to the end of the log."""
    return page_messages(ctx, flt, cursor=None, direction="newer", limit=limit)


def count_messages(ctx: AppContext, flt: MessageFilter) -> int:
    conds = conditions(flt)
    stmt = select(func.count()).select_from(Message)
    if conds:
        stmt = stmt.where(and_(*conds))
    with ctx.db.reading() as session:
        return int(session.execute(stmt).scalar_one())


def iter_messages(ctx: AppContext, flt: MessageFilter, chunk: int = 5000) -> Iterator[MessageRow]:
    """Every matching row, newest first, in keyset chunks: constant memory for any count.

    Each chunk is its own short read, so a long export never holds a transaction open.
    """
    _check_limit(chunk)
    cursor: Cursor | None = None
    while True:
        page = page_messages(ctx, flt, cursor=cursor, direction="older", limit=chunk)
        yield from page.rows
        if not page.has_more or page.last_cursor is None:
            return
        cursor = page.last_cursor


def get_row(ctx: AppContext, message_id: int) -> MessageRow:
    with ctx.db.reading() as session:
        found = session.execute(select(*ROW_COLUMNS).where(Message.id == message_id)).first()
    if found is None:
        raise NotFoundError(f"no message with id {message_id}: check the id in `logs export`")
    return _row(found)


def message_detail(ctx: AppContext, message_id: int) -> MessageDetail:
    """One message with its body and timeline: attempts, provider events, resends."""
    with ctx.db.reading() as session:
        msg = session.get(Message, message_id)
        if msg is None:
            raise NotFoundError(f"no message with id {message_id}")
        body = session.get(MessageBody, message_id)
        attempts = session.execute(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.message_id == message_id)
            .order_by(DeliveryAttempt.attempt_no, DeliveryAttempt.started_at, DeliveryAttempt.id)  # type: ignore[arg-type]
        ).scalars()
        attempt_views = [
            AttemptView(
                attempt_no=a.attempt_no,
                at=a.started_at,
                backend=a.backend,
                outcome=a.outcome,
                error_code=a.error_code,
                provider_code=a.provider_code,
                error_message=a.error_message,
                duration_ms=a.duration_ms,
                provider_message_id=a.provider_message_id,
            )
            for a in attempts
        ]
        events = session.execute(
            select(DeliveryEvent)
            .where(DeliveryEvent.message_id == message_id)
            .order_by(DeliveryEvent.occurred_at, DeliveryEvent.id)  # type: ignore[arg-type]
        ).scalars()
        event_views = [
            EventView(
                at=e.occurred_at,
                type=e.event_type,
                recipient=e.recipient,
                detail=e.detail,
                backend=e.backend,
            )
            for e in events
        ]
        replays = [
            _row(r)
            for r in session.execute(
                select(*ROW_COLUMNS)
                .where(Message.replay_of == message_id)
                .order_by(*OLDEST_FIRST)
                .limit(100)
            ).all()
        ]
        source = None
        if msg.replay_of is not None:
            found = session.execute(select(*ROW_COLUMNS).where(Message.id == msg.replay_of)).first()
            source = _row(found) if found else None
        row = _row(tuple(getattr(msg, name) for name in ROW_FIELDS))
    return MessageDetail(
        row=row,
        cc_addrs=msg.cc_addrs,
        bcc_addrs=msg.bcc_addrs,
        reply_to=msg.reply_to,
        stream=msg.stream,
        size_bytes=msg.size_bytes,
        lease_owner=msg.lease_owner,
        lease_expires_at=msg.lease_expires_at,
        body=(
            BodyView(
                text=body.text_body,
                html=body.html_body,
                headers=dict(body.headers or {}),
                template_id=body.template_id,
                template_data=body.template_data,
            )
            if body is not None
            else None
        ),
        attempts=attempt_views,
        events=event_views,
        replays=replays,
        replay_source=source,
    )


__all__ = [
    "AttemptView",
    "BodyView",
    "Cursor",
    "EventView",
    "MessageDetail",
    "MessageRow",
    "Page",
    "count_messages",
    "get_row",
    "iter_messages",
    "message_detail",
    "oldest_page",
    "page_messages",
]
