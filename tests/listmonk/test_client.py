"""The Listmonk client against the fake Listmonk on 127.0.0.1: paging, errors, retries, campaign
status moves, test sends, analytics, bounces and imports, as the runbook uses them."""

from __future__ import annotations

import socket
from datetime import timedelta

import httpx
import pytest

from mailconsole.clock import FakeClock
from mailconsole.errors import BackendError, ConfigError, NotFoundError
from mailconsole.listmonk import (
    ListmonkAuthError,
    ListmonkClient,
    ListmonkNotFoundError,
    ListmonkRequestError,
    ListmonkUnavailableError,
    client_from_context,
    sql_quote,
)
from tests.conftest import make_config
from tests.fakes.listmonk_server import DefaultSeed, FakeListmonk

# --- paging --------------------------------------------------------------------------------------


async def test_campaigns_page_through_all_120_campaigns_fifty_at_a_time(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    campaigns = await client.campaigns()

    assert len(campaigns) == seed.total_campaigns == 120
    assert len({c.id for c in campaigns}) == 120
    pages = listmonk.requests_to("/api/campaigns", "GET")
    assert [(r.query["page"], r.query["per_page"]) for r in pages] == [
        (["1"], ["50"]),
        (["2"], ["50"]),
        (["3"], ["50"]),
    ]
    assert pages[0].headers["authorization"] == "token mailconsole:listmonk-test-token"
    # Newest first, and every status is represented.
    assert campaigns[0].name == "Spring sale"
    assert {c.status for c in campaigns} == {
        "draft",
        "scheduled",
        "running",
        "paused",
        "cancelled",
        "finished",
    }


async def test_the_server_caps_per_page_at_50_whatever_is_asked(
    listmonk: FakeListmonk, seed: DefaultSeed, http: httpx.AsyncClient
) -> None:
    response = await http.get(
        f"{listmonk.url}/api/campaigns",
        params={"per_page": 500, "no_body": "true"},
        headers=listmonk.auth_header,
    )
    data = response.json()["data"]
    assert len(data["results"]) == 50
    assert (data["total"], data["per_page"]) == (120, 50)

    everything = await http.get(
        f"{listmonk.url}/api/campaigns", params={"per_page": "all"}, headers=listmonk.auth_header
    )
    assert len(everything.json()["data"]["results"]) == 120


async def test_paging_follows_total_even_when_the_server_caps_lower(
    clock: FakeClock, http: httpx.AsyncClient
) -> None:
    with FakeListmonk(clock=clock, max_per_page=20) as server:
        server.seed_default()
        client = ListmonkClient(server.url, server.api_user, server.token, http, clock)
        campaigns = await client.campaigns()
        assert len({c.id for c in campaigns}) == 120
        assert len(server.requests_to("/api/campaigns")) == 6


async def test_campaign_filters_by_status_tag_and_text(
    client: ListmonkClient, seed: DefaultSeed
) -> None:
    running_or_paused = await client.campaigns(status=["running", "paused"])
    assert {c.id for c in running_or_paused} == {seed.running_campaign, seed.paused_campaign}

    promo = await client.campaigns(tag="promo")
    assert {seed.ready_campaign, seed.paused_campaign, seed.scheduled_campaign} <= {
        c.id for c in promo
    }
    assert all("promo" in c.tags for c in promo)

    found = await client.campaigns(query="spring")
    assert [c.id for c in found] == [seed.ready_campaign]

    with pytest.raises(ListmonkRequestError, match="unknown campaign status 'sent'"):
        await client.campaigns(status="sent")


async def test_listings_leave_bodies_out_and_one_campaign_carries_everything(
    client: ListmonkClient, seed: DefaultSeed
) -> None:
    listed = {c.id: c for c in await client.campaigns()}
    assert listed[seed.ready_campaign].body == ""

    camp = await client.campaign(seed.ready_campaign)
    assert "Spring sale" in camp.body and "UnsubscribeURL" in camp.body
    assert camp.altbody == "Spring sale: 20% off this week."
    assert [ref.name for ref in camp.lists] == ["Newsletter", "Customers"]
    assert camp.headers == ({"X-Campaign": "spring-sale"},)
    assert camp.template_id == seed.campaign_template
    assert camp.status == "draft" and camp.send_at is None
    assert camp.content_type == "richtext"
    assert camp.tags == ("promo", "spring")
    # Audience: confirmed on the double opt-in list, not unsubscribed or blocklisted elsewhere.
    assert camp.to_send == 7
    assert camp.updated_at is not None and camp.updated_at.tzinfo is not None

    finished = await client.campaign(seed.finished_campaign)
    assert (finished.sent, finished.views, finished.clicks, finished.bounces) == (6, 6, 3, 3)


async def test_lists_carry_type_and_opt_in_and_are_found_by_exact_name(
    client: ListmonkClient, seed: DefaultSeed
) -> None:
    lists = {lst.name: lst for lst in await client.lists()}
    assert set(lists) == {"mailing-testers", "Newsletter", "Product updates (legacy)", "Customers"}
    newsletter = lists["Newsletter"]
    assert (newsletter.type, newsletter.optin) == ("public", "double")
    assert newsletter.is_public and newsletter.is_double_optin
    assert newsletter.subscriber_statuses == {"confirmed": 5, "unconfirmed": 1}
    legacy = lists["Product updates (legacy)"]
    assert legacy.is_public and not legacy.is_double_optin

    testers = await client.list_by_name("mailing-testers")
    assert testers is not None and testers.id == seed.testers_list
    assert testers.subscriber_count == 2
    assert await client.list_by_name("mailing") is None


async def test_subscribers_are_queried_by_attribute_and_list(
    client: ListmonkClient, seed: DefaultSeed
) -> None:
    testers = await client.subscribers(list_id=seed.testers_list)
    assert [s.email for s in testers] == list(seed.testers)

    opted_out = await client.subscribers(
        query="(subscribers.attribs->>'marketing_opt_in')::BOOLEAN IS NOT TRUE",
        list_id=seed.newsletter_list,
    )
    assert sorted(s.email for s in opted_out) == ["chloe@example.org", "emma@example.org"]

    ana = await client.subscriber_by_email("Ana@Example.org")
    assert ana is not None and ana.attribs == {"marketing_opt_in": True}
    assert {sub.name: sub.subscription_status for sub in ana.lists} == {
        "Newsletter": "confirmed",
        "Customers": "confirmed",
    }
    assert await client.subscriber_by_email("o'brien@example.org") is None
    assert sql_quote("o'brien") == "'o''brien'"

    with pytest.raises(ListmonkRequestError, match="does not exist"):
        await client.subscribers(query="subscribers.nope = 1")


# --- errors, retries -----------------------------------------------------------------------------


async def test_a_bad_token_is_a_clear_credentials_error_and_is_not_retried(
    listmonk: FakeListmonk, seed: DefaultSeed, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    client = ListmonkClient(
        listmonk.url, listmonk.api_user, "revoked", http, clock, account="listmonk-main"
    )
    with pytest.raises(ListmonkAuthError) as caught:
        await client.campaigns()

    assert str(caught.value) == (
        "Listmonk rejected the credentials for account listmonk-main (403): check api_user and "
        "the token (`mailconsole secrets set listmonk-main`)"
    )
    assert isinstance(caught.value, BackendError)
    assert caught.value.error_code == "http_403"
    assert "revoked" not in str(caught.value) and "revoked" not in repr(client)
    assert len(listmonk.requests_to("/api/campaigns")) == 1


async def test_a_missing_auth_header_answers_403(
    listmonk: FakeListmonk, http: httpx.AsyncClient
) -> None:
    response = await http.get(f"{listmonk.url}/api/health")
    assert response.status_code == 403
    assert response.json() == {"message": "Invalid API credentials"}


async def test_reads_are_retried_on_5xx_with_backoff_on_the_clock(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed, clock: FakeClock
) -> None:
    before = clock.now()
    listmonk.fail_next(503, times=3, path="/api/campaigns")

    campaigns = await client.campaigns()

    assert len(campaigns) == 120
    first_page = [r for r in listmonk.requests_to("/api/campaigns") if r.query["page"] == ["1"]]
    assert len(first_page) == 4
    assert clock.now() - before == timedelta(seconds=0.5 + 1 + 2)


async def test_reads_give_up_after_three_retries_with_listmonks_message(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    listmonk.fail_next(502, times=4, message="upstream down", path="/api/campaigns/")

    with pytest.raises(ListmonkUnavailableError) as caught:
        await client.campaign(seed.ready_campaign)

    assert caught.value.error_code == "http_502"
    assert "after 4 attempts" in str(caught.value) and "upstream down" in str(caught.value)
    assert len(listmonk.requests_to(f"/api/campaigns/{seed.ready_campaign}")) == 4


async def test_writes_are_never_retried(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    path = f"/api/campaigns/{seed.running_campaign}/status"
    listmonk.fail_next(503, times=1, path=path)

    with pytest.raises(ListmonkUnavailableError):
        await client.set_campaign_status(seed.running_campaign, "paused")

    assert len(listmonk.requests_to(path)) == 1
    assert listmonk.campaign_json(seed.running_campaign)["status"] == "running"


async def test_a_read_that_times_out_is_retried(
    listmonk: FakeListmonk, seed: DefaultSeed, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    client = ListmonkClient(
        listmonk.url, listmonk.api_user, listmonk.token, http, clock, timeout_seconds=0.2
    )
    listmonk.delay_next(2.0, times=1, path="/api/health")

    assert await client.health() is True
    assert len(listmonk.requests_to("/api/health")) == 2


async def test_a_write_that_times_out_says_so_once(
    listmonk: FakeListmonk, seed: DefaultSeed, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    client = ListmonkClient(
        listmonk.url, listmonk.api_user, listmonk.token, http, clock, timeout_seconds=0.2
    )
    listmonk.delay_next(2.0, times=1, path="/api/tx")

    with pytest.raises(ListmonkUnavailableError, match="did not answer the transactional send"):
        await client.send_tx(seed.tx_template, ["ana@example.org"], {"order_id": 1})

    assert len(listmonk.requests_to("/api/tx")) == 1


async def test_an_unreachable_server_is_a_connect_error(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = ListmonkClient(f"http://127.0.0.1:{port}/api/", "u", "t", http, clock)

    with pytest.raises(ListmonkUnavailableError) as caught:
        await client.health()

    assert caught.value.error_code == "connect_error"
    assert f"http://127.0.0.1:{port}" in str(caught.value)
    assert "(after 4 attempts)" in str(caught.value)


async def test_a_missing_campaign_is_not_found_in_listmonks_words(
    client: ListmonkClient, seed: DefaultSeed
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.campaign(9999)
    assert isinstance(caught.value, ListmonkNotFoundError)
    assert str(caught.value) == "Campaign not found (Listmonk account listmonk-main, campaign 9999)"

    with pytest.raises(ListmonkNotFoundError, match="not found in Listmonk"):
        await client._request("GET", "/no/such/route", what="the route")


# --- campaign status moves -----------------------------------------------------------------------

ALLOWED_MOVES = {
    ("draft", "scheduled"),
    ("paused", "scheduled"),
    ("draft", "running"),
    ("paused", "running"),
    ("running", "paused"),
    ("running", "cancelled"),
    ("paused", "cancelled"),
    ("scheduled", "draft"),
}
STATUSES = ("draft", "scheduled", "running", "paused", "cancelled", "finished")
TARGETS = ("scheduled", "running", "paused", "cancelled", "draft")


@pytest.mark.parametrize("target", TARGETS)
async def test_status_moves_are_enforced_as_listmonk_enforces_them(
    client: ListmonkClient, listmonk: FakeListmonk, clock: FakeClock, target: str
) -> None:
    newsletter = listmonk.add_list("Newsletter", "public", "double")
    ids = {
        status: listmonk.add_campaign(
            f"{status} one",
            status=status,
            lists=[newsletter],
            send_at=clock.now() + timedelta(days=1),
        )
        for status in STATUSES
    }
    for status, cid in ids.items():
        if (status, target) in ALLOWED_MOVES:
            moved = await client.set_campaign_status(cid, target)
            assert moved.status == target
            assert listmonk.campaign_json(cid)["status"] == target
        else:
            with pytest.raises(ListmonkRequestError) as caught:
                await client.set_campaign_status(cid, target)
            assert caught.value.status == 400
            assert listmonk.campaign_json(cid)["status"] == status


async def test_pause_from_running_works(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    paused = await client.set_campaign_status(seed.running_campaign, "paused")

    assert paused.status == "paused"
    assert listmonk.status_changes == [(seed.running_campaign, "running", "paused")]
    resumed = await client.set_campaign_status(seed.running_campaign, "running")
    assert resumed.status == "running"


async def test_pausing_a_draft_is_refused_with_listmonks_message(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    with pytest.raises(ListmonkRequestError) as caught:
        await client.set_campaign_status(seed.ready_campaign, "paused")

    assert caught.value.listmonk_message == "Only active campaigns can be paused."
    assert str(caught.value) == (
        f"Listmonk refused the move of campaign {seed.ready_campaign} to paused (400): "
        "Only active campaigns can be paused."
    )
    assert listmonk.campaign_json(seed.ready_campaign)["status"] == "draft"


async def test_scheduling_needs_a_send_at_which_the_client_sets_first(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed, clock: FakeClock
) -> None:
    with pytest.raises(ListmonkRequestError, match="needs a `send_at` date"):
        await client.set_campaign_status(seed.ready_campaign, "scheduled")

    when = clock.now() + timedelta(days=3, microseconds=123)
    scheduled = await client.set_campaign_status(seed.ready_campaign, "scheduled", send_at=when)

    assert scheduled.status == "scheduled"
    assert scheduled.send_at == when.replace(microsecond=0)
    put = listmonk.requests_to(f"/api/campaigns/{seed.ready_campaign}", "PUT")[-1].json()
    assert put["send_later"] is True
    assert put["lists"] == [seed.newsletter_list, seed.customers_list]
    assert put["subject"] == "Spring sale: 20% off everything"
    # Content untouched by scheduling.
    after = listmonk.campaign_json(seed.ready_campaign)
    assert after["body"].startswith("<h1>Spring sale</h1>")
    assert after["headers"] == [{"X-Campaign": "spring-sale"}]


async def test_a_send_at_in_the_past_is_refused(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed, clock: FakeClock
) -> None:
    with pytest.raises(ListmonkRequestError, match="should be in the future"):
        await client.set_campaign_status(
            seed.ready_campaign, "scheduled", send_at=clock.now() - timedelta(hours=1)
        )
    assert listmonk.campaign_json(seed.ready_campaign)["status"] == "draft"
    assert listmonk.requests_to(f"/api/campaigns/{seed.ready_campaign}/status") == []


async def test_an_edit_changes_content_and_moves_updated_at(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    before = await client.campaign(seed.ready_campaign)

    after = await client.update_campaign(seed.ready_campaign, {"subject": "Spring sale: 25% off"})

    assert after.subject == "Spring sale: 25% off"
    assert after.body == before.body and after.lists == before.lists
    assert after.updated_at is not None and before.updated_at is not None
    assert after.updated_at > before.updated_at

    listmonk.edit_campaign(seed.ready_campaign, body="<p>changed in Listmonk</p>")
    edited = await client.campaign(seed.ready_campaign)
    assert edited.body == "<p>changed in Listmonk</p>"
    assert edited.updated_at is not None and edited.updated_at > after.updated_at

    with pytest.raises(ListmonkRequestError, match="Cannot update a running or a finished"):
        await client.update_campaign(seed.running_campaign, {"subject": "x"})


# --- test sends ----------------------------------------------------------------------------------


async def test_a_test_send_posts_the_full_campaign_to_existing_subscribers(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    await client.test_campaign(seed.ready_campaign, list(seed.testers))

    (sent,) = listmonk.test_sends
    assert sent["campaign_id"] == seed.ready_campaign
    assert sent["emails"] == list(seed.testers)
    assert sent["subject"] == "Spring sale: 20% off everything"
    body = listmonk.requests_to(f"/api/campaigns/{seed.ready_campaign}/test")[0].json()
    assert body["subscribers"] == list(seed.testers)
    assert body["lists"] == [seed.newsletter_list, seed.customers_list]
    assert body["body"].startswith("<h1>Spring sale</h1>")
    assert body["template_id"] == seed.campaign_template


async def test_a_test_send_to_unknown_addresses_only_is_refused(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    with pytest.raises(ListmonkRequestError) as caught:
        await client.test_campaign(seed.ready_campaign, ["nobody@example.net"])
    assert caught.value.listmonk_message == "No known subscribers to test."

    await client.test_campaign(seed.ready_campaign, ["nobody@example.net", "qa-1@example.com"])
    assert listmonk.test_sends[-1]["emails"] == ["qa-1@example.com"]
    assert listmonk.test_sends[-1]["skipped"] == ["nobody@example.net"]

    with pytest.raises(ListmonkRequestError, match="testers' list is empty"):
        await client.test_campaign(seed.ready_campaign, [])


async def test_a_test_send_needs_target_lists(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    listmonk.force_campaign(seed.ready_campaign, lists=[])
    with pytest.raises(ListmonkRequestError, match=r"Invalid list IDs\."):
        await client.test_campaign(seed.ready_campaign, list(seed.testers))
    assert listmonk.test_sends == []


# --- stats, analytics, bounces -------------------------------------------------------------------


async def test_running_stats_report_progress(client: ListmonkClient, seed: DefaultSeed) -> None:
    (stats,) = await client.running_stats()
    assert stats.id == seed.running_campaign
    assert (stats.to_send, stats.sent, stats.rate) == (5000, 1800, 42.0)
    assert stats.net_rate == 30  # 1800 sent over the 60 minutes since it started


async def test_analytics_count_by_day_within_the_window(
    client: ListmonkClient, seed: DefaultSeed, clock: FakeClock
) -> None:
    now = clock.now()
    views = await client.analytics("views", seed.finished_campaign, now - timedelta(days=30), now)
    assert [v.count for v in views] == [4, 1, 1]
    assert all(v.campaign_id == seed.finished_campaign for v in views)
    clicks = await client.analytics("clicks", seed.finished_campaign, now - timedelta(days=30), now)
    assert sum(c.count for c in clicks) == 3
    bounces = await client.analytics(
        "bounces", seed.finished_campaign, now - timedelta(days=30), now
    )
    assert sum(b.count for b in bounces) == 3

    first_day_only = await client.analytics(
        "views",
        seed.finished_campaign,
        now - timedelta(days=30),
        now - timedelta(days=13, hours=12),
    )
    assert [v.count for v in first_day_only] == [4]

    with pytest.raises(ListmonkRequestError, match="unknown analytics kind"):
        await client.analytics("opens", seed.finished_campaign, now, now)


async def test_a_subscribers_bounces_are_listed_and_cleared(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    emma = seed.subscribers["emma@example.org"]
    bounces = await client.bounces(subscriber_id=emma)
    assert sorted(b.type for b in bounces) == ["hard", "soft"]
    assert {b.campaign_name for b in bounces} == {"Winter newsletter"}
    assert len(await client.bounces(campaign_id=seed.finished_campaign)) == 3

    await client.delete_subscriber_bounces(emma)

    assert await client.bounces(subscriber_id=emma) == []
    assert listmonk.bounce_count(emma) == 0
    assert len(await client.bounces(campaign_id=seed.finished_campaign)) == 1
    with pytest.raises(ListmonkNotFoundError, match="Subscriber not found"):
        await client.delete_subscriber_bounces(9999)


# --- import --------------------------------------------------------------------------------------


async def test_an_import_shows_progress_until_it_finishes(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    csv_bytes = (
        b"email;name;attributes\n"
        b'kim@example.org;Kim;{"marketing_opt_in": true}\n'
        b"lee@example.org;Lee;\n"
        b"not-an-address;Bad;\n"
        b"max@example.org;Max;\n"
        b"ana@example.org;Ana;\n"
        b"zoe@example.org;Zoe;\n"
    )

    started = await client.import_subscribers(
        csv_bytes, list_ids=[seed.customers_list], delimiter=";", filename="crm.csv"
    )
    assert (started.status, started.total, started.imported) == ("importing", 6, 0)
    with pytest.raises(ListmonkRequestError, match="An import is already running"):
        await client.import_subscribers(csv_bytes, list_ids=[seed.customers_list], delimiter=";")

    seen = [status async for status in client.follow_import(interval_seconds=1.0)]

    assert [s.status for s in seen] == ["importing", "importing", "finished"]
    assert [s.imported for s in seen] == [2, 3, 5]
    assert seen[0].progress == pytest.approx(2 / 6)
    assert seen[-1].done and not seen[-1].running
    log = await client.import_logs()
    assert "skipping line 4: invalid email 'not-an-address'" in log
    assert "imported finished: 5 of 6 records" in log
    kim = listmonk.subscriber(listmonk.subscriber_id("kim@example.org") or 0)
    assert kim["attribs"] == {"marketing_opt_in": True}
    assert [lst["name"] for lst in kim["lists"]] == ["Customers"]
    request = listmonk.requests_to("/api/import/subscribers", "POST")[0]
    assert request.headers["content-type"].startswith("multipart/form-data")


async def test_an_import_refuses_a_bad_mode_or_delimiter_before_sending(
    client: ListmonkClient, listmonk: FakeListmonk
) -> None:
    with pytest.raises(ListmonkRequestError, match="unknown import mode"):
        await client.import_subscribers(b"email\n", mode="delete")
    with pytest.raises(ListmonkRequestError, match="single character"):
        await client.import_subscribers(b"email\n", delimiter=";;")
    assert listmonk.requests_to("/api/import/subscribers") == []


# --- building the client from the configuration --------------------------------------------------


def test_the_client_is_built_from_the_listmonk_account_and_its_secret(
    sqlite_db, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailconsole.context import AppContext

    config = make_config(
        accounts={
            "lists": {
                "type": "listmonk",
                "base_url": "https://lists.example.com/api/",
                "api_user": "mailconsole",
                "template_id": 4,
            }
        }
    )
    ctx = AppContext(config=config, db=sqlite_db, clock=clock)
    with pytest.raises(Exception, match="mailconsole secrets set lists"):
        client_from_context(ctx)

    monkeypatch.setenv("MAILCONSOLE_SECRET_LISTS", "tok")
    client = client_from_context(ctx)
    assert client.base_url == "https://lists.example.com"
    assert (client.api_user, client.account, client.owns_http) == ("mailconsole", "lists", True)

    broken = make_config(accounts={"lists": {"type": "listmonk", "api_user": "u"}})
    with pytest.raises(ConfigError, match=r"accounts\.lists\.base_url: required"):
        client_from_context(AppContext(config=broken, db=sqlite_db, clock=clock))
    none = make_config(accounts={})
    with pytest.raises(ConfigError, match="no Listmonk account configured"):
        client_from_context(AppContext(config=none, db=sqlite_db, clock=clock))


async def test_editing_a_scheduled_campaign_keeps_its_send_at(
    client: ListmonkClient, listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    before = await client.campaign(seed.scheduled_campaign)
    assert before.status == "scheduled" and before.send_at is not None

    after = await client.update_campaign(seed.scheduled_campaign, {"subject": "Teaser, take 2"})

    assert after.subject == "Teaser, take 2"
    assert after.send_at == before.send_at.replace(microsecond=0)
    assert listmonk.campaign_json(seed.scheduled_campaign)["status"] == "scheduled"
