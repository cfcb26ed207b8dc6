"""The consent check, the test send, the campaign listing (paged), the scorecard and the
subscriber helpers (bounces, import), against the fake Listmonk on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from mailconsole.campaigns import service, subscribers
from mailconsole.campaigns.scorecard import write_csv, write_json
from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.errors import BackendError, NotFoundError, ValidationError
from mailconsole.listmonk import ImportStatus
from mailconsole.store.db import Database
from tests.campaigns.conftest import audit_rows, listmonk_config, review_rows
from tests.fakes.listmonk_server import DefaultSeed, FakeListmonk

# --- consent -----------------------------------------------------------------------------------


def test_consent_check_fails_a_single_opt_in_public_list_and_names_it(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    result = service.consent_check(ctx, seed.consent_failing_campaign)

    assert not result.passed
    [legacy] = result.lists
    assert (legacy.name, legacy.type, legacy.optin, legacy.optin_ok) == (
        "Product updates (legacy)",
        "public",
        "single",
        False,
    )
    assert result.problems == (
        'public list "Product updates (legacy)" is single opt-in: public lists must be '
        "double opt-in",
        '1 subscriber of "Product updates (legacy)" without marketing_opt_in = true',
    )
    assert result.samples == ("emma@example.org",)
    review = review_rows(ctx.db)[-1]
    assert (review.kind, review.decision, review.campaign_id) == (
        "consent",
        "failed",
        seed.consent_failing_campaign,
    )
    assert review.detail is not None and review.detail["without_attribute"] == 1
    assert "emma" not in json.dumps(review.detail)  # addresses are shown, never stored


def test_consent_check_counts_who_would_receive_it_without_marketing_opt_in(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    result = service.consent_check(ctx, seed.ready_campaign)

    # Newsletter (public, double): chloe (false) and emma (unset); dev is unconfirmed on a
    # double opt-in list so Listmonk would not send to him. Customers (private, single): chloe;
    # jon unsubscribed and blocked@ blocklisted are not counted.
    assert [(lst.name, lst.optin_ok, lst.without_attribute) for lst in result.lists] == [
        ("Newsletter", True, 2),
        ("Customers", True, 1),
    ]
    assert result.without_attribute == 2
    assert result.samples == ("chloe@example.org", "emma@example.org")
    assert not result.passed

    with listmonk.lock:
        listmonk.subscribers[seed.subscribers["chloe@example.org"]]["attribs"][
            "marketing_opt_in"
        ] = True
        listmonk.subscribers[seed.subscribers["emma@example.org"]]["attribs"][
            "marketing_opt_in"
        ] = True
    assert service.consent_check(ctx, seed.ready_campaign).passed


def test_the_marketing_attribute_is_the_configured_one(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    config = listmonk_config(listmonk.url, listmonk={"account": "listmonk-main",
                                                     "marketing_attribute": "role"})  # fmt: skip
    ctx = AppContext(config=config, db=sqlite_db, clock=clock)
    result = service.consent_check(ctx, seed.ready_campaign)
    assert result.attribute == "role"
    assert '"Newsletter" without role = true' in "; ".join(result.problems)


# --- test send ---------------------------------------------------------------------------------


def test_test_send_goes_only_to_the_testers_list_and_is_recorded_for_this_version(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    result = service.test_send(ctx, seed.ready_campaign, reason="check the footer")

    assert result.recipients == seed.testers
    [sent] = listmonk.test_sends
    assert sent["emails"] == list(seed.testers) and sent["skipped"] == []
    assert sent["subject"] == "Spring sale: 20% off everything"
    review = review_rows(ctx.db)[-1]
    assert (review.kind, review.decision, review.fingerprint) == (
        "test_send",
        "sent",
        result.fingerprint,
    )
    assert review.detail == {"list": "mailing-testers", "recipients": 2}
    detail = service.show_campaign(ctx, seed.ready_campaign)
    assert (
        detail.governance.item("test_send")
        .summary()
        .startswith("sent to 2 tester(s) on mailing-testers by ana")
    )


def test_test_send_says_what_to_do_when_the_testers_list_is_missing_or_empty(
    sqlite_db: Database, clock: FakeClock, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    config = listmonk_config(listmonk.url, listmonk={"account": "listmonk-main",
                                                     "testers_list": "qa-team"})  # fmt: skip
    ctx = AppContext(config=config, db=sqlite_db, clock=clock)
    with pytest.raises(ValidationError, match='no list named "qa-team" in Listmonk'):
        service.test_send(ctx, seed.ready_campaign)
    listmonk.add_list("qa-team")
    with pytest.raises(ValidationError, match="has no subscribers: add the testers"):
        service.test_send(ctx, seed.ready_campaign)
    assert listmonk.test_sends == []
    assert [a.outcome for a in audit_rows(sqlite_db)] == ["failed", "failed"]


# --- the listing -------------------------------------------------------------------------------


def test_list_campaigns_pages_through_all_120_campaigns_with_audience_and_progress(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    result = service.list_campaigns(ctx)

    assert len(result.rows) == 120 and len({r.id for r in result.rows}) == 120
    pages = listmonk.requests_to("/api/campaigns", "GET")
    assert [r.query["page"] for r in pages] == [["1"], ["2"], ["3"]]
    assert all(r.query["no_body"] == ["true"] for r in pages)
    rows = {r.id: r for r in result.rows}
    ready = rows[seed.ready_campaign]
    assert [lst.name for lst in ready.lists] == ["Newsletter", "Customers"]
    assert (ready.audience, ready.audience_estimated) == (6 + 4, True)  # lists' counts
    running = rows[seed.running_campaign]
    assert (running.sent, running.to_send, running.progress, running.rate) == (
        1800,
        5000,
        0.36,
        42.0,
    )
    assert rows[seed.scheduled_campaign].send_at == ctx.clock.now() + timedelta(days=2)
    assert ready.approval_state == "legal — brand — consent — test —"
    assert result.counts()["running"] == 1

    drafts = service.list_campaigns(ctx, status="draft")
    assert {r.status for r in drafts.rows} == {"draft"}
    promo = service.list_campaigns(ctx, tag="promo")
    assert {r.name for r in promo.rows} == {"Spring sale", "Black Friday teaser", "Autumn promo"}


def test_only_reviewed_campaigns_have_their_bodies_fetched(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    service.approve(ctx, seed.ready_campaign, "legal", "ok")
    before = len(listmonk.requests)
    row = next(r for r in service.list_campaigns(ctx).rows if r.id == seed.ready_campaign)
    fetched = [r.path for r in listmonk.requests[before:] if r.path.startswith("/api/campaigns/1")]
    assert fetched == [f"/api/campaigns/{seed.ready_campaign}"]
    assert row.approval_state == "legal ✓ brand — consent — test —"
    assert row.governance.fingerprint is not None


# --- scorecard ---------------------------------------------------------------------------------


def test_scorecard_sums_views_clicks_and_bounces_over_the_window_with_rates(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    card = service.scorecard(ctx, seed.finished_campaign)

    assert (card.sent, card.views, card.clicks, card.bounces) == (6, 6, 3, 3)
    assert (card.view_rate, card.click_rate, card.bounce_rate) == (1.0, 0.5, 0.5)
    assert card.window_start == ctx.clock.now() - timedelta(days=14)
    assert card.window_end == ctx.clock.now()
    assert [(d.views, d.clicks, d.bounces) for d in card.days] == [(4, 2, 2), (1, 1, 1), (1, 0, 0)]
    # A window that ends on the first day leaves out the later days.
    first_day = service.scorecard(
        ctx, seed.finished_campaign, until=card.window_start + timedelta(hours=10)
    )
    assert (first_day.views, first_day.clicks, first_day.bounces) == (4, 2, 2)


def test_scorecard_csv_is_quoted_and_formula_neutralised_and_json_round_trips(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    listmonk.force_campaign(
        seed.finished_campaign, name='=HYPERLINK("http://evil")', subject="+40% off"
    )
    card = service.scorecard(ctx, seed.finished_campaign)
    out = io.StringIO()
    write_csv([card], out)

    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0].startswith('"campaign_id","campaign","subject","status"')
    assert all(field.startswith('"') for field in lines[1].split(","))
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["campaign"] == '\'=HYPERLINK("http://evil")'
    assert row["subject"] == "'+40% off"
    assert (row["sent"], row["views"], row["view_rate"], row["bounce_rate"]) == (
        "6",
        "6",
        "1.0000",
        "0.5000",
    )
    out = io.StringIO()
    write_json([card], out)
    [data] = json.loads(out.getvalue())
    assert data["campaign"] == '=HYPERLINK("http://evil")'  # JSON is data, not a spreadsheet
    assert data["days"][0] == {"day": "2025-12-18", "views": 4, "clicks": 2, "bounces": 2}


def test_a_campaign_not_sent_yet_has_no_rates(ctx: AppContext, seed: DefaultSeed) -> None:
    card = service.scorecard(ctx, seed.ready_campaign)
    assert (card.sent, card.view_rate, card.click_rate, card.bounce_rate) == (0, None, None, None)


# --- bounces and imports -----------------------------------------------------------------------


def test_bounces_are_listed_and_cleared_and_the_clear_is_audited(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    emma = seed.subscribers["emma@example.org"]
    found = subscribers.subscriber_bounces(ctx, "Emma@Example.org")
    assert (found.subscriber_id, found.counts()) == (emma, {"hard": 1, "soft": 1})
    assert found.bounces[0].campaign == "Winter newsletter"

    cleared = subscribers.clear_bounces(ctx, "emma@example.org", reason="Postmark incident")

    assert cleared == 2 and listmonk.bounce_count(emma) == 0
    audit = audit_rows(ctx.db)[-1]
    assert (audit.action, audit.outcome, audit.count, audit.reason) == (
        "subscriber.clear_bounces",
        "ok",
        2,
        "Postmark incident",
    )
    assert audit.target == {"address": "emma@example.org", "subscriber_id": emma}
    with pytest.raises(NotFoundError, match=r"no subscriber nobody@example\.org in Listmonk"):
        subscribers.subscriber_bounces(ctx, "nobody@example.org")


def test_import_follows_listmonks_progress_until_it_finishes(
    sqlite_db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    with FakeListmonk(clock=clock, import_step=2) as fake:
        fake.seed_default()
        ctx = AppContext(config=listmonk_config(fake.url), db=sqlite_db, clock=clock)
        path = tmp_path / "spring.csv"
        rows = [f'p{i}@example.net,P{i},"{{""marketing_opt_in"": true}}"' for i in range(5)]
        path.write_text("email,name,attributes\n" + "\n".join(rows) + "\n", encoding="utf-8")
        seen: list[ImportStatus] = []

        result = subscribers.import_subscribers(
            ctx, path, ["Newsletter"], "subscribe", seen.append, poll_seconds=0.5
        )

        assert [(s.status, s.imported) for s in seen] == [
            ("importing", 0),
            ("importing", 2),
            ("importing", 4),
            ("finished", 5),
        ]
        assert (result.status, result.imported, result.total) == ("finished", 5, 5)
        sid = fake.subscriber_id("p3@example.net")
        assert sid is not None and fake.subscriber(sid)["attribs"] == {"marketing_opt_in": True}
        assert [lst["name"] for lst in fake.subscriber(sid)["lists"]] == ["Newsletter"]
        audit = audit_rows(sqlite_db)[-1]
        assert (audit.action, audit.outcome, audit.count) == ("subscriber.import", "ok", 5)
        assert audit.target == {"file": "spring.csv", "lists": ["Newsletter"], "mode": "subscribe"}


def test_import_names_an_unknown_list_and_reports_a_failed_import(
    ctx: AppContext, listmonk: FakeListmonk, seed: DefaultSeed, tmp_path: Path
) -> None:
    path = tmp_path / "x.csv"
    path.write_text("mail,name\nx@example.net,X\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="no list named 'Newsleter' in Listmonk"):
        subscribers.import_subscribers(ctx, path, ["Newsleter"])
    with pytest.raises(BackendError, match="ended failed after 0 of 0 records: error: the CSV"):
        subscribers.import_subscribers(ctx, path, ["Newsletter"])
    assert [a.outcome for a in audit_rows(ctx.db)] == ["failed", "failed"]


async def test_a_service_called_from_a_running_event_loop_still_answers(
    ctx: AppContext, seed: DefaultSeed
) -> None:
    """The services are sync; from async code they run Listmonk's client in a helper thread."""
    result = service.list_campaigns(ctx)
    assert len(result.rows) == seed.total_campaigns
