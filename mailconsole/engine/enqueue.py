"""Putting messages on the queue: validation, defaults, and fast bulk inserts.

One path for the Python API, `mailconsole send` and `mailconsole enqueue --jsonl`. Field names
are the same everywhere (`to`, `subject`, `text`, `html`, `from`, `cc`, `bcc`, `reply_to`,
`headers`, `tag`, `backend`, `stream`, `template_id`, `template_data`), so a JSONL line is what
`send`'s options would be. Addresses are checked with `email-validator` (syntax only: no DNS).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, insert, select

from mailconsole.context import AppContext
from mailconsole.errors import ValidationError
from mailconsole.store.models import Message, MessageBody, MessageStatus

FIELDS = (
    "to", "subject", "text", "html", "from", "cc", "bcc", "reply_to",
    "headers", "tag", "backend", "stream", "template_id", "template_data",
)  # fmt: skip
INSERT_CHUNK = 1000
MESSAGE_TABLE = Message.__table__  # type: ignore[attr-defined]
BODY_TABLE = MessageBody.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class NewMessage:
    """A validated message, ready to insert."""

    to: tuple[str, ...]
    subject: str
    from_addr: str
    text: str | None = None
    html: str | None = None
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tag: str | None = None
    account: str | None = None
    stream: str | None = None
    template_id: int | None = None
    template_data: Mapping[str, Any] | None = None
    replay_of: int | None = None

    @property
    def recipient_domain(self) -> str:
        first = (self.to or self.cc or self.bcc)[0]
        return first.rsplit("@", 1)[-1].lower()

    @cached_property
    def size_bytes(self) -> int:
        """Bytes of subject, addresses, bodies and headers (checked against the limit, stored)."""
        size = _utf8_len(self.subject) + sum(len(a) for a in (*self.to, *self.cc, *self.bcc))
        for part in (self.text, self.html):
            if part:
                size += _utf8_len(part)
        if self.headers:
            size += sum(len(k) + len(v) for k, v in self.headers.items())
        if self.template_data:
            size += len(json.dumps(self.template_data, default=str))
        return size


def _utf8_len(text: str) -> int:
    # Most mail is ASCII: its length is its size, without encoding a copy.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


@dataclass
class EnqueueReport:
    accepted: int = 0
    ids: list[int] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line or index, message)

    @property
    def rejected(self) -> int:
        return len(self.errors)


# A plain ASCII dot-atom local part: what email-validator accepts without further rules.
_SIMPLE_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@lru_cache(maxsize=65536)
def _normalized_domain(domain: str) -> str:
    """The domain as email-validator normalizes it (cached: bulk loads repeat few domains)."""
    return validate_email(f"x@{domain}", check_deliverability=False).domain


def normalize_address(raw: str) -> str:
    """Validate one address (syntax only, with email-validator) and return its normalized form.

    Bulk loads are dominated by validation, so the common case — an ASCII dot-atom local part —
    checks the local part with the same rule email-validator applies and the domain once per
    domain; anything else goes through the full validator.
    """
    value = raw.strip()
    if not value:
        raise ValidationError("empty address")
    local, at, domain = value.rpartition("@")
    if at and len(local) <= 64 and len(value) <= 254 and _SIMPLE_LOCAL.fullmatch(local):
        try:
            return f"{local}@{_normalized_domain(domain)}"
        except EmailNotValidError as exc:
            raise ValidationError(f"invalid address {raw!r}: {exc}") from None
    try:
        info = validate_email(value, check_deliverability=False, allow_display_name=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"invalid address {raw!r}: {exc}") from None
    return info.normalized


def _addresses(value: Any, key: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = [v for v in value.split(",")] if isinstance(value, str) else list(value)
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ValidationError(f"{key}: addresses must be strings")
        if item.strip():
            out.append(normalize_address(item))
    return tuple(out)


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list | tuple):
        items = []
        for raw in value:
            if not isinstance(raw, str) or ":" not in raw:
                raise ValidationError(f"header {raw!r} must look like 'Name: value'")
            k, v = raw.split(":", 1)
            items.append((k, v))
    else:
        raise ValidationError("headers must be an object or a list of 'Name: value'")
    out: dict[str, str] = {}
    for k, v in items:
        name, val = str(k).strip(), str(v).strip()
        if not name or any(c in name for c in " \t\r\n:") or any(c in val for c in "\r\n"):
            raise ValidationError(
                f"header {name!r} has an invalid name or a line break in its value"
            )
        out[name] = val
    return out


def build_message(ctx: AppContext, data: Mapping[str, Any]) -> NewMessage:
    """Validate one message given with the public field names; ValidationError names the field."""
    unknown = set(data) - set(FIELDS) - {"from_addr", "replay_of"}
    if unknown:
        raise ValidationError(
            f"unknown field(s) {', '.join(sorted(unknown))}: use {', '.join(FIELDS)}"
        )
    cfg = ctx.config
    limits = cfg.limits
    account = data.get("backend") or None
    if account is not None and account not in cfg.accounts:
        known = ", ".join(sorted(cfg.accounts)) or "none configured"
        raise ValidationError(f"unknown backend {account!r}: configured accounts are {known}")
    to = _addresses(data.get("to"), "to")
    cc = _addresses(data.get("cc"), "cc")
    bcc = _addresses(data.get("bcc"), "bcc")
    if not (to or cc or bcc):
        raise ValidationError("no recipient: give at least one 'to' address")
    if len(to) + len(cc) + len(bcc) > limits.max_recipients:
        raise ValidationError(
            f"{len(to) + len(cc) + len(bcc)} recipients, more than the limit of {limits.max_recipients}"
        )
    subject = data.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise ValidationError("subject is required")
    if len(subject) > limits.max_subject_chars or "\n" in subject or "\r" in subject:
        raise ValidationError(
            f"subject must be one line of at most {limits.max_subject_chars} characters"
        )
    text, html = data.get("text"), data.get("html")
    template_id = data.get("template_id")
    if text is None and html is None and template_id is None:
        raise ValidationError("no body: give text, html, or a template_id")
    for key, val in (("text", text), ("html", html)):
        if val is not None and not isinstance(val, str):
            raise ValidationError(f"{key} must be a string")
    sender = data.get("from") or data.get("from_addr")
    if not sender:
        route = account or cfg.primary_account
        sender = cfg.accounts[route].from_addr if route and route in cfg.accounts else None
    if not sender and not cfg.accounts:
        raise ValidationError(
            f"no sending account is configured ({cfg.source}): add an [accounts.NAME] table "
            "with `from` to the config file (see README), or try `mailconsole demo`"
        )
    if not sender:
        raise ValidationError(
            "no sender: give 'from', or set `from` on the account in the config file"
        )
    template_data = data.get("template_data")
    if template_data is not None and not isinstance(template_data, Mapping):
        raise ValidationError("template_data must be an object")
    msg = NewMessage(
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        from_addr=normalize_address(sender),
        text=text,
        html=html,
        reply_to=normalize_address(data["reply_to"]) if data.get("reply_to") else None,
        headers=_headers(data.get("headers")),
        tag=(str(data["tag"])[:128] if data.get("tag") else None),
        account=account,
        stream=(str(data["stream"])[:64] if data.get("stream") else None),
        template_id=int(template_id) if template_id is not None else None,
        template_data=template_data,
        replay_of=data.get("replay_of"),
    )
    if msg.size_bytes > limits.max_message_bytes:
        raise ValidationError(
            f"message is {msg.size_bytes:,} bytes, over the limit of {limits.max_message_bytes:,} "
            "(limits.max_message_bytes)"
        )
    return msg


def _rows(messages: Sequence[NewMessage], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "created_at": now,
            "updated_at": now,
            "status": MessageStatus.QUEUED.value,
            "account": m.account,
            "stream": m.stream,
            "tag": m.tag,
            "from_addr": m.from_addr,
            "to_addrs": ",".join(m.to),
            "cc_addrs": ",".join(m.cc) or None,
            "bcc_addrs": ",".join(m.bcc) or None,
            "reply_to": m.reply_to,
            "subject": m.subject,
            "recipient_domain": m.recipient_domain,
            "size_bytes": m.size_bytes,
            "attempts": 0,
            "next_attempt_at": now,
            "replay_of": m.replay_of,
        }
        for m in messages
    ]


def _body_rows(messages: Sequence[NewMessage], ids: Sequence[int]) -> list[dict[str, Any]]:
    return [
        {
            "message_id": mid,
            "text_body": m.text,
            "html_body": m.html,
            "headers": dict(m.headers) or None,
            "template_id": m.template_id,
            "template_data": dict(m.template_data) if m.template_data else None,
        }
        for mid, m in zip(ids, messages, strict=True)
    ]


# Column order of the SQLite fast path (`_insert_sqlite`).
_MESSAGE_COLUMNS = (
    "created_at", "updated_at", "status", "account", "stream", "tag", "from_addr", "to_addrs",
    "cc_addrs", "bcc_addrs", "reply_to", "subject", "recipient_domain", "size_bytes", "attempts",
    "next_attempt_at", "replay_of",
)  # fmt: skip
_BODY_COLUMNS = (
    "message_id", "text_body", "html_body", "headers", "template_id", "template_data",
)  # fmt: skip


def _insert_sql(table: Any, columns: Sequence[str]) -> str:
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )


def _insert_sqlite(conn: Any, messages: Sequence[NewMessage], now: datetime) -> list[int]:
    """Insert message and body rows on SQLite; return the new ids in order.

    Bulk loads spend most of their time in per-row parameter processing, so this path does that
    work once: every row of a call shares one timestamp, converted by the column type's own bind
    processor (the stored text is exactly what the ORM writes), and rows go to the driver's
    `executemany` as plain tuples. RETURNING with a guaranteed order would degrade to one
    statement per row, so ids come from what SQLite guarantees instead: inside our write
    transaction (BEGIN IMMEDIATE) new rowids of an INTEGER PRIMARY KEY are max(rowid)+1, +2, … —
    checked against last_insert_rowid().
    """
    dialect = conn.dialect
    # dialect_impl: the processor the ORM itself applies (a TypeDecorator's generic impl would
    # hand the driver a datetime, which sqlite3 formats differently).
    stamp_bind = MESSAGE_TABLE.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    stamp = stamp_bind(now) if stamp_bind else now
    queued = MessageStatus.QUEUED.value
    json_bind = BODY_TABLE.c.headers.type.dialect_impl(dialect).bind_processor(dialect)
    json_null = json_bind(None) if json_bind else None

    def as_json(value: Mapping[str, Any] | None) -> Any:
        if not value:
            return json_null
        return json_bind(dict(value)) if json_bind else dict(value)

    start = conn.execute(select(func.coalesce(func.max(MESSAGE_TABLE.c.id), 0))).scalar_one()
    conn.exec_driver_sql(
        _insert_sql(MESSAGE_TABLE, _MESSAGE_COLUMNS),
        [
            (stamp, stamp, queued, m.account, m.stream, m.tag, m.from_addr, ",".join(m.to),
             ",".join(m.cc) or None, ",".join(m.bcc) or None, m.reply_to, m.subject,
             m.recipient_domain, m.size_bytes, 0, stamp, m.replay_of)
            for m in messages
        ],
    )  # fmt: skip
    last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
    if last != start + len(messages):  # pragma: no cover - would mean rowids were not contiguous
        raise RuntimeError("SQLite rowids were not contiguous during a bulk insert")
    ids = list(range(start + 1, last + 1))
    conn.exec_driver_sql(
        _insert_sql(BODY_TABLE, _BODY_COLUMNS),
        [
            (mid, m.text, m.html, as_json(m.headers), m.template_id, as_json(m.template_data))
            for mid, m in zip(ids, messages, strict=True)
        ],
    )
    return ids


def _insert_returning(conn: Any, messages: Sequence[NewMessage], now: datetime) -> list[int]:
    """Insert message and body rows (PostgreSQL: RETURNING keeps the parameters' order)."""
    ids: list[int] = []
    for start in range(0, len(messages), INSERT_CHUNK):
        chunk = messages[start : start + INSERT_CHUNK]
        result = conn.execute(
            insert(MESSAGE_TABLE).returning(MESSAGE_TABLE.c.id, sort_by_parameter_order=True),
            _rows(chunk, now),
        )
        chunk_ids = [row[0] for row in result]
        conn.execute(insert(BODY_TABLE), _body_rows(chunk, chunk_ids))
        ids.extend(chunk_ids)
    return ids


def insert_messages(ctx: AppContext, messages: Sequence[NewMessage]) -> list[int]:
    """Insert validated messages in one transaction (bulk inserts); returns their ids in order."""
    if not messages:
        return []
    ctx.require_writable("enqueue")
    now = ctx.clock.now()
    with ctx.db.writing() as session:
        conn = session.connection()
        if ctx.db.is_sqlite:
            return _insert_sqlite(conn, messages, now)
        return _insert_returning(conn, messages, now)


def enqueue(ctx: AppContext, data: Mapping[str, Any]) -> int:
    """Validate and queue one message; returns its id."""
    return insert_messages(ctx, [build_message(ctx, data)])[0]


def enqueue_many(
    ctx: AppContext,
    items: Iterable[tuple[int, Mapping[str, Any] | str]],
    *,
    atomic: bool = False,
    chunk: int = 5000,
) -> EnqueueReport:
    """Queue many messages given as (line number, dict or error text) pairs.

    A bad item is reported with its line number and the rest still load; with `atomic`, any bad
    item means nothing loads. Valid items are inserted in chunks, so memory stays bounded.
    """
    ctx.require_writable("enqueue")
    report = EnqueueReport()
    pending: list[NewMessage] = []
    if atomic:
        validated: list[NewMessage] = []
        for lineno, data in items:
            try:
                validated.append(_parse_item(ctx, data))
            except ValidationError as exc:
                report.errors.append((lineno, str(exc)))
        if report.errors:
            return report
        report.ids = insert_messages(ctx, validated)
        report.accepted = len(report.ids)
        return report
    # The inserts of one chunk run in a writer thread while the next chunk is validated: the
    # driver releases the GIL inside SQLite, so a bulk load uses a second core. One chunk at a
    # time is in flight (ids stay in order, memory stays bounded); an insert error surfaces at
    # the next hand-over, and nothing is left running when this returns or raises.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="enqueue-writer") as writer:
        in_flight: Future[list[int]] | None = None
        try:
            for lineno, data in items:
                try:
                    pending.append(_parse_item(ctx, data))
                except ValidationError as exc:
                    report.errors.append((lineno, str(exc)))
                    continue
                if len(pending) >= chunk:
                    if in_flight is not None:
                        report.ids.extend(in_flight.result())
                    in_flight = writer.submit(insert_messages, ctx, pending)
                    pending = []
            if in_flight is not None:
                report.ids.extend(in_flight.result())
                in_flight = None
        finally:
            if in_flight is not None:  # an error in this thread: let the insert finish first
                in_flight.exception()
    report.ids.extend(insert_messages(ctx, pending))
    report.accepted = len(report.ids)
    return report


def _parse_item(ctx: AppContext, data: Mapping[str, Any] | str) -> NewMessage:
    if isinstance(data, str):
        raise ValidationError(data)
    if not isinstance(data, Mapping):
        raise ValidationError("each line must be a JSON object")
    return build_message(ctx, data)


def read_jsonl(lines: Iterable[str]) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    """Parse JSONL lazily; a malformed line yields its error text instead of a dict."""
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield lineno, f"not valid JSON: {exc.msg} at column {exc.colno}"
            continue
        if not isinstance(obj, dict):
            yield lineno, "each line must be a JSON object"
            continue
        yield lineno, obj
