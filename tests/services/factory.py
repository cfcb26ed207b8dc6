"""Building store states for service and CLI tests: rows written through the store models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailconsole.clock import Clock
from mailconsole.config import Config
from mailconsole.context import Actor, AppContext
from mailconsole.store.db import Database
from mailconsole.store.models import DeliveryAttempt, Message, MessageBody, Outage
from tests.conftest import make_config


def sample_config(**sections: Any) -> Config:
    """Two sandbox accounts, primary and fallback, unless sections say otherwise."""
    base: dict[str, Any] = {
        "accounts": {
            "sandbox-main": {
                "type": "sandbox",
                "from": "ops@example.com",
                "latency_ms": 0,
                "failure_rate": 0.0,
                "permanent_rate": 0.0,
            },
            "sandbox-backup": {
                "type": "sandbox",
                "from": "ops@example.com",
                "latency_ms": 0,
                "failure_rate": 0.0,
                "permanent_rate": 0.0,
            },
        },
        "routing": {"primary": "sandbox-main", "fallback": "sandbox-backup"},
    }
    base.update(sections)
    return make_config(**base)


def make_ctx(
    db: Database, clock: Clock, config: Config | None = None, *, read_only: bool = False
) -> AppContext:
    return AppContext(
        config=config or sample_config(),
        db=db,
        clock=clock,
        actor=Actor(name="tester", ssh_client="192.0.2.7", interface="cli"),
        read_only=read_only,
    )


def add_message(
    ctx: AppContext,
    *,
    status: str = "queued",
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
    to: str = "ana@example.com",
    subject: str = "Hello",
    backend: str | None = None,
    account: str | None = None,
    error_code: str | None = None,
    provider_code: str | None = None,
    error: str | None = None,
    attempts: int = 0,
    next_attempt_at: datetime | None = None,
    provider_message_id: str | None = None,
    tag: str | None = None,
    text: str | None = "body",
    html: str | None = None,
    headers: dict[str, str] | None = None,
    replay_of: int | None = None,
) -> int:
    now = ctx.clock.now()
    created = created_at or now
    with ctx.db.writing() as s:
        msg = Message(
            created_at=created,
            updated_at=updated_at or created,
            status=status,
            account=account,
            backend=backend,
            tag=tag,
            from_addr="ops@example.com",
            to_addrs=to,
            subject=subject,
            recipient_domain=to.split(",")[0].rsplit("@", 1)[-1].lower(),
            attempts=attempts,
            next_attempt_at=next_attempt_at or (created if status == "queued" else None),
            last_error_code=error_code,
            last_provider_code=provider_code,
            last_error=error,
            provider_message_id=provider_message_id,
            replay_of=replay_of,
        )
        s.add(msg)
        s.flush()
        assert msg.id is not None
        s.add(MessageBody(message_id=msg.id, text_body=text, html_body=html, headers=headers))
        return msg.id


def add_attempt(
    ctx: AppContext,
    message_id: int,
    *,
    started_at: datetime | None = None,
    outcome: str = "sent",
    backend: str = "sandbox-main",
    error_code: str | None = None,
    error: str | None = None,
    attempt_no: int = 1,
) -> None:
    with ctx.db.writing() as s:
        s.add(
            DeliveryAttempt(
                message_id=message_id,
                attempt_no=attempt_no,
                backend=backend,
                started_at=started_at or ctx.clock.now(),
                duration_ms=12.5,
                outcome=outcome,
                error_code=error_code,
                error_message=error,
            )
        )


def add_outage(
    ctx: AppContext,
    *,
    backend: str = "sandbox-main",
    started_at: datetime,
    ended_at: datetime | None = None,
    code: str = "http_503",
    kind: str = "transient",
) -> None:
    with ctx.db.writing() as s:
        s.add(
            Outage(
                backend=backend,
                kind=kind,
                started_at=started_at,
                ended_at=ended_at,
                first_error_code=code,
                first_error="Service Unavailable",
                last_error_code=code,
                failure_count=3,
            )
        )
