"""The fake Listmonk itself: the behaviours other tests (governance, the screen, the demo) lean on."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.fakes.listmonk_server import DefaultSeed, FakeListmonk, compile_subscriber_query


def test_the_default_seed_spreads_120_campaigns_over_every_status(
    listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    assert seed.total_campaigns == len(listmonk.campaigns) == 120
    counts = {status: len(ids) for status, ids in seed.campaigns_by_status.items()}
    assert all(counts[s] >= 1 for s in ("scheduled", "running", "paused"))
    assert counts["draft"] > 2 and counts["cancelled"] > 1 and counts["finished"] > 50
    assert listmonk.list_members(seed.testers_list) == sorted(
        seed.subscribers[e] for e in seed.testers
    )
    lists = {lst["name"]: (lst["type"], lst["optin"]) for lst in listmonk.lists.values()}
    assert lists == {
        "mailing-testers": ("private", "single"),
        "Newsletter": ("public", "double"),
        "Product updates (legacy)": ("public", "single"),
        "Customers": ("private", "single"),
    }


async def test_an_empty_listing_answers_results_only_and_basic_auth_works(
    listmonk: FakeListmonk,
) -> None:
    basic = base64.b64encode(f"{listmonk.api_user}:{listmonk.token}".encode()).decode()
    async with httpx.AsyncClient(base_url=listmonk.url) as http:
        response = await http.get("/api/campaigns", headers={"Authorization": f"Basic {basic}"})
        assert response.json() == {"data": {"results": []}}
        wrong = base64.b64encode(b"mailconsole:nope").decode()
        denied = await http.get("/api/campaigns", headers={"Authorization": f"Basic {wrong}"})
        assert denied.status_code == 403
        unknown = await http.get("/api/nothing", headers=listmonk.auth_header)
        assert unknown.status_code == 404


async def test_faults_are_served_before_auth_and_only_on_matching_requests(
    listmonk: FakeListmonk, seed: DefaultSeed
) -> None:
    listmonk.fail_next(503, times=1, path="/api/tx", method="POST", message="busy")
    async with httpx.AsyncClient(base_url=listmonk.url, headers=listmonk.auth_header) as http:
        assert (await http.get("/api/health")).json() == {"data": True}
        failed = await http.post("/api/tx", json={})
        assert (failed.status_code, failed.json()) == (503, {"message": "busy"})
        refused = await http.post("/api/tx", json={})
        assert refused.status_code == 400


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("subscribers.email = 'ana@example.org'", {"ana@example.org"}),
        (
            "subscribers.attribs->>'marketing_opt_in' = 'false'",
            {"chloe@example.org", "jon@example.org", "blocked@example.org"},
        ),
        (
            "(subscribers.attribs->>'marketing_opt_in')::BOOLEAN = false "
            "AND subscribers.status != 'blocklisted'",
            {"chloe@example.org", "jon@example.org"},
        ),
        ("subscribers.attribs->>'marketing_opt_in' IS NULL", {"emma@example.org"}),
        ("email ILIKE '%+promo@%' OR name = 'jon'", {"ines+promo@example.org", "jon@example.org"}),
        ("subscribers.status IN ('blocklisted')", {"blocked@example.org"}),
        ("NOT (subscribers.email LIKE '%@example.org')", {"qa-1@example.com", "qa-2@example.com"}),
    ],
)
def test_the_subscriber_query_language_covers_what_the_console_sends(
    listmonk: FakeListmonk, seed: DefaultSeed, query: str, expected: set[str]
) -> None:
    predicate = compile_subscriber_query(query)
    assert {s["email"] for s in listmonk.subscribers.values() if predicate(s)} == expected


def test_a_bad_subscriber_query_is_an_error_like_postgres() -> None:
    with pytest.raises(ValueError, match='column "secret" does not exist'):
        compile_subscriber_query("secret = 1")
    with pytest.raises(ValueError, match="syntax error"):
        compile_subscriber_query("email = ")
