"""The `campaign_review` rows: approvals, rejections, consent checks and test sends, each
recorded against the fingerprint of the campaign version it was about.

Only this module reads or writes the table; the rest of the package sees `ReviewView`s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from mailconsole.context import AppContext
from mailconsole.services._readmodel import ReadModel
from mailconsole.store.models import CampaignReview

ROLES = ("legal", "brand")
KINDS = ("legal", "brand", "consent", "test_send")
POSITIVE = ("approved", "passed", "sent")
_CHUNK = 500  # ids per IN (…): well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class ReviewView(ReadModel):
    """One recorded review. `decision`: approved | rejected (legal, brand), passed | failed
    (consent), sent (test_send)."""

    id: int
    campaign_id: int
    kind: str
    decision: str
    fingerprint: str
    actor: str
    note: str | None
    at: datetime
    detail: dict[str, Any] | None

    @property
    def positive(self) -> bool:
        return self.decision in POSITIVE


def _view(row: CampaignReview) -> ReviewView:
    return ReviewView(
        id=int(row.id or 0),
        campaign_id=row.campaign_id,
        kind=row.kind,
        decision=row.decision,
        fingerprint=row.fingerprint,
        actor=row.actor,
        note=row.note,
        at=row.at,
        detail=row.detail,
    )


def reviews_for(ctx: AppContext, campaign_ids: Iterable[int]) -> dict[int, list[ReviewView]]:
    """Every review of these campaigns, oldest first, by campaign id."""
    ids = sorted({int(i) for i in campaign_ids})
    out: dict[int, list[ReviewView]] = {}
    with ctx.db.reading() as session:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            stmt = (
                select(CampaignReview)
                .where(CampaignReview.campaign_id.in_(chunk))  # type: ignore[attr-defined]
                .order_by(CampaignReview.at, CampaignReview.id)  # type: ignore[arg-type]
            )
            for row in session.execute(stmt).scalars():
                out.setdefault(row.campaign_id, []).append(_view(row))
    return out


def reviewed_campaign_ids(ctx: AppContext) -> set[int]:
    """Ids of the campaigns that have any review: only these need their body fetched."""
    with ctx.db.reading() as session:
        rows = session.execute(select(CampaignReview.campaign_id).distinct())
        return {int(r[0]) for r in rows}


def add_review(
    ctx: AppContext,
    campaign_id: int,
    kind: str,
    decision: str,
    fingerprint: str,
    *,
    note: str | None = None,
    detail: dict[str, Any] | None = None,
    session: Session | None = None,
) -> ReviewView:
    """Record one review as the context's actor, now (by the injected clock)."""
    row = CampaignReview(
        campaign_id=int(campaign_id),
        kind=kind,
        decision=decision,
        fingerprint=fingerprint,
        actor=ctx.actor.name[:128],
        note=note,
        at=ctx.clock.now(),
        detail=detail,
    )
    if session is not None:
        session.add(row)
        session.flush()
        return _view(row)
    with ctx.db.writing() as s:
        s.add(row)
        s.flush()
        view = _view(row)
    return view
