"""drop ix_attempt_backend_started: the per-backend attempt counts read attempt_hourly now

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 02:10:00

The index `(backend, started_at, outcome)` served only the Dashboard's per-backend 24 h counts,
which read whole hours from `attempt_hourly` (0002) and the edge hours along
`ix_attempt_started_outcome`. Every attempt written maintained it: dropping it gives back about
half of what the rollup trigger costs per inserted attempt on SQLite.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_attempt_backend_started", table_name="delivery_attempt")


def downgrade() -> None:
    op.create_index(
        "ix_attempt_backend_started",
        "delivery_attempt",
        ["backend", "started_at", "outcome"],
        unique=False,
    )
