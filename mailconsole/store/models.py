"""The store's tables (sqlmodel on SQLAlchemy 2).

Bodies live in `message_body`, apart from `message`, so listing, counting and claiming never
read them. Indexes are named and chosen for the hot queries: the claim (status, next attempt),
the log listing (created_at, id keyset, optionally by status), the metrics (attempts by time),
and lookups by provider id. Changing a model means changing the migration too
(tests/test_store.py compares them): migration 0001 is frozen, so a change
is a new hand-written migration in `store/migrations/versions/`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from mailconsole.store.types import UTCDateTime

# BigInteger ids on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
IdType = BigInteger().with_variant(Integer(), "sqlite")


class MessageStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    DEAD = "dead"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"


BACKLOG_STATUSES = (MessageStatus.QUEUED, MessageStatus.SENDING)
# What a retry may act on: failed or stopped messages, never sent/queued/suppressed ones.
RETRYABLE_STATUSES = (MessageStatus.DEAD, MessageStatus.BOUNCED, MessageStatus.CANCELLED)


# Statuses a message leaves again by itself (the dispatch moves it on); every other is settled
# until an operator acts. As literal SQL: SQLite uses a partial index only when the query holds
# its WHERE term as written.
FLOWING_STATUSES = (MessageStatus.QUEUED.value, MessageStatus.SENDING.value)
SETTLED_SQL = "status NOT IN ('queued', 'sending')"


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Message(SQLModel, table=True):
    """One outbound email and its state in the life cycle (DESIGN.md)."""

    __tablename__ = "message"
    __table_args__ = (
        # Partial indexes (migration 0003) hold only the rows their queries look for, so a message
        # sent at its first try enters and leaves them once or never: every index entry a
        # dispatch moves is SQLite work under its single writer lock.
        Index(
            "ix_message_claim",
            "status",
            "next_attempt_at",
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
        Index("ix_message_created", "created_at", "id"),
        Index("ix_message_status_created", "status", "created_at", "id"),
        # Settled rows only: a claim and a record would move an entry for each message's domain,
        # scattered across the index. A query needs the term `SETTLED_SQL` verbatim to use it on
        # SQLite (see services/filters.py); the backlog by domain reads ix_message_backlog.
        Index(
            "ix_message_domain_status",
            "recipient_domain",
            "status",
            sqlite_where=text(SETTLED_SQL),
            postgresql_where=text(SETTLED_SQL),
        ),
        # The Mail logs' domain filter pages in (created_at, id) order; never moves on updates.
        Index("ix_message_domain_created", "recipient_domain", "created_at", "id"),
        Index("ix_message_error_code", "last_error_code", "status"),
        # Covers the backlog figures (count, oldest, next attempt per route) of queue_status:
        # an index-only scan over queued/sending rows instead of reading them from the table.
        Index(
            "ix_message_backlog", "status", "backend", "account", "created_at", "next_attempt_at"
        ),
        Index(
            "ix_message_lease",
            "lease_expires_at",
            sqlite_where=text("lease_expires_at IS NOT NULL"),
            postgresql_where=text("lease_expires_at IS NOT NULL"),
        ),
        Index(
            "ix_message_replay_of",
            "replay_of",
            sqlite_where=text("replay_of IS NOT NULL"),
            postgresql_where=text("replay_of IS NOT NULL"),
        ),
        Index("ix_message_updated", "status", "updated_at"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(IdType, primary_key=True, autoincrement=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(default=MessageStatus.QUEUED, max_length=16)
    account: str | None = Field(default=None, max_length=64)  # requested account; None = routing
    backend: str | None = Field(default=None, max_length=64)  # account of the latest attempt
    stream: str | None = Field(default=None, max_length=64)
    tag: str | None = Field(default=None, max_length=128)
    from_addr: str = Field(sa_column=Column(Text, nullable=False))
    to_addrs: str = Field(sa_column=Column(Text, nullable=False))  # comma-separated
    cc_addrs: str | None = Field(default=None, sa_column=Column(Text))
    bcc_addrs: str | None = Field(default=None, sa_column=Column(Text))
    reply_to: str | None = Field(default=None, sa_column=Column(Text))
    subject: str = Field(sa_column=Column(Text, nullable=False))
    recipient_domain: str = Field(max_length=255)  # first recipient's domain, lower case
    size_bytes: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = _ts()
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = _ts()
    sent_at: datetime | None = _ts()
    last_error_code: str | None = Field(default=None, max_length=64)
    last_provider_code: str | None = Field(default=None, max_length=128)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    provider_message_id: str | None = Field(default=None, max_length=255)
    replay_of: int | None = Field(default=None, sa_column=Column(IdType, nullable=True))


class MessageBody(SQLModel, table=True):
    """The heavy part of a message, read only to send it, show it, or resend it."""

    __tablename__ = "message_body"

    message_id: int = Field(sa_column=Column(IdType, primary_key=True, autoincrement=False))
    text_body: str | None = Field(default=None, sa_column=Column(Text))
    html_body: str | None = Field(default=None, sa_column=Column(Text))
    headers: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))
    template_id: int | None = None
    template_data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class AttemptOutcome(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    ACCOUNT = "account"


class DeliveryAttempt(SQLModel, table=True):
    """One try to hand one message to a provider."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (
        Index("ix_attempt_message", "message_id", "attempt_no"),
        # Covers the attempt counts of the 24 h windows' partial edge hours (whole hours are read
        # from attempt_hourly) and retention's range, with an index-only scan.
        Index("ix_attempt_started_outcome", "started_at", "outcome", "backend", "error_code"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(IdType, primary_key=True, autoincrement=True)
    )
    message_id: int = Field(sa_column=Column(IdType, nullable=False))
    attempt_no: int
    backend: str = Field(max_length=64)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    duration_ms: float = 0.0
    outcome: str = Field(max_length=16)
    error_code: str | None = Field(default=None, max_length=64)
    provider_code: str | None = Field(default=None, max_length=128)
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    provider_message_id: str | None = Field(default=None, max_length=255)


class AttemptHourly(SQLModel, table=True):
    """Attempts per hour, backend, outcome and error code: the Dashboard's rates and trends.

    Kept exact by triggers on `delivery_attempt` (insert, delete, update; migration 0002), so
    every writer keeps it without knowing of it; reading whole hours from here instead of
    counting attempts is what keeps the Dashboard fast at millions of attempts. `hour` is the
    attempt's `started_at` truncated to the hour; `error_code` is '' for none (a NULL would make
    every such row distinct in the key). Rows that reach zero are deleted.
    """

    __tablename__ = "attempt_hourly"
    __table_args__ = {"sqlite_with_rowid": False}

    hour: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    backend: str = Field(primary_key=True, max_length=64)
    outcome: str = Field(primary_key=True, max_length=16)
    error_code: str = Field(default="", primary_key=True, max_length=64)
    attempts: int = 0


class DeliveryEvent(SQLModel, table=True):
    """A provider's later word on a sent message (webhook): delivered, bounced, complained…"""

    __tablename__ = "delivery_event"
    __table_args__ = (
        Index("ix_event_message", "message_id", "occurred_at"),
        Index("ix_event_occurred", "occurred_at"),
        UniqueConstraint("dedupe_key", name="uq_event_dedupe"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(IdType, primary_key=True, autoincrement=True)
    )
    message_id: int | None = Field(default=None, sa_column=Column(IdType, nullable=True))
    provider_message_id: str | None = Field(default=None, max_length=255, index=True)
    backend: str | None = Field(default=None, max_length=64)
    event_type: str = Field(max_length=32)
    recipient: str | None = Field(default=None, sa_column=Column(Text))
    detail: str | None = Field(default=None, sa_column=Column(Text))
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    dedupe_key: str | None = Field(default=None, max_length=255)
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class Outage(SQLModel, table=True):
    """A period in which one backend failed: opened on the first run of failures, closed on success."""

    __tablename__ = "outage"
    __table_args__ = (Index("ix_outage_backend_started", "backend", "started_at"),)

    id: int | None = Field(
        default=None, sa_column=Column(IdType, primary_key=True, autoincrement=True)
    )
    backend: str = Field(max_length=64)
    kind: str = Field(default="transient", max_length=16)  # transient | account
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ended_at: datetime | None = _ts(index=True)
    first_error_code: str | None = Field(default=None, max_length=64)
    first_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_code: str | None = Field(default=None, max_length=64)
    last_error_at: datetime | None = _ts()
    failure_count: int = 0


class BackendState(SQLModel, table=True):
    """Per-account switches and the circuit breaker, shared by every process on the database."""

    __tablename__ = "backend_state"

    backend: str = Field(primary_key=True, max_length=64)
    paused: bool = False
    circuit: str = Field(default="closed", max_length=16)  # closed | open
    circuit_reason: str | None = Field(default=None, sa_column=Column(Text))
    circuit_error_code: str | None = Field(default=None, max_length=64)
    circuit_opened_at: datetime | None = _ts()
    next_probe_at: datetime | None = _ts()
    circuit_kind: str | None = Field(default=None, max_length=16)  # transient | account
    consecutive_failures: int = 0
    # The current run of wholesale failures: what the outage records if the run reaches the threshold.
    first_failure_at: datetime | None = _ts()
    first_failure_code: str | None = Field(default=None, max_length=64)
    first_failure_error: str | None = Field(default=None, sa_column=Column(Text))
    last_success_at: datetime | None = _ts()
    last_failure_at: datetime | None = _ts()
    # Written by the scheduler's provider health/quota job.
    health_ok: bool | None = None
    health_detail: str | None = Field(default=None, sa_column=Column(Text))
    health_error_code: str | None = Field(default=None, max_length=64)
    health_latency_ms: float | None = None
    health_checked_at: datetime | None = _ts()
    quota_sent: float | None = None
    quota_max: float | None = None
    quota_checked_at: datetime | None = _ts()
    updated_at: datetime | None = _ts()


class Setting(SQLModel, table=True):
    """Operator switches that every process must see: global pause, fallback enabled…"""

    __tablename__ = "setting"

    key: str = Field(primary_key=True, max_length=64)
    value: Any = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime | None = _ts()
    updated_by: str | None = Field(default=None, max_length=128)


class Suppression(SQLModel, table=True):
    """An address that must never be sent to (inactive at the provider, complaint, operator)."""

    __tablename__ = "suppression"

    address: str = Field(primary_key=True, max_length=320)  # lower case
    reason: str = Field(default="operator", max_length=64)
    source: str | None = Field(default=None, max_length=64)  # backend, webhook, operator
    detail: str | None = Field(default=None, sa_column=Column(Text))
    message_id: int | None = Field(default=None, sa_column=Column(IdType, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class AuditEvent(SQLModel, table=True):
    """Append-only: who did what, to what, with what outcome."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_at", "at"),
        Index("ix_audit_actor_at", "actor", "at"),
        Index("ix_audit_action_at", "action", "at"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(IdType, primary_key=True, autoincrement=True)
    )
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = Field(max_length=128)
    ssh_client: str | None = Field(default=None, max_length=128)
    interface: str = Field(default="cli", max_length=16)  # cli | console | worker | api
    action: str = Field(max_length=64)
    target: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    count: int | None = None
    reason: str | None = Field(default=None, sa_column=Column(Text))
    outcome: str = Field(default="ok", max_length=16)  # ok | refused | failed | dry-run
    detail: str | None = Field(default=None, sa_column=Column(Text))


class SchedulerLease(SQLModel, table=True):
    """Which process leads (runs the jobs) for this database, with its heartbeat."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=32)
    owner: str = Field(max_length=128)
    host: str | None = Field(default=None, max_length=255)
    pid: int | None = None
    acquired_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    heartbeat_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class JobRun(SQLModel, table=True):
    """The last run of each scheduled job (for 'last and next dispatch' on the Dashboard)."""

    __tablename__ = "job_run"

    job: str = Field(primary_key=True, max_length=32)
    owner: str | None = Field(default=None, max_length=128)
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()
    next_run_at: datetime | None = _ts()
    outcome: str | None = Field(default=None, max_length=16)
    summary: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class AlertState(SQLModel, table=True):
    """Each rule's state, kept in the database so a restart neither loses nor repeats a notice.

    `state` is ok | firing; `level` says how bad a firing rule is (warning | critical). The
    episode's notices are decided in the same transaction that changes this row (see
    mailconsole.alerts.state), so two evaluators never both announce one transition.
    """

    __tablename__ = "alert_state"

    rule: str = Field(primary_key=True, max_length=64)
    state: str = Field(default="ok", max_length=16)  # ok | firing
    level: str | None = Field(default=None, max_length=16)  # warning | critical while firing
    since: datetime | None = _ts()
    last_value: float | None = None
    last_evaluated_at: datetime | None = _ts()
    last_notified_at: datetime | None = _ts()
    last_fired_at: datetime | None = _ts()
    last_resolved_at: datetime | None = _ts()
    suppressed_repeats: int = 0
    acked_by: str | None = Field(default=None, max_length=128)
    acked_at: datetime | None = _ts()
    silenced_until: datetime | None = _ts()
    silenced_by: str | None = Field(default=None, max_length=128)
    detail: str | None = Field(default=None, sa_column=Column(Text))


class AlertNotification(SQLModel, table=True):
    """One notice to one target: written `pending` with the state change, then delivered.

    A delivery claims the row with a lease (`lease_owner`, `lease_expires_at`), so a notice left
    pending by a crash is delivered by the next evaluation and never by two processes at once.
    """

    __tablename__ = "alert_notification"
    __table_args__ = (
        Index("ix_alert_notification_at", "at"),
        Index("ix_alert_notification_rule", "rule", "at"),
        Index("ix_alert_notification_status", "status", "at"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(IdType, primary_key=True, autoincrement=True)
    )
    rule: str = Field(max_length=64)
    kind: str = Field(max_length=16)  # firing | repeat | escalated | resolved | test
    level: str | None = Field(default=None, max_length=16)
    target: str = Field(max_length=64)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending | sent | failed
    tries: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    sent_at: datetime | None = _ts()
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = _ts()
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class CampaignReview(SQLModel, table=True):
    """A governance record against one Listmonk campaign's content fingerprint.

    kind: `legal` or `brand` (an approval or a rejection), `test_send`, `consent`.
    """

    __tablename__ = "campaign_review"
    __table_args__ = (Index("ix_campaign_review_campaign", "campaign_id", "kind", "at"),)

    id: int | None = Field(
        default=None, sa_column=Column(IdType, primary_key=True, autoincrement=True)
    )
    campaign_id: int
    kind: str = Field(max_length=16)
    decision: str = Field(max_length=16)  # approved | rejected | sent | passed | failed
    fingerprint: str = Field(max_length=64)
    actor: str = Field(max_length=128)
    note: str | None = Field(default=None, sa_column=Column(Text))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class WebhookSeen(SQLModel, table=True):
    """Ids of webhook deliveries already processed (replay protection, deduplication)."""

    __tablename__ = "webhook_seen"
    __table_args__ = (Index("ix_webhook_seen_at", "seen_at"),)

    id: str = Field(primary_key=True, max_length=255)
    seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


metadata = SQLModel.metadata
