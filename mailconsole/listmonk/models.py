"""Typed views of what Listmonk's API answers, so callers never index raw JSON.

Listmonk's JSON is taken as untrusted and loosely shaped (missing keys, nulls, versions that add
fields): every parser tolerates absent values and keeps the raw object for anything not modelled.
Timestamps are parsed to aware UTC. Text fields are returned as sent; display goes through
`mailconsole.sanitize.safe_text`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

CAMPAIGN_STATUSES = ("draft", "scheduled", "running", "paused", "cancelled", "finished")
ANALYTICS_KINDS = ("views", "clicks", "bounces")


def parse_time(value: Any) -> datetime | None:
    """Listmonk timestamp (RFC 3339, sometimes with a space or a 'Z') → aware UTC, or None."""
    if value in (None, "", "null"):
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip().replace(" ", "T", 1)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_time(value: datetime | date) -> str:
    """An aware datetime (or a date) in the form Listmonk accepts: RFC 3339 without microseconds."""
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return dt.astimezone(UTC).replace(microsecond=0).isoformat()
    return value.isoformat()


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _opt_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _tags(value: Any) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return ()
    return tuple(str(t) for t in value)


def _headers(value: Any) -> tuple[dict[str, str], ...]:
    """Listmonk headers are a list of one-key objects: [{"X-Tag": "a"}, …]."""
    if isinstance(value, Mapping):
        return tuple({str(k): _str(v)} for k, v in value.items())
    if not isinstance(value, Sequence) or isinstance(value, str):
        return ()
    out: list[dict[str, str]] = []
    for item in value:
        if isinstance(item, Mapping):
            out.append({str(k): _str(v) for k, v in item.items()})
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ListRef:
    """A list as a campaign refers to it."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    uuid: str
    name: str
    subject: str
    from_email: str
    status: str
    type: str
    content_type: str
    lists: tuple[ListRef, ...]
    tags: tuple[str, ...]
    headers: tuple[dict[str, str], ...]
    template_id: int | None
    messenger: str
    to_send: int
    sent: int
    views: int
    clicks: int
    bounces: int
    send_at: datetime | None
    started_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    body: str = ""  # empty when fetched with no_body
    altbody: str | None = None
    archive: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Campaign:
        lists = tuple(
            ListRef(id=_int(item.get("id")), name=_str(item.get("name")))
            for item in (data.get("lists") or [])
            if isinstance(item, Mapping)
        )
        return cls(
            id=_int(data.get("id")),
            uuid=_str(data.get("uuid")),
            name=_str(data.get("name")),
            subject=_str(data.get("subject")),
            from_email=_str(data.get("from_email")),
            status=_str(data.get("status")),
            type=_str(data.get("type")) or "regular",
            content_type=_str(data.get("content_type")) or "richtext",
            lists=lists,
            tags=_tags(data.get("tags")),
            headers=_headers(data.get("headers")),
            template_id=_opt_int(data.get("template_id")),
            messenger=_str(data.get("messenger")) or "email",
            to_send=_int(data.get("to_send")),
            sent=_int(data.get("sent")),
            views=_int(data.get("views")),
            clicks=_int(data.get("clicks")),
            bounces=_int(data.get("bounces")),
            send_at=parse_time(data.get("send_at")),
            started_at=parse_time(data.get("started_at")),
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
            body=_str(data.get("body")),
            altbody=data.get("altbody") if isinstance(data.get("altbody"), str) else None,
            archive=bool(data.get("archive")),
            raw=dict(data),
        )

    @property
    def list_ids(self) -> tuple[int, ...]:
        return tuple(ref.id for ref in self.lists)

    @property
    def progress(self) -> float | None:
        """Sent ÷ to_send, or None before there is an audience."""
        if self.to_send <= 0:
            return None
        return min(1.0, self.sent / self.to_send)

    def request_body(self, *, send_at: datetime | None = None) -> dict[str, Any]:
        """The campaign as a CampaignRequest (PUT /api/campaigns/{id}, the test-send body).

        Listmonk re-validates `send_at` on every update and refuses one in the past, so it is
        only sent when given (scheduling); otherwise `send_later` is false.
        """
        body: dict[str, Any] = {
            "name": self.name,
            "subject": self.subject,
            "lists": list(self.list_ids),
            "from_email": self.from_email,
            "content_type": self.content_type,
            "messenger": self.messenger,
            "type": self.type,
            "tags": list(self.tags),
            "headers": [dict(h) for h in self.headers],
            "body": self.body,
            "altbody": self.altbody,
            "archive": self.archive,
            "send_later": send_at is not None,
            "send_at": format_time(send_at) if send_at is not None else None,
        }
        if self.template_id is not None:
            body["template_id"] = self.template_id
        return body


@dataclass(frozen=True, slots=True)
class MailingList:
    """A subscriber list. `type` public|private (|temporary), `optin` single|double."""

    id: int
    uuid: str
    name: str
    type: str
    optin: str
    tags: tuple[str, ...]
    subscriber_count: int
    subscriber_statuses: Mapping[str, int]
    description: str
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> MailingList:
        statuses = data.get("subscriber_statuses")
        return cls(
            id=_int(data.get("id")),
            uuid=_str(data.get("uuid")),
            name=_str(data.get("name")),
            type=_str(data.get("type")),
            optin=_str(data.get("optin")),
            tags=_tags(data.get("tags")),
            subscriber_count=_int(data.get("subscriber_count")),
            subscriber_statuses=(
                {str(k): _int(v) for k, v in statuses.items()}
                if isinstance(statuses, Mapping)
                else {}
            ),
            description=_str(data.get("description")),
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
        )

    @property
    def is_public(self) -> bool:
        return self.type == "public"

    @property
    def is_double_optin(self) -> bool:
        return self.optin == "double"


@dataclass(frozen=True, slots=True)
class Subscription:
    """One list a subscriber is on, with their status on it."""

    id: int
    name: str
    type: str
    optin: str
    subscription_status: str  # unconfirmed | confirmed | unsubscribed


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    uuid: str
    email: str
    name: str
    status: str  # enabled | disabled | blocklisted
    attribs: Mapping[str, Any]
    lists: tuple[Subscription, ...]
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Subscriber:
        attribs = data.get("attribs")
        return cls(
            id=_int(data.get("id")),
            uuid=_str(data.get("uuid")),
            email=_str(data.get("email")),
            name=_str(data.get("name")),
            status=_str(data.get("status")),
            attribs=dict(attribs) if isinstance(attribs, Mapping) else {},
            lists=tuple(
                Subscription(
                    id=_int(item.get("id")),
                    name=_str(item.get("name")),
                    type=_str(item.get("type")),
                    optin=_str(item.get("optin")),
                    subscription_status=_str(item.get("subscription_status")),
                )
                for item in (data.get("lists") or [])
                if isinstance(item, Mapping)
            ),
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
        )


@dataclass(frozen=True, slots=True)
class Bounce:
    id: int
    type: str  # soft | hard | complaint
    source: str
    email: str
    subscriber_id: int | None
    subscriber_uuid: str
    campaign_id: int | None
    campaign_name: str | None
    meta: Mapping[str, Any]
    created_at: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Bounce:
        campaign = data.get("campaign")
        meta = data.get("meta")
        return cls(
            id=_int(data.get("id")),
            type=_str(data.get("type")),
            source=_str(data.get("source")),
            email=_str(data.get("email")),
            subscriber_id=_opt_int(data.get("subscriber_id")),
            subscriber_uuid=_str(data.get("subscriber_uuid")),
            campaign_id=_opt_int(campaign.get("id")) if isinstance(campaign, Mapping) else None,
            campaign_name=(_str(campaign.get("name")) if isinstance(campaign, Mapping) else None),
            meta=dict(meta) if isinstance(meta, Mapping) else {},
            created_at=parse_time(data.get("created_at")),
        )


@dataclass(frozen=True, slots=True)
class RunningStats:
    """Progress of a running campaign (GET /api/campaigns/running/stats)."""

    id: int
    status: str
    to_send: int
    sent: int
    started_at: datetime | None
    updated_at: datetime | None
    rate: float  # messages per minute over the last minute
    net_rate: float  # messages per minute since the start

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> RunningStats:
        def num(value: Any) -> float:
            try:
                return float(value)
            except (TypeError, ValueError):
                return 0.0

        return cls(
            id=_int(data.get("id")),
            status=_str(data.get("status")),
            to_send=_int(data.get("to_send")),
            sent=_int(data.get("sent")),
            started_at=parse_time(data.get("started_at")),
            updated_at=parse_time(data.get("updated_at")),
            rate=num(data.get("rate")),
            net_rate=num(data.get("net_rate")),
        )


@dataclass(frozen=True, slots=True)
class AnalyticsCount:
    """One day's count of views, clicks or bounces for one campaign."""

    campaign_id: int
    count: int
    timestamp: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> AnalyticsCount:
        return cls(
            campaign_id=_int(data.get("campaign_id")),
            count=_int(data.get("count")),
            timestamp=parse_time(data.get("timestamp")),
        )


@dataclass(frozen=True, slots=True)
class ImportStatus:
    """The importer's state: none | importing | stopping | stopped | finished | failed."""

    name: str
    total: int
    imported: int
    status: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ImportStatus:
        return cls(
            name=_str(data.get("name")),
            total=_int(data.get("total")),
            imported=_int(data.get("imported")),
            status=_str(data.get("status")) or "none",
        )

    @property
    def running(self) -> bool:
        return self.status in ("importing", "stopping")

    @property
    def done(self) -> bool:
        return self.status in ("finished", "failed", "stopped", "none")

    @property
    def progress(self) -> float | None:
        if self.total <= 0:
            return None
        return min(1.0, self.imported / self.total)


@dataclass(frozen=True, slots=True)
class Template:
    id: int
    name: str
    type: str  # campaign | campaign_visual | tx
    subject: str
    is_default: bool
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Template:
        return cls(
            id=_int(data.get("id")),
            name=_str(data.get("name")),
            type=_str(data.get("type")),
            subject=_str(data.get("subject")),
            is_default=bool(data.get("is_default")),
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
        )
