"""The message filter shared by the Mail logs screen, `logs export`, `retry` and bulk actions.

A bulk action acts on the database filter, never on the rows on screen, so one `MessageFilter`
means the same set everywhere. The console's filter bar speaks a small language:

    status:dead,bounced domain:gmail.com err:http_5 backend:postmark-main since:2h until:30m
    tag:welcome id:12,13 replay:7  free text words

Free text (and `--search`) matches subject, recipients, error message, provider message id and
error code, so `http_5` finds every 5xx.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, text

from mailconsole.clock import ensure_utc, parse_duration
from mailconsole.errors import ValidationError
from mailconsole.store.models import FLOWING_STATUSES, SETTLED_SQL, Message, MessageStatus

STATUS_VALUES = {s.value for s in MessageStatus}
KEYS = (
    "status",
    "domain",
    "err",
    "backend",
    "since",
    "until",
    "tag",
    "id",
    "replay",
    "to",
    "stream",
)


@dataclass(frozen=True)
class MessageFilter:
    statuses: tuple[str, ...] = ()
    search: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    backend: str | None = None
    error_code: str | None = None  # a prefix: "http_5" matches http_500…http_599
    domain: str | None = None
    tag: str | None = None
    ids: tuple[int, ...] = ()
    replay_of: int | None = None
    recipient: str | None = None
    stream: str | None = None

    def is_empty(self) -> bool:
        return self == MessageFilter()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description (for the audit trail and exports)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value in (None, ()):
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def with_(self, **changes: Any) -> MessageFilter:
        return replace(self, **changes)

    def describe(self) -> str:
        """The filter as the filter-bar language (round-trips through `parse_filter`)."""
        parts: list[str] = []
        if self.statuses:
            parts.append("status:" + ",".join(self.statuses))
        for key, value in (
            ("domain", self.domain), ("err", self.error_code), ("backend", self.backend),
            ("tag", self.tag), ("to", self.recipient), ("stream", self.stream),
            ("replay", self.replay_of),
        ):  # fmt: skip
            if value is not None:
                parts.append(f"{key}:{value}")
        if self.ids:
            parts.append("id:" + ",".join(str(i) for i in self.ids))
        if self.since:
            parts.append("since:" + self.since.strftime("%Y-%m-%dT%H:%M:%SZ"))
        if self.until:
            parts.append("until:" + self.until.strftime("%Y-%m-%dT%H:%M:%SZ"))
        if self.search:
            parts.append(shlex.quote(self.search) if " " in self.search else self.search)
        return " ".join(parts)


def parse_time(value: str, now: datetime) -> datetime:
    """`2h` (ago), `2026-11-24`, `2026-11-24T10:00` or `…Z`: aware UTC."""
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"bad time {value!r}: use a duration ago (2h, 7d) or a date (2026-11-24T10:00Z)"
        ) from None
    return ensure_utc(parsed)


def parse_statuses(value: str) -> tuple[str, ...]:
    items = tuple(v.strip().lower() for v in value.split(",") if v.strip())
    bad = [v for v in items if v not in STATUS_VALUES]
    if bad:
        raise ValidationError(f"unknown status {bad[0]!r}: use {', '.join(sorted(STATUS_VALUES))}")
    return items


def parse_ids(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ValidationError(f"bad id list {value!r}: use numbers separated by commas") from None


def parse_filter(expression: str, now: datetime) -> MessageFilter:
    """Parse the filter-bar language; ValidationError names the bad term."""
    try:
        tokens = shlex.split(expression)
    except ValueError as exc:
        raise ValidationError(f"bad filter: {exc}") from None
    values: dict[str, Any] = {}
    words: list[str] = []
    for token in tokens:
        key, sep, value = token.partition(":")
        key = key.lower()
        if not sep or key not in KEYS:
            words.append(token)
            continue
        if not value:
            raise ValidationError(f"filter term {token!r} has no value")
        if key == "status":
            values["statuses"] = parse_statuses(value)
        elif key == "since":
            values["since"] = parse_time(value, now)
        elif key == "until":
            values["until"] = parse_time(value, now)
        elif key == "id":
            values["ids"] = parse_ids(value)
        elif key == "replay":
            values["replay_of"] = parse_ids(value)[0]
        elif key == "err":
            values["error_code"] = value
        elif key == "to":
            values["recipient"] = value
        else:
            values[key] = value
    if words:
        values["search"] = " ".join(words)
    return MessageFilter(**values)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def conditions(flt: MessageFilter) -> list[ColumnElement[bool]]:
    """SQL conditions on `message` for a filter (AND them together)."""
    conds: list[ColumnElement[bool]] = []
    if flt.statuses:
        conds.append(Message.status.in_(flt.statuses))  # type: ignore[attr-defined]
    if flt.since:
        conds.append(Message.created_at >= flt.since)  # type: ignore[arg-type,operator]
    if flt.until:
        conds.append(Message.created_at < flt.until)  # type: ignore[arg-type,operator]
    if flt.backend:
        conds.append(
            or_(
                Message.backend == flt.backend,
                and_(Message.backend.is_(None), Message.account == flt.backend),
            )
        )  # type: ignore[union-attr]
    if flt.error_code:
        conds.append(Message.last_error_code.like(_like_escape(flt.error_code) + "%", escape="\\"))  # type: ignore[union-attr]
    if flt.domain:
        conds.append(Message.recipient_domain == flt.domain.lower().lstrip("@"))
        if flt.statuses and not set(flt.statuses) & set(FLOWING_STATUSES):
            # Redundant, but lets SQLite count a domain's dead or sent messages from the partial
            # ix_message_domain_status (it matches a partial index's WHERE only as written).
            conds.append(text(SETTLED_SQL))
    if flt.tag:
        conds.append(Message.tag == flt.tag)
    if flt.stream:
        conds.append(Message.stream == flt.stream)
    if flt.ids:
        conds.append(Message.id.in_(flt.ids))  # type: ignore[union-attr]
    if flt.replay_of is not None:
        conds.append(Message.replay_of == flt.replay_of)
    if flt.recipient:
        pattern = "%" + _like_escape(flt.recipient.lower()) + "%"
        conds.append(Message.to_addrs.like(pattern, escape="\\"))  # type: ignore[attr-defined]
    if flt.search:
        for word in flt.search.split():
            pattern = "%" + _like_escape(word) + "%"
            conds.append(
                or_(
                    Message.subject.ilike(pattern, escape="\\"),  # type: ignore[attr-defined]
                    Message.to_addrs.ilike(pattern, escape="\\"),  # type: ignore[attr-defined]
                    Message.last_error.ilike(pattern, escape="\\"),  # type: ignore[union-attr]
                    Message.provider_message_id.ilike(pattern, escape="\\"),  # type: ignore[union-attr]
                    Message.last_error_code.ilike(pattern, escape="\\"),  # type: ignore[union-attr]
                )
            )
    return conds


def apply_filter(stmt: Any, flt: MessageFilter) -> Any:
    conds = conditions(flt)
    return stmt.where(and_(*conds)) if conds else stmt


__all__ = ["MessageFilter", "apply_filter", "conditions", "parse_filter", "parse_time"]
