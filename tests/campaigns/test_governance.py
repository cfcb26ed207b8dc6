"""Campaign governance against the fake Listmonk on 127.0.0.1 (fake clock shared with it):
approvals voided by an edit, the schedule/start gate with its exact words, ungated pause and
cancel, read-only refusals and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailconsole.campaigns import service
from mailconsole.campaigns.errors import CampaignNotReadyError, CampaignStateError
from mailconsole.campaigns.fingerprint import fingerprint
from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.errors import ConflictError, ReadOnlyError, ValidationError
from mailconsole.listmonk import Campaign, ListmonkClient
from mailconsole.store.db import Database
from tests.campaigns.conftest import audit_rows, make_ctx, opt_in_everyone, review_rows
from tests.fakes.listmonk_server import DefaultSeed, FakeListmonk

NOV_20 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def make_ready(ctx: AppContext, fake: FakeListmonk, cid: int) -> None:
    """Everything the gate asks for, recorded for the campaign's current version."""
    opt_in_everyone(fake)
    service.approve(ctx, cid, "legal", "consent wording and unsubscribe ok")
    service.approve(ctx, cid, "brand", "on brand")
    assert service.consent_check(ctx, cid).passed
    service.test_send(ctx, cid)


# --- approvals and the fingerprint ------------------------------------------------------------


def test_an_approval_holds_for_the_version_it_saw_and_an_edit_in_listmonk_voids_it(
    db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    ctx = make_ctx(db, clock, listmonk)
    cid = seed.ready_campaign
    version = fingerprint(Campaign.from_api(listmonk.campaign_json(cid)))

    result = service.approve(ctx, cid, "legal", "unsubscribe link present")

    assert result.review.fingerprint == version and len(version) == 64
    assert result.governance.item("legal").state == "ok"
    assert "approved by ana" in result.governance.item("legal").summary()

    clock.advance(240)
    listmonk.edit_campaign(cid, subject="Spring sale: 25% off everything")

    detail = service.show_campaign(ctx, cid)
    legal = detail.governance.item("legal")
    assert legal.state == "voided" and legal.mark == "void"
    assert legal.summary().startswith("voided by edit (approved by ana at 2026-01-01 12:00 UTC")
    assert detail.fingerprint != version
    assert [r.fingerprint == detail.fingerprint for r in detail.reviews] == [False]
    row = next(r for r in service.list_campaigns(ctx).rows if r.id == cid)
    assert row.approval_state == "legal void brand — consent — test —"
    assert row.governance.voided

    # Listmonk's own bookkeeping (scheduling moves updated_at and send_at) is not an edit.
    listmonk.force_campaign(cid, updated_at=clock.now() + timedelta(hours=1))
    service.approve(ctx, cid, "legal", "new subject ok")
    listmonk.force_campaign(cid, send_at=clock.now() + timedelta(days=1))
    assert service.show_campaign(ctx, cid).governance.item("legal").state == "ok"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("body", "<p>changed</p>"),
        ("altbody", "changed"),
        ("template_id", 99),
        ("lists", [1]),
        ("headers", [{"X-Campaign": "other"}]),
        ("content_type", "html"),
        ("subject", "changed"),
    ],
)
def test_every_reviewed_field_is_part_of_the_fingerprint(
    listmonk: FakeListmonk, seed: DefaultSeed, field: str, value: object
) -> None:
    before = fingerprint(Campaign.from_api(listmonk.campaign_json(seed.ready_campaign)))
    listmonk.edit_campaign(seed.ready_campaign, **{field: value})
    after = fingerprint(Campaign.from_api(listmonk.campaign_json(seed.ready_campaign)))
    assert before != after


def test_a_rejection_needs_a_note_and_blocks_the_send_in_the_reviewers_words(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    cid = seed.ready_campaign
    with pytest.raises(ValidationError, match="a rejection needs a note"):
        service.reject(ctx, cid, "brand")
    make_ready(ctx, listmonk, cid)
    service.reject(ctx, cid, "brand", "old logo in the header")

    with pytest.raises(CampaignNotReadyError) as refused:
        service.start(ctx, cid)
    assert str(refused.value) == (
        f'cannot start campaign {cid}: brand rejected this version (ana: "old logo in the header")'
    )
    assert listmonk.status_changes == []


def test_unknown_role_and_finished_campaigns_are_refused_with_what_to_do(
    ctx: AppContext, seed: DefaultSeed
) -> None:
    with pytest.raises(ValidationError, match=r"use legal .* or brand"):
        service.approve(ctx, seed.ready_campaign, "marketing")
    with pytest.raises(CampaignStateError, match="is finished: there is nothing left to review"):
        service.approve(ctx, seed.finished_campaign, "legal")


# --- the gate ---------------------------------------------------------------------------------


def test_schedule_is_refused_with_exactly_what_is_missing_then_allowed_once_everything_holds(
    db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    clock.set(NOV_20)
    ctx = make_ctx(db, clock, listmonk)
    cid = seed.ready_campaign
    service.approve(ctx, cid, "brand", "on brand")
    clock.advance(240)
    listmonk.edit_campaign(cid, body="<p>Spring sale, now with a footer</p>")
    send_at = NOV_20 + timedelta(days=1)

    with pytest.raises(CampaignNotReadyError) as refused:
        service.schedule(ctx, cid, send_at)
    assert str(refused.value) == (
        f"cannot schedule campaign {cid}: missing legal approval; brand approval was for an "
        "older version (edited 2026-11-20 10:04 UTC); no consent check for this version; "
        "no test send for this version"
    )
    assert refused.value.exit_code == 3

    service.approve(ctx, cid, "legal", "ok")
    service.approve(ctx, cid, "brand", "ok again")
    failed = service.consent_check(ctx, cid)
    assert not failed.passed
    service.test_send(ctx, cid)
    with pytest.raises(CampaignNotReadyError) as refused:
        service.schedule(ctx, cid, send_at)
    assert str(refused.value) == (
        f"cannot schedule campaign {cid}: consent check failed for this version "
        '(2 subscribers of "Newsletter" without marketing_opt_in = true; '
        '1 subscriber of "Customers" without marketing_opt_in = true)'
    )
    assert listmonk.status_changes == []

    opt_in_everyone(listmonk)
    assert service.consent_check(ctx, cid).passed
    result = service.schedule(ctx, cid, send_at, reason="spring launch")

    assert (result.previous_status, result.status, result.send_at) == (
        "draft",
        "scheduled",
        send_at,
    )
    assert listmonk.status_changes == [(cid, "draft", "scheduled")]
    assert listmonk.campaign_json(cid)["send_at"] == send_at.isoformat()
    # Scheduling PUT the campaign (updated_at moved) without voiding anything.
    assert service.show_campaign(ctx, cid).governance.ready


def test_start_is_gated_like_schedule_and_then_the_campaign_runs(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    cid = seed.ready_campaign
    with pytest.raises(CampaignNotReadyError) as refused:
        service.start(ctx, cid)
    assert str(refused.value) == (
        f"cannot start campaign {cid}: missing legal approval; missing brand approval; "
        "no consent check for this version; no test send for this version"
    )
    make_ready(ctx, listmonk, cid)

    result = service.start(ctx, cid)

    assert (result.previous_status, result.status) == ("draft", "running")
    assert listmonk.status_changes == [(cid, "draft", "running")]


def test_the_gate_re_runs_the_consent_check_because_audiences_change(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    cid = seed.ready_campaign
    make_ready(ctx, listmonk, cid)
    listmonk.add_subscriber(
        "late@example.org", attribs={}, lists=[seed.customers_list]
    )  # imported after the check, without the attribute

    with pytest.raises(CampaignNotReadyError) as refused:
        service.schedule(ctx, cid, ctx.clock.now() + timedelta(hours=2))

    assert str(refused.value) == (
        f"cannot schedule campaign {cid}: consent check failed for this version "
        '(1 subscriber of "Customers" without marketing_opt_in = true)'
    )
    latest = review_rows(ctx.db)[-1]
    assert (latest.kind, latest.decision, latest.note) == (
        "consent",
        "failed",
        "re-checked before schedule",
    )
    assert listmonk.status_changes == []


def test_an_edit_that_lands_while_scheduling_puts_the_campaign_back_to_draft(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = seed.ready_campaign
    make_ready(ctx, listmonk, cid)
    original = ListmonkClient.set_campaign_status

    async def racing(self: ListmonkClient, campaign_id: int, status: str, send_at=None):  # type: ignore[no-untyped-def]
        if status == "scheduled":
            listmonk.edit_campaign(campaign_id, subject="edited at the worst moment")
        return await original(self, campaign_id, status, send_at)

    monkeypatch.setattr(ListmonkClient, "set_campaign_status", racing)

    with pytest.raises(ConflictError, match="edited while it was being scheduled: it is back"):
        service.schedule(ctx, cid, ctx.clock.now() + timedelta(hours=2))
    assert listmonk.campaign_json(cid)["status"] == "draft"


def test_schedule_refuses_a_time_in_the_past_and_a_campaign_already_scheduled(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    with pytest.raises(ValidationError, match="is in the past: give a future time"):
        service.schedule(ctx, seed.ready_campaign, ctx.clock.now() - timedelta(minutes=1))
    with pytest.raises(CampaignStateError, match="already scheduled for 2026-01-03 12:00 UTC"):
        service.schedule(ctx, seed.scheduled_campaign, ctx.clock.now() + timedelta(hours=1))
    with pytest.raises(CampaignStateError, match="it is finished"):
        service.start(ctx, seed.finished_campaign)


def test_send_times_are_read_as_utc_or_relative_to_now(clock: FakeClock) -> None:
    now = clock.now()
    assert service.parse_send_at("+2h", now) == now + timedelta(hours=2)
    assert service.parse_send_at("in 90m", now) == now + timedelta(minutes=90)
    assert service.parse_send_at("2026-11-21 09:00", now) == datetime(2026, 11, 21, 9, tzinfo=UTC)
    assert service.parse_send_at("2026-11-21T10:00+01:00", now) == datetime(
        2026, 11, 21, 9, tzinfo=UTC
    )
    assert service.parse_send_at("2026-11-21 09:00 UTC", now).hour == 9
    with pytest.raises(ValidationError, match="use YYYY-MM-DD HH:MM"):
        service.parse_send_at("next tuesday", now)


# --- pause and cancel: never gated -------------------------------------------------------------


def test_pause_from_running_is_never_gated_and_cancel_stops_it_for_good(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    cid = seed.running_campaign  # no approval was ever recorded for it
    paused = service.pause(ctx, cid, reason="wrong price in the subject")
    assert (paused.previous_status, paused.status) == ("running", "paused")

    cancelled = service.cancel(ctx, cid, reason="superseded")
    assert (cancelled.previous_status, cancelled.status) == ("paused", "cancelled")
    assert listmonk.status_changes == [(cid, "running", "paused"), (cid, "paused", "cancelled")]

    with pytest.raises(CampaignStateError, match="only a running campaign can be paused"):
        service.pause(ctx, cid)


def test_cancel_unschedules_a_scheduled_campaign_back_to_draft(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    result = service.cancel(ctx, seed.scheduled_campaign)
    assert (result.previous_status, result.status) == ("scheduled", "draft")
    with pytest.raises(CampaignStateError, match=r"cannot cancel campaign .*: it is draft"):
        service.cancel(ctx, seed.ready_campaign)


# --- read-only and the audit trail --------------------------------------------------------------


def test_read_only_refuses_approve_schedule_start_and_pause_and_audits_each_refusal(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    viewer = make_ctx(sqlite_db, clock, listmonk, actor="viewer", read_only=True)
    calls = [
        lambda: service.approve(viewer, seed.ready_campaign, "legal", "ok"),
        lambda: service.schedule(viewer, seed.ready_campaign, clock.now() + timedelta(hours=1)),
        lambda: service.start(viewer, seed.ready_campaign),
        lambda: service.pause(viewer, seed.running_campaign),
        lambda: service.cancel(viewer, seed.running_campaign),
        lambda: service.test_send(viewer, seed.ready_campaign),
        lambda: service.consent_check(viewer, seed.ready_campaign),
    ]
    for call in calls:
        with pytest.raises(ReadOnlyError, match="read-only mode"):
            call()

    assert [(a.action, a.actor, a.outcome) for a in audit_rows(sqlite_db)] == [
        (action, "viewer", "refused")
        for action in (
            "campaign.approve",
            "campaign.schedule",
            "campaign.start",
            "campaign.pause",
            "campaign.cancel",
            "campaign.test_send",
            "campaign.consent_check",
        )
    ]
    assert review_rows(sqlite_db) == []
    assert listmonk.status_changes == [] and listmonk.test_sends == []
    # Reading stays possible.
    assert len(service.list_campaigns(viewer).rows) == 120


def test_every_campaign_action_writes_one_audit_row_with_its_outcome(
    db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    ctx = make_ctx(db, clock, listmonk)
    cid = seed.ready_campaign
    with pytest.raises(CampaignNotReadyError):
        service.schedule(ctx, cid, clock.now() + timedelta(hours=1))
    make_ready(ctx, listmonk, cid)
    service.reject(ctx, cid, "brand", "too loud")
    service.approve(ctx, cid, "brand", "fine after all")
    service.start(ctx, cid, reason="launch")
    service.pause(ctx, cid, reason="incident")
    service.cancel(ctx, cid, reason="incident")

    rows = [(a.action, a.outcome, a.count) for a in audit_rows(db)]
    assert rows == [
        ("campaign.schedule", "failed", None),
        ("campaign.approve", "ok", 1),
        ("campaign.approve", "ok", 1),
        ("campaign.consent_check", "ok", 0),
        ("campaign.test_send", "ok", 2),
        ("campaign.reject", "ok", 1),
        ("campaign.approve", "ok", 1),
        ("campaign.start", "ok", 1),
        ("campaign.pause", "ok", 1),
        ("campaign.cancel", "ok", 1),
    ]
    first = audit_rows(db)[0]
    assert first.detail is not None and first.detail.startswith(f"cannot schedule campaign {cid}")
    start = audit_rows(db)[7]
    assert start.target is not None
    assert (start.target["campaign_id"], start.target["campaign"]) == (cid, "Spring sale")
    assert len(start.target["fingerprint"]) == 12 and start.reason == "launch"
    assert start.actor == "ana"
