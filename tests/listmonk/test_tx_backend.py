"""The `listmonk` backend: transactional messages through POST /api/tx on the fake Listmonk."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from backends.listmonk import ListmonkBackend
from mailconsole.backend_api import (
    Backend,
    BackendContext,
    Outcome,
    OutgoingMessage,
    load_backend_class,
)
from mailconsole.clock import FakeClock
from mailconsole.errors import ConfigError
from tests.fakes.listmonk_server import DefaultSeed, FakeListmonk


def make_backend(
    listmonk: FakeListmonk,
    http: httpx.AsyncClient | None,
    clock: FakeClock,
    *,
    secret: str | None = None,
    **options: Any,
) -> ListmonkBackend:
    opts = {"base_url": listmonk.url, "api_user": listmonk.api_user, **options}
    context = BackendContext(
        name="listmonk-tx",
        options=opts,
        secret=secret if secret is not None else listmonk.token,
        http=http,
        clock=clock,
    )
    backend = ListmonkBackend.create(context)
    assert isinstance(backend, ListmonkBackend)
    return backend


def message(id: int, to: str = "ana@example.org", **kw: Any) -> OutgoingMessage:
    fields: dict[str, Any] = {
        "id": id,
        "from_addr": "Shop <shop@example.com>",
        "to": (to,),
        "subject": f"Order {id}",
        "template_id": 2,
        "template_data": {"order_id": id},
    }
    fields.update(kw)
    return OutgoingMessage(**fields)


def test_the_backend_is_registered_and_follows_the_protocol(
    listmonk: FakeListmonk, clock: FakeClock
) -> None:
    assert load_backend_class("listmonk") is ListmonkBackend
    backend = make_backend(listmonk, None, clock)
    assert isinstance(backend, Backend)
    assert (backend.kind, backend.needs_secret, backend.supports_quota) == (
        "listmonk",
        True,
        False,
    )
    assert (backend.limits.batch_size, backend.limits.max_connections) == (50, 4)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"api_user": "u"}, r"accounts\.listmonk-tx\.base_url: required for a listmonk account"),
        ({"base_url": "lists.example.com", "api_user": "u"}, r"base_url: .* must start with"),
        ({"base_url": "https://l.example.com"}, r"accounts\.listmonk-tx\.api_user: required"),
        (
            {"base_url": "https://l.example.com", "api_user": "u", "templ_id": 3},
            r"accounts\.listmonk-tx\.templ_id: unknown key for a listmonk account",
        ),
        (
            {"base_url": "https://l.example.com", "api_user": "u", "template_id": 0},
            r"accounts\.listmonk-tx\.template_id",
        ),
    ],
)
def test_bad_options_name_the_config_key(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        ListmonkBackend.create(BackendContext(name="listmonk-tx", options=options, secret="t"))


def test_a_missing_token_says_how_to_set_it() -> None:
    options = {"base_url": "https://lists.example.com", "api_user": "u"}
    with pytest.raises(ConfigError, match="mailconsole secrets set listmonk-tx"):
        ListmonkBackend.create(BackendContext(name="listmonk-tx", options=options, secret=None))


async def test_accepted_sends_reach_listmonk_with_template_data_and_headers(
    listmonk: FakeListmonk, seed: DefaultSeed, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    backend = make_backend(listmonk, http, clock, content_type="html")
    batch = [
        message(1, headers={"X-Order": "1"}, reply_to="help@example.com"),
        message(2, to="ben@example.org", cc=("chloe@example.org",)),
    ]

    results = await backend.send(batch)

    assert [r.message_id for r in results] == [1, 2]
    assert all(r.outcome is Outcome.SENT for r in results)
    ids = [r.provider_message_id for r in results]
    assert all(i and i.startswith("listmonk-tx-") for i in ids) and len(set(ids)) == 2
    sent = {(s["email"], s["data"]["order_id"]) for s in listmonk.tx_sent}
    assert sent == {("ana@example.org", 1), ("ben@example.org", 2), ("chloe@example.org", 2)}
    first = next(s for s in listmonk.tx_sent if s["email"] == "ana@example.org")
    assert first["template_id"] == seed.tx_template
    assert first["headers"] == [{"X-Order": "1"}, {"Reply-To": "help@example.com"}]
    assert first["content_type"] == "html"
    assert first["from_email"] == "Shop <shop@example.com>"


async def test_a_message_without_template_uses_the_accounts_and_carries_its_content(
    listmonk: FakeListmonk, seed: DefaultSeed, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    backend = make_backend(listmonk, http, clock, template_id=seed.tx_template_reset)
    plain = message(5, template_id=None, template_data=None, text="Your code is 1234")

    (result,) = await backend.send([plain])

    assert result.outcome is Outcome.SENT
    (sent,) = listmonk.tx_sent
    assert sent["template_id"] == seed.tx_template_reset
    assert sent["data"] == {"subject": "Order 5", "text": "Your code is 1234"}


async def test_failed_sends_are_classified_one_result_per_message(
    listmonk: FakeListmonk, seed: DefaultSeed, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    backend = make_backend(listmonk, http, clock)
    batch = [
        message(1),
        message(2, to="stranger@example.net"),
        message(3, template_id=99),
        message(4, template_id=None),
        message(5, to="stranger@example.net", cc=("ben@example.org",)),
    ]

    results = await backend.send(batch)

    assert [(r.message_id, r.outcome, r.error_code) for r in results] == [
        (1, Outcome.SENT, None),
        (2, Outcome.PERMANENT, "http_400"),
        (3, Outcome.PERMANENT, "http_400"),
        (4, Outcome.PERMANENT, "no_template"),
        (5, Outcome.PERMANENT, "http_400"),
    ]
    assert results[1].error_message == "listmonk: Subscriber not found"
    assert results[2].error_message == "listmonk: template 99 not found"
    assert "accounts.listmonk-tx.template_id" in (results[3].error_message or "")
    assert "some may have it" in (results[4].error_message or "")
    assert not any(r.suppress_recipients for r in results)
    # Message 4 never reached Listmonk; message 5 reached the one subscriber it knows.
    assert len(listmonk.requests_to("/api/tx")) == 4
    assert sorted(s["email"] for s in listmonk.tx_sent) == ["ana@example.org", "ben@example.org"]


async def test_a_rejected_token_stops_the_account_not_the_messages(
    listmonk: FakeListmonk, seed: DefaultSeed, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    backend = make_backend(listmonk, http, clock, secret="revoked")

    results = await backend.send([message(1), message(2)])

    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.ACCOUNT, "http_403")}
    assert "mailconsole secrets set listmonk-tx" in (results[0].error_message or "")
    assert listmonk.tx_sent == []
    health = await backend.health()
    assert not health.ok and health.error_code == "auth_error"


async def test_overload_and_outages_are_transient_and_not_retried_inside(
    listmonk: FakeListmonk, seed: DefaultSeed, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    backend = make_backend(listmonk, http, clock, max_connections=1)
    listmonk.fail_next(429, times=1, path="/api/tx", retry_after=7, message="SMTP quota exceeded")
    listmonk.fail_next(503, times=1, path="/api/tx")

    results = await backend.send([message(1), message(2), message(3)])

    assert [(r.outcome, r.error_code) for r in results] == [
        (Outcome.TRANSIENT, "http_429"),
        (Outcome.TRANSIENT, "http_503"),
        (Outcome.SENT, None),
    ]
    assert results[0].retry_after == 7
    assert "SMTP quota exceeded" in (results[0].error_message or "")
    assert len(listmonk.requests_to("/api/tx")) == 3


async def test_a_send_that_times_out_is_transient(
    listmonk: FakeListmonk, seed: DefaultSeed, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    backend = make_backend(listmonk, http, clock, timeout_seconds=0.2)
    listmonk.delay_next(2.0, times=1, path="/api/tx")

    (result,) = await backend.send([message(1)])

    assert (result.outcome, result.error_code) == (Outcome.TRANSIENT, "timeout")


async def test_sends_run_concurrently_up_to_max_connections(
    listmonk: FakeListmonk, seed: DefaultSeed, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    backend = make_backend(listmonk, http, clock, max_connections=3)
    listmonk.delay_next(0.1, times=9, path="/api/tx")

    results = await backend.send([message(i) for i in range(1, 10)])

    assert all(r.ok for r in results)
    assert [r.message_id for r in results] == list(range(1, 10))
    assert listmonk.max_concurrent == 3


async def test_health_checks_the_api_and_quota_is_none(
    listmonk: FakeListmonk, seed: DefaultSeed, clock: FakeClock
) -> None:
    backend = make_backend(listmonk, None, clock)
    try:
        health = await backend.health()
        assert health.ok and health.detail == "listmonk: API reachable"
        assert health.latency_ms is not None
        assert await backend.quota() is None
        listmonk.fail_next(500, times=4, path="/api/health", message="db down")
        health = await backend.health()
        assert not health.ok and health.error_code == "http_500"
        assert "db down" in health.detail
    finally:
        await backend.aclose()


async def test_external_subscriber_mode_sends_to_addresses_listmonk_does_not_know(
    listmonk: FakeListmonk, seed: DefaultSeed, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    backend = make_backend(
        listmonk, http, clock, template_id=seed.tx_template_reset, subscriber_mode="external"
    )
    plain = OutgoingMessage(
        id=7, from_addr="ops@example.com", to=("anyone@example.net",), subject="Hi", text="x"
    )

    (result,) = await backend.send([plain])

    assert result.outcome is Outcome.SENT and result.provider_message_id
    assert [s["email"] for s in listmonk.tx_sent] == ["anyone@example.net"]
    assert listmonk.requests_to("/api/tx")[0].json()["subscriber_mode"] == "external"
