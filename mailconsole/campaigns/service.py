"""Campaign governance: the services the Campaigns screen and `mailconsole campaigns` call.

Listmonk has no approval step; these functions add it. Legal/privacy and brand approve a
campaign version (its fingerprint), a consent check and a test send are recorded against the
same version, and only then may it be scheduled or started. Each gate re-fetches the campaign and
recomputes its fingerprint right before acting, re-runs the consent check live (audiences change
between a check and a send), and verifies after the move that nobody edited the campaign in
between. Pause and cancel are never gated: they are what an incident needs.

Every mutating call goes through `audit.operation()` (read-only refusal, one audit row whatever
happens). All functions are sync; Listmonk is reached through `runner.with_client`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mailconsole.campaigns.consent import ConsentResult, evaluate_consent, lists_index
from mailconsole.campaigns.errors import CampaignNotReadyError, CampaignStateError
from mailconsole.campaigns.fingerprint import fingerprint, short
from mailconsole.campaigns.governance import Governance, governance, utc_minute
from mailconsole.campaigns.listing import (
    CampaignDetail,
    CampaignList,
    CampaignRow,
    campaign_id_arg,
    list_campaigns,
    show_campaign,
)
from mailconsole.campaigns.reviews import (
    ROLES,
    ReviewView,
    add_review,
    reviews_for,
)
from mailconsole.campaigns.runner import with_client
from mailconsole.campaigns.scorecard import (
    Scorecard,
    build_scorecard,
    window_start,
    write_csv,
    write_json,
)
from mailconsole.campaigns.sendtime import parse_send_at
from mailconsole.clock import ensure_utc
from mailconsole.context import AppContext
from mailconsole.errors import ConflictError, ValidationError
from mailconsole.listmonk import Campaign, ListmonkClient
from mailconsole.services._readmodel import ReadModel
from mailconsole.services.audit import AuditRecord, operation, record

__all__ = [  # what the screen, the CLI and the tests call (reads live in `listing`)
    "CampaignActionResult",
    "CampaignDetail",
    "CampaignList",
    "CampaignRow",
    "ReviewResult",
    "TestSendResult",
    "approve",
    "cancel",
    "consent_check",
    "export_scorecards",
    "list_campaigns",
    "parse_send_at",
    "pause",
    "readiness",
    "reject",
    "schedule",
    "scorecard",
    "show_campaign",
    "start",
    "test_send",
]


@dataclass(frozen=True)
class ReviewResult(ReadModel):
    """What an approval or a rejection recorded, and the checklist after it."""

    review: ReviewView
    campaign_name: str
    governance: Governance

    def to_dict(self) -> dict[str, Any]:
        return {
            "review": self.review.to_dict(),
            "campaign_name": self.campaign_name,
            "governance": self.governance.to_dict(),
        }


@dataclass(frozen=True)
class TestSendResult(ReadModel):
    campaign_id: int
    campaign_name: str
    fingerprint: str
    testers_list: str
    recipients: tuple[str, ...]
    at: datetime

    __test__ = False  # not a pytest class, whatever its name


@dataclass(frozen=True)
class CampaignActionResult(ReadModel):
    """A status move: schedule, start, pause, cancel."""

    campaign_id: int
    campaign_name: str
    previous_status: str
    status: str
    send_at: datetime | None
    fingerprint: str


# --- helpers --------------------------------------------------------------------------------


def _role(role: str) -> str:
    value = (role or "").strip().lower()
    if value == "privacy":
        value = "legal"
    if value not in ROLES:
        raise ValidationError(f"role {role!r}: use legal (legal/privacy) or brand")
    return value


# --- approvals --------------------------------------------------------------------------------


def approve(
    ctx: AppContext, campaign_id: int | str, role: str, note: str | None = None
) -> ReviewResult:
    """Approve the current version as `role` (legal or brand)."""
    return _review(ctx, campaign_id, role, "approved", note)


def reject(
    ctx: AppContext, campaign_id: int | str, role: str, note: str | None = None
) -> ReviewResult:
    """Reject the current version as `role`; the note says what must change."""
    return _review(ctx, campaign_id, role, "rejected", note)


def _review(
    ctx: AppContext, campaign_id: int | str, role: str, decision: str, note: str | None
) -> ReviewResult:
    cid = campaign_id_arg(campaign_id)
    kind = _role(role)
    note = (note or "").strip() or None
    action = "campaign.approve" if decision == "approved" else "campaign.reject"
    target: dict[str, Any] = {"campaign_id": cid, "role": kind}
    with operation(ctx, action, target=target, reason=note) as rec:
        if decision == "rejected" and not note:
            raise ValidationError("a rejection needs a note that says what to change: add --note")
        campaign = with_client(ctx, lambda client: client.campaign(cid))
        if campaign.status in ("finished", "cancelled"):
            raise CampaignStateError(
                f"campaign {cid} is {campaign.status}: there is nothing left to review"
            )
        fp = fingerprint(campaign)
        target.update(campaign=campaign.name, fingerprint=short(fp))
        review = add_review(ctx, cid, kind, decision, fp, note=note)
        rec.count = 1
    reviews = reviews_for(ctx, [cid]).get(cid, [])
    return ReviewResult(review, campaign.name, governance(cid, fp, reviews, campaign.updated_at))


def consent_check(ctx: AppContext, campaign_id: int | str) -> ConsentResult:
    """Check the target lists' opt-in and the audience's marketing attribute; record the result
    against the current version (passed or failed)."""
    cid = campaign_id_arg(campaign_id)
    attribute = ctx.config.listmonk.marketing_attribute
    target: dict[str, Any] = {"campaign_id": cid, "attribute": attribute}
    with operation(ctx, "campaign.consent_check", target=target) as rec:

        async def work(client: ListmonkClient) -> ConsentResult:
            campaign = await client.campaign(cid)
            lists = lists_index(await client.lists())
            return await evaluate_consent(
                client, campaign, fingerprint(campaign), attribute, lists, ctx.clock.now()
            )

        result = with_client(ctx, work)
        target.update(campaign=result.campaign_name, fingerprint=short(result.fingerprint))
        add_review(
            ctx,
            cid,
            "consent",
            "passed" if result.passed else "failed",
            result.fingerprint,
            detail=result.stored_detail(),
        )
        rec.count = result.without_attribute
        rec.detail = "passed" if result.passed else "failed: " + "; ".join(result.problems)
    return result


def test_send(ctx: AppContext, campaign_id: int | str, reason: str | None = None) -> TestSendResult:
    """Send the current version to the subscribers of the testers' list, and record it."""
    cid = campaign_id_arg(campaign_id)
    list_name = ctx.config.listmonk.testers_list
    target: dict[str, Any] = {"campaign_id": cid, "testers_list": list_name}
    with operation(ctx, "campaign.test_send", target=target, reason=reason) as rec:

        async def work(client: ListmonkClient) -> tuple[Campaign, list[str]]:
            testers = await client.list_by_name(list_name)
            if testers is None:
                raise ValidationError(
                    f'no list named "{list_name}" in Listmonk: create it with the testers, or '
                    "set [listmonk] testers_list"
                )
            emails = []
            for sub in await client.subscribers(list_id=testers.id):
                on_list = next((s for s in sub.lists if s.id == testers.id), None)
                if sub.status == "blocklisted" or (
                    on_list is not None and on_list.subscription_status == "unsubscribed"
                ):
                    continue
                emails.append(sub.email)
            if not emails:
                raise ValidationError(
                    f'the testers\' list "{list_name}" has no subscribers: add the testers to it '
                    "in Listmonk"
                )
            before = await client.campaign(cid)
            await client.test_campaign(cid, emails)
            after = await client.campaign(cid)
            if fingerprint(after) != fingerprint(before):
                raise ConflictError(
                    f"campaign {cid} was edited during the test send: send the test again so "
                    "it matches the new version"
                )
            return before, sorted(emails)

        campaign, emails = with_client(ctx, work)
        fp = fingerprint(campaign)
        target.update(campaign=campaign.name, fingerprint=short(fp))
        add_review(
            ctx,
            cid,
            "test_send",
            "sent",
            fp,
            note=reason,
            detail={"list": list_name, "recipients": len(emails)},
        )
        rec.count = len(emails)
    return TestSendResult(cid, campaign.name, fp, list_name, tuple(emails), ctx.clock.now())


test_send.__test__ = False  # type: ignore[attr-defined]  # a service, not a pytest test


# --- status moves -----------------------------------------------------------------------------


async def _gate(ctx: AppContext, client: ListmonkClient, campaign: Campaign, verb: str) -> str:
    """Refuse unless the checklist holds for the campaign as it is now; returns its fingerprint.

    A recorded passing consent check is re-run live: a failure is recorded (voiding the pass)
    and refuses the move.
    """
    fp = fingerprint(campaign)
    reviews = reviews_for(ctx, [campaign.id]).get(campaign.id, [])
    gov = governance(campaign.id, fp, reviews, campaign.updated_at)
    if gov.item("consent").ok:
        attribute = ctx.config.listmonk.marketing_attribute
        lists = lists_index(await client.lists())
        live = await evaluate_consent(client, campaign, fp, attribute, lists, ctx.clock.now())
        if not live.passed:
            failed = add_review(
                ctx,
                campaign.id,
                "consent",
                "failed",
                fp,
                note=f"re-checked before {verb}",
                detail=live.stored_detail(),
            )
            gov = governance(campaign.id, fp, [*reviews, failed], campaign.updated_at)
    if not gov.ready:
        raise CampaignNotReadyError(gov.refusal(verb))
    return fp


def _result(campaign: Campaign, previous: str, fp: str) -> CampaignActionResult:
    return CampaignActionResult(
        campaign.id, campaign.name, previous, campaign.status, campaign.send_at, fp
    )


def schedule(
    ctx: AppContext, campaign_id: int | str, send_at: datetime, reason: str | None = None
) -> CampaignActionResult:
    """Schedule the campaign for `send_at`, only if the checklist holds for this version."""
    cid = campaign_id_arg(campaign_id)
    when = ensure_utc(send_at).replace(microsecond=0)
    target: dict[str, Any] = {"campaign_id": cid, "send_at": when.isoformat()}
    with operation(ctx, "campaign.schedule", target=target, reason=reason) as rec:
        if when <= ctx.clock.now():
            raise ValidationError(
                f"send time {utc_minute(when)} is in the past: give a future time (UTC)"
            )

        async def work(client: ListmonkClient) -> CampaignActionResult:
            campaign = await client.campaign(cid)
            target["campaign"] = campaign.name
            if campaign.status == "scheduled":
                raise CampaignStateError(
                    f"campaign {cid} is already scheduled for {utc_minute(campaign.send_at)}: "
                    "cancel it (back to draft) to schedule it again"
                )
            if campaign.status not in ("draft", "paused"):
                raise CampaignStateError(
                    f"cannot schedule campaign {cid}: it is {campaign.status} (only a draft or "
                    "a paused campaign can be scheduled)"
                )
            fp = await _gate(ctx, client, campaign, "schedule")
            target["fingerprint"] = short(fp)
            await client.set_campaign_status(cid, "scheduled", send_at=when)
            after = await client.campaign(cid)
            if fingerprint(after) != fp:
                await client.set_campaign_status(cid, "draft")
                raise ConflictError(
                    f"campaign {cid} was edited while it was being scheduled: it is back to "
                    "draft; the new version needs its own approvals"
                )
            return _result(after, campaign.status, fp)

        result = with_client(ctx, work)
        rec.count = 1
    return result


def start(
    ctx: AppContext, campaign_id: int | str, reason: str | None = None
) -> CampaignActionResult:
    """Start sending now (a draft, or resume a paused campaign), only if the checklist holds."""
    cid = campaign_id_arg(campaign_id)
    target: dict[str, Any] = {"campaign_id": cid}
    with operation(ctx, "campaign.start", target=target, reason=reason) as rec:

        async def work(client: ListmonkClient) -> CampaignActionResult:
            campaign = await client.campaign(cid)
            target["campaign"] = campaign.name
            if campaign.status == "scheduled":
                raise CampaignStateError(
                    f"campaign {cid} is scheduled for {utc_minute(campaign.send_at)} and starts "
                    "by itself then: cancel it (back to draft) to start it now"
                )
            if campaign.status not in ("draft", "paused"):
                raise CampaignStateError(
                    f"cannot start campaign {cid}: it is {campaign.status} (only a draft or a "
                    "paused campaign can be started)"
                )
            fp = await _gate(ctx, client, campaign, "start")
            target["fingerprint"] = short(fp)
            await client.set_campaign_status(cid, "running")
            after = await client.campaign(cid)
            if fingerprint(after) != fp:
                await client.set_campaign_status(cid, "paused")
                raise ConflictError(
                    f"campaign {cid} was edited while it was being started: it is paused; the "
                    "new version needs its own approvals"
                )
            return _result(after, campaign.status, fp)

        result = with_client(ctx, work)
        rec.count = 1
    return result


def pause(
    ctx: AppContext, campaign_id: int | str, reason: str | None = None
) -> CampaignActionResult:
    """Pause a running campaign. Never gated: this is what an incident needs first."""
    cid = campaign_id_arg(campaign_id)
    target: dict[str, Any] = {"campaign_id": cid}
    with operation(ctx, "campaign.pause", target=target, reason=reason) as rec:

        async def work(client: ListmonkClient) -> CampaignActionResult:
            campaign = await client.campaign(cid)
            target["campaign"] = campaign.name
            if campaign.status != "running":
                raise CampaignStateError(
                    f"cannot pause campaign {cid}: it is {campaign.status} (only a running "
                    "campaign can be paused)"
                )
            after = await client.set_campaign_status(cid, "paused")
            return _result(after, campaign.status, fingerprint(campaign))

        result = with_client(ctx, work)
        rec.count = 1
    return result


def cancel(
    ctx: AppContext, campaign_id: int | str, reason: str | None = None
) -> CampaignActionResult:
    """Stop a campaign for good (running or paused → cancelled), or unschedule a scheduled one
    (→ draft, as Listmonk allows). Never gated."""
    cid = campaign_id_arg(campaign_id)
    target: dict[str, Any] = {"campaign_id": cid}
    with operation(ctx, "campaign.cancel", target=target, reason=reason) as rec:

        async def work(client: ListmonkClient) -> CampaignActionResult:
            campaign = await client.campaign(cid)
            target["campaign"] = campaign.name
            if campaign.status in ("running", "paused"):
                after = await client.set_campaign_status(cid, "cancelled")
            elif campaign.status == "scheduled":
                after = await client.set_campaign_status(cid, "draft")
            else:
                raise CampaignStateError(
                    f"cannot cancel campaign {cid}: it is {campaign.status} (cancel stops a "
                    "running or paused campaign, or unschedules a scheduled one)"
                )
            return _result(after, campaign.status, fingerprint(campaign))

        result = with_client(ctx, work)
        target["to"] = result.status
        rec.count = 1
    return result


# --- after the send ---------------------------------------------------------------------------


def scorecard(ctx: AppContext, campaign_id: int | str, until: datetime | None = None) -> Scorecard:
    """Sent, views, clicks and bounces (and rates) from the campaign's start to `until` or now."""
    cid = campaign_id_arg(campaign_id)
    now = ctx.clock.now()
    end = ensure_utc(until) if until is not None else now

    async def work(client: ListmonkClient) -> Scorecard:
        campaign = await client.campaign(cid)
        start_at = window_start(campaign, now)
        if end <= start_at:
            raise ValidationError(
                f"the window ends ({utc_minute(end)}) before campaign {cid} started "
                f"({utc_minute(start_at)})"
            )
        # Listmonk counts by day: ask from the start of the first day, as its own page does.
        day_start = start_at.replace(hour=0, minute=0, second=0, microsecond=0)
        views = await client.analytics("views", cid, day_start, end)
        clicks = await client.analytics("clicks", cid, day_start, end)
        bounces = await client.analytics("bounces", cid, day_start, end)
        return build_scorecard(campaign, start_at, end, views, clicks, bounces)

    return with_client(ctx, work)


def export_scorecards(
    ctx: AppContext,
    campaign_ids: Sequence[int | str],
    fmt: str,
    path: str | Path,
    until: datetime | None = None,
) -> Path:
    """Write the scorecards of these campaigns to a file (CSV neutralised, or JSON).

    Audited as an export (the data leaves the console) but allowed in read-only mode, like
    every export: it changes nothing.
    """
    if fmt not in ("csv", "json"):
        raise ValidationError(f"scorecard format {fmt!r}: use csv or json")
    ids = [campaign_id_arg(i) for i in campaign_ids]
    target = Path(path).expanduser()
    rec = AuditRecord(
        action="export",
        target={"what": "campaign scorecard", "campaigns": ids, "format": fmt,
                "destination": str(target)},
    )  # fmt: skip
    try:
        cards = [scorecard(ctx, cid, until=until) for cid in ids]
        try:
            with target.open("w", encoding="utf-8", newline="") as out:
                (write_csv if fmt == "csv" else write_json)(cards, out)
        except OSError as exc:
            raise ValidationError(f"cannot write {target}: {exc.strerror or exc}") from None
    except Exception as exc:
        rec.outcome, rec.detail = "failed", str(exc)
        record(ctx, rec)
        raise
    rec.count = len(cards)
    record(ctx, rec)
    return target


def readiness(ctx: AppContext, campaign_id: int | str) -> Governance:
    """The checklist of the campaign as it is now (no live consent re-check, nothing recorded):
    what the console asks before offering to schedule or start."""
    cid = campaign_id_arg(campaign_id)
    campaign = with_client(ctx, lambda client: client.campaign(cid))
    reviews = reviews_for(ctx, [cid]).get(cid, [])
    return governance(cid, fingerprint(campaign), reviews, campaign.updated_at)
