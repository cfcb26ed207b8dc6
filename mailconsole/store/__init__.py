"""Persistence: models, the database, migrations. Only read models leave this package."""

from mailconsole.store.db import Database
from mailconsole.store.models import (
    AlertNotification,
    AlertState,
    AuditEvent,
    BackendState,
    CampaignReview,
    DeliveryAttempt,
    DeliveryEvent,
    JobRun,
    Message,
    MessageBody,
    MessageStatus,
    Outage,
    SchedulerLease,
    Setting,
    Suppression,
    WebhookSeen,
)

__all__ = [
    "AlertNotification",
    "AlertState",
    "AuditEvent",
    "BackendState",
    "CampaignReview",
    "Database",
    "DeliveryAttempt",
    "DeliveryEvent",
    "JobRun",
    "Message",
    "MessageBody",
    "MessageStatus",
    "Outage",
    "SchedulerLease",
    "Setting",
    "Suppression",
    "WebhookSeen",
]
