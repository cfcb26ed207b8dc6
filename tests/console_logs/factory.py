"""Fixed test data for the Mail logs and Dead letters screens, written with Core bulk inserts.

The screens only read through services; tests build their data here, directly in the store,
so the same rows appear in every run (snapshots stay stable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from mailconsole.store.db import Database
from mailconsole.store.models import DeliveryAttempt, DeliveryEvent, Message, MessageBody


@dataclass
class Msg:
    """One message to insert; `age_s` is how long before `now` it was created."""

    age_s: float
    status: str = "sent"
    to: str = "ann@example.com"
    subject: str = "Your receipt"
    backend: str | None = "postmark-main"
    attempts: int = 1
    error_code: str | None = None
    provider_code: str | None = None
    error: str | None = None
    tag: str | None = None
    replay_of: int | None = None
    body: str | None = "Hello"
    attempt_rows: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def message_row(m: Msg, now: datetime) -> dict[str, Any]:
    created = now - timedelta(seconds=m.age_s)
    return {
        "created_at": created,
        "updated_at": created + timedelta(seconds=30),
        "status": m.status,
        "account": None,
        "backend": m.backend,
        "stream": None,
        "tag": m.tag,
        "from_addr": "ops@example.com",
        "to_addrs": m.to,
        "subject": m.subject,
        "recipient_domain": m.to.split(",")[0].rsplit("@", 1)[-1].lower(),
        "size_bytes": 100,
        "attempts": m.attempts,
        "next_attempt_at": created if m.status == "queued" else None,
        "last_error_code": m.error_code,
        "last_provider_code": m.provider_code,
        "last_error": m.error,
        "provider_message_id": None,
        "replay_of": m.replay_of,
    }


def add_messages(db: Database, messages: Sequence[Msg], now: datetime) -> list[int]:
    """Insert messages (with bodies, attempts and events); returns their ids in order."""
    ids: list[int] = []
    with db.writing() as s:
        for m in messages:
            mid = s.execute(
                insert(Message).returning(Message.id), [message_row(m, now)]
            ).scalar_one()
            ids.append(mid)
            if m.body is not None:
                s.execute(insert(MessageBody), [{"message_id": mid, "text_body": m.body}])
            created = now - timedelta(seconds=m.age_s)
            for n, a in enumerate(m.attempt_rows, start=1):
                row = {
                    "message_id": mid,
                    "attempt_no": n,
                    "backend": m.backend or "postmark-main",
                    "started_at": created + timedelta(seconds=10 * n),
                    "duration_ms": 120.0,
                    "outcome": "sent",
                    "error_code": None,
                    "provider_code": None,
                    "error_message": None,
                    "provider_message_id": None,
                }
                row.update(a)
                s.execute(insert(DeliveryAttempt), [row])
            for e in m.events:
                row = {
                    "message_id": mid,
                    "backend": m.backend,
                    "event_type": "delivered",
                    "occurred_at": created + timedelta(seconds=60),
                    "received_at": created + timedelta(seconds=61),
                    "detail": None,
                }
                row.update(e)
                s.execute(insert(DeliveryEvent), [row])
    return ids
