"""Reading campaigns for the table and the detail view: every page of Listmonk's listing, the
lists (for audience and opt-in), running stats (progress) and, for campaigns that have reviews,
their bodies (the fingerprint needs them) — joined with the recorded reviews into rows that carry
their governance checklist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailconsole.campaigns.consent import lists_index
from mailconsole.campaigns.fingerprint import fingerprint
from mailconsole.campaigns.governance import Governance, governance
from mailconsole.campaigns.reviews import ReviewView, reviewed_campaign_ids, reviews_for
from mailconsole.campaigns.runner import with_client
from mailconsole.context import AppContext
from mailconsole.errors import ValidationError
from mailconsole.listmonk import (
    Campaign,
    ListmonkClient,
    ListmonkNotFoundError,
    MailingList,
    RunningStats,
    listmonk_account,
)
from mailconsole.listmonk.models import CAMPAIGN_STATUSES
from mailconsole.services._readmodel import ReadModel

SENT_STATUSES = ("running", "paused", "cancelled", "finished")
FETCH_ONE_BY_ONE = 20  # more reviewed campaigns than this: re-read the listing with bodies
CONCURRENT_FETCHES = 8


# --- read models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListInfo(ReadModel):
    id: int
    name: str
    type: str  # public | private | temporary | "?" (gone)
    optin: str  # single | double
    subscribers: int


@dataclass(frozen=True)
class CampaignRow(ReadModel):
    """One campaign as the table shows it."""

    id: int
    name: str
    subject: str
    status: str
    tags: tuple[str, ...]
    lists: tuple[ListInfo, ...]
    audience: int
    audience_estimated: bool  # true: the sum of the lists' subscriber counts (before a send)
    send_at: datetime | None
    started_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    to_send: int
    sent: int
    progress: float | None  # sent ÷ to_send
    rate: float | None  # messages per minute (running campaigns)
    governance: Governance

    @property
    def approval_state(self) -> str:
        return self.governance.approval_state()

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["governance"] = self.governance.to_dict()
        data["approval_state"] = self.approval_state
        return data


@dataclass(frozen=True)
class CampaignList(ReadModel):
    rows: tuple[CampaignRow, ...]
    account: str
    testers_list: str
    status: tuple[str, ...]
    tag: str | None
    generated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "testers_list": self.testers_list,
            "status": list(self.status),
            "tag": self.tag,
            "generated_at": self.generated_at.isoformat(),
            "campaigns": [row.to_dict() for row in self.rows],
        }

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows:
            out[row.status] = out.get(row.status, 0) + 1
        return out


@dataclass(frozen=True)
class CampaignDetail(ReadModel):
    """`campaigns show`: the row, the content facts a reviewer checks, and the review history."""

    row: CampaignRow
    from_email: str
    content_type: str
    template_id: int | None
    headers: tuple[dict[str, str], ...]
    body_chars: int
    altbody_chars: int
    fingerprint: str
    reviews: tuple[ReviewView, ...]  # newest first

    @property
    def governance(self) -> Governance:
        return self.row.governance

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["row"] = self.row.to_dict()
        data["reviews"] = [
            {**r.to_dict(), "current": r.fingerprint == self.fingerprint} for r in self.reviews
        ]
        return data


# --- helpers --------------------------------------------------------------------------------


def campaign_id_arg(value: int | str) -> int:
    try:
        cid = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"campaign id {value!r}: give the number Listmonk shows") from None
    if cid < 1:
        raise ValidationError(f"campaign id {cid}: give the number Listmonk shows")
    return cid


def _statuses(status: str | Iterable[str] | None) -> tuple[str, ...]:
    if status is None:
        return ()
    items = [status] if isinstance(status, str) else list(status)
    out: list[str] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part not in CAMPAIGN_STATUSES:
                raise ValidationError(
                    f"unknown campaign status {part!r}: use {', '.join(CAMPAIGN_STATUSES)}"
                )
            out.append(part)
    return tuple(dict.fromkeys(out))


def _list_infos(campaign: Campaign, lists: dict[int, MailingList]) -> tuple[ListInfo, ...]:
    out = []
    for ref in campaign.lists:
        lst = lists.get(ref.id)
        if lst is None:
            out.append(ListInfo(ref.id, ref.name, "?", "?", 0))
        else:
            out.append(ListInfo(lst.id, lst.name, lst.type, lst.optin, lst.subscriber_count))
    return tuple(out)


def _row(
    campaign: Campaign,
    lists: dict[int, MailingList],
    stats: RunningStats | None,
    gov: Governance,
) -> CampaignRow:
    infos = _list_infos(campaign, lists)
    to_send, sent = campaign.to_send, campaign.sent
    rate = None
    if stats is not None:
        to_send, sent, rate = stats.to_send or to_send, stats.sent, stats.rate
    if campaign.status in SENT_STATUSES and to_send > 0:
        audience, estimated = to_send, False
    else:
        audience, estimated = sum(i.subscribers for i in infos), True
    progress = (
        min(1.0, sent / to_send) if to_send > 0 and campaign.status in SENT_STATUSES else None
    )
    return CampaignRow(
        id=campaign.id,
        name=campaign.name,
        subject=campaign.subject,
        status=campaign.status,
        tags=campaign.tags,
        lists=infos,
        audience=audience,
        audience_estimated=estimated,
        send_at=campaign.send_at,
        started_at=campaign.started_at,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
        to_send=to_send,
        sent=sent,
        progress=progress,
        rate=rate,
        governance=gov,
    )


async def _fetch_bodies(
    client: ListmonkClient,
    ids: Sequence[int],
    status: tuple[str, ...],
    tag: str | None,
) -> dict[int, Campaign]:
    """The campaigns `ids` with their bodies (needed for the fingerprint)."""
    if not ids:
        return {}
    wanted = set(ids)
    if len(wanted) > FETCH_ONE_BY_ONE:
        full = await client.campaigns(status=status or None, tag=tag, with_body=True)
        return {c.id: c for c in full if c.id in wanted}
    gate = asyncio.Semaphore(CONCURRENT_FETCHES)

    async def one(cid: int) -> Campaign | None:
        async with gate:
            try:
                return await client.campaign(cid)
            except ListmonkNotFoundError:  # deleted since the listing
                return None

    found = await asyncio.gather(*(one(cid) for cid in sorted(wanted)))
    return {c.id: c for c in found if c is not None}


def _governance_of(
    campaign: Campaign, reviews: Sequence[ReviewView], *, with_body: bool
) -> Governance:
    fp = fingerprint(campaign) if with_body else None
    return governance(campaign.id, fp, reviews, campaign.updated_at)


# --- reads ----------------------------------------------------------------------------------


def list_campaigns(
    ctx: AppContext, status: str | Iterable[str] | None = None, tag: str | None = None
) -> CampaignList:
    """Every campaign (all pages), newest first, with audience, progress and approval state."""
    statuses = _statuses(status)
    tag = (tag or "").strip() or None
    reviewed = reviewed_campaign_ids(ctx)

    async def work(
        client: ListmonkClient,
    ) -> tuple[list[Campaign], list[MailingList], list[RunningStats], dict[int, Campaign]]:
        campaigns = await client.campaigns(status=statuses or None, tag=tag)
        lists = await client.lists()
        running = (
            await client.running_stats() if any(c.status == "running" for c in campaigns) else []
        )
        need = [c.id for c in campaigns if c.id in reviewed]
        bodies = await _fetch_bodies(client, need, statuses, tag)
        return campaigns, lists, running, bodies

    campaigns, lists, running, bodies = with_client(ctx, work)
    by_list = lists_index(lists)
    stats = {s.id: s for s in running}
    reviews = reviews_for(ctx, bodies)
    rows = []
    for campaign in campaigns:
        full = bodies.get(campaign.id)
        gov = (
            _governance_of(full, reviews.get(campaign.id, []), with_body=True)
            if full is not None
            else _governance_of(campaign, [], with_body=False)
        )
        rows.append(_row(full or campaign, by_list, stats.get(campaign.id), gov))
    return CampaignList(
        rows=tuple(rows),
        account=listmonk_account(ctx.config),
        testers_list=ctx.config.listmonk.testers_list,
        status=statuses,
        tag=tag,
        generated_at=ctx.clock.now(),
    )


def show_campaign(ctx: AppContext, campaign_id: int | str) -> CampaignDetail:
    """One campaign with its governance checklist and its review history."""
    cid = campaign_id_arg(campaign_id)

    async def work(
        client: ListmonkClient,
    ) -> tuple[Campaign, list[MailingList], RunningStats | None]:
        campaign = await client.campaign(cid)
        lists = await client.lists()
        stats = None
        if campaign.status == "running":
            stats = next((s for s in await client.running_stats() if s.id == cid), None)
        return campaign, lists, stats

    campaign, lists, stats = with_client(ctx, work)
    reviews = reviews_for(ctx, [cid]).get(cid, [])
    gov = _governance_of(campaign, reviews, with_body=True)
    return CampaignDetail(
        row=_row(campaign, lists_index(lists), stats, gov),
        from_email=campaign.from_email,
        content_type=campaign.content_type,
        template_id=campaign.template_id,
        headers=campaign.headers,
        body_chars=len(campaign.body),
        altbody_chars=len(campaign.altbody or ""),
        fingerprint=gov.fingerprint or "",
        reviews=tuple(reversed(reviews)),
    )
