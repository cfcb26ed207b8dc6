"""message indexes a dispatch maintains: partial where the queries allow, no provider-id index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 02:00:00

Every index entry a claim or a record moves is SQLite work under its single writer lock, so the
indexes of `message` that only some rows need hold only those rows:
- `ix_message_claim (status, next_attempt_at)` only queued rows: every query on it asks for
  `status = 'queued'` (the claim, "anything due", undated recovery, the next attempt);
- `ix_message_domain_status (recipient_domain, status)` only settled rows (not queued or
  sending): a domain's entries were moved by every claim and record, scattered over the index
  (a page write per domain per batch); filters on a domain and settled statuses add the term;
- `ix_message_lease (lease_expires_at)` and `ix_message_replay_of (replay_of)` only rows that
  have one: their queries compare the column, which implies it is not NULL.
`ix_message_provider_id` is dropped: no query looked a provider id up (the Mail logs' free-text
search matches it with a substring LIKE, which no index serves), and its random keys cost a
scattered page write per sent message. A webhook receiver matching provider ids should add a
partial index (`WHERE provider_message_id IS NOT NULL`) in its own migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_PARTIAL = {
    "ix_message_claim": (["status", "next_attempt_at"], "status = 'queued'"),
    "ix_message_lease": (["lease_expires_at"], "lease_expires_at IS NOT NULL"),
    "ix_message_replay_of": (["replay_of"], "replay_of IS NOT NULL"),
    # models.SETTLED_SQL as it is today (a migration never imports what may change later).
    "ix_message_domain_status": (
        ["recipient_domain", "status"],
        "status NOT IN ('queued', 'sending')",
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_provider_id")
        for name, (columns, where) in _PARTIAL.items():
            batch_op.drop_index(name)
            batch_op.create_index(
                name,
                columns,
                unique=False,
                sqlite_where=sa.text(where),
                postgresql_where=sa.text(where),
            )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        for name, (columns, _where) in _PARTIAL.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False)
        batch_op.create_index("ix_message_provider_id", ["provider_message_id"], unique=False)
