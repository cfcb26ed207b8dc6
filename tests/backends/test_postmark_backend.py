"""The Postmark backend against a real HTTP server on 127.0.0.1 speaking Postmark's batch API."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from backends.postmark import PostmarkBackend, classify_postmark_code, parse_retry_after
from mailconsole.backend_api import BackendContext, Outcome, OutgoingMessage
from mailconsole.clock import FakeClock
from mailconsole.errors import ConfigError
from tests.fakes.postmark_server import DEFAULT_TOKEN, FakePostmark


def make(
    server: FakePostmark | None,
    http: httpx.AsyncClient | None,
    *,
    token: str | None = DEFAULT_TOKEN,
    clock: FakeClock | None = None,
    **options: Any,
) -> PostmarkBackend:
    if server is not None:
        options.setdefault("base_url", server.url)
    return PostmarkBackend.create(
        BackendContext(
            name="postmark-main",
            options=options,
            secret=token,
            http=http,
            clock=clock or FakeClock(),
        )
    )


def msg(i: int, to: str = "", **fields: Any) -> OutgoingMessage:
    return OutgoingMessage(
        id=i,
        from_addr="ops@example.com",
        to=(to or f"user{i}@example.com",),
        subject=f"subject {i}",
        text=f"text {i}",
        **fields,
    )


async def test_accepted_message_carries_every_field_postmark_needs(
    postmark_server: FakePostmark, http: httpx.AsyncClient
) -> None:
    backend = make(postmark_server, http, message_stream="transactional")
    message = OutgoingMessage(
        id=7,
        from_addr="Ops <ops@example.com>",
        to=("a@example.com", "b@example.com"),
        cc=("c@example.com",),
        bcc=("d@example.com",),
        reply_to="help@example.com",
        subject="Your receipt",
        text="plain",
        html="<p>html</p>",
        headers={"X-Campaign": "spring"},
        tag="receipt",
    )
    [result] = await backend.send([message])
    assert result.outcome is Outcome.SENT and result.message_id == 7
    [received] = postmark_server.received
    assert result.provider_message_id == received.message_id
    assert received.payload == {
        "From": "Ops <ops@example.com>",
        "To": "a@example.com, b@example.com",
        "Cc": "c@example.com",
        "Bcc": "d@example.com",
        "ReplyTo": "help@example.com",
        "Subject": "Your receipt",
        "TextBody": "plain",
        "HtmlBody": "<p>html</p>",
        "Headers": [{"Name": "X-Campaign", "Value": "spring"}],
        "Tag": "receipt",
        "MessageStream": "transactional",
        "Metadata": {"mailconsole_id": "7"},
    }


async def test_message_stream_of_the_message_wins_over_the_account_default(
    postmark_server: FakePostmark, http: httpx.AsyncClient
) -> None:
    backend = make(postmark_server, http)
    await backend.send([msg(1), msg(2, stream="broadcast")])
    assert [m.payload["MessageStream"] for m in postmark_server.received] == [
        "outbound",
        "broadcast",
    ]


async def test_mixed_batch_maps_each_error_code_to_its_own_result(
    postmark_server: FakePostmark, http: httpx.AsyncClient
) -> None:
    backend = make(postmark_server, http)
    batch = [
        msg(1),
        msg(2, to="x@reject.example"),
        msg(3),
        msg(4, to="gone@inactive.example"),
        msg(5),
    ]
    results = await backend.send(batch)
    assert [r.message_id for r in results] == [1, 2, 3, 4, 5]
    assert [r.outcome for r in results] == [
        Outcome.SENT,
        Outcome.PERMANENT,
        Outcome.SENT,
        Outcome.PERMANENT,
        Outcome.SENT,
    ]
    assert (results[1].error_code, results[1].provider_code) == ("provider_reject", "postmark:300")
    assert not results[1].suppress_recipients
    assert (results[3].provider_code, results[3].suppress_recipients) == ("postmark:406", True)
    assert "inactive" in (results[3].error_message or "")
    accepted = {m.mailconsole_id: m.message_id for m in postmark_server.accepted}
    assert {r.message_id: r.provider_message_id for r in results if r.ok} == {
        int(k): v for k, v in accepted.items()
    }
    assert postmark_server.requests == 1


async def test_account_error_codes_inside_a_batch_stop_the_account(
    postmark_server: FakePostmark, http: httpx.AsyncClient
) -> None:
    postmark_server.rule("unconfirmed.example", 401)
    results = await make(postmark_server, http).send([msg(1, to="a@unconfirmed.example")])
    assert (results[0].outcome, results[0].provider_code) == (Outcome.ACCOUNT, "postmark:401")


async def test_revoked_token_is_an_account_failure_and_nothing_is_sent(
    postmark_server: FakePostmark, http: httpx.AsyncClient
) -> None:
    backend = make(postmark_server, http, token="revoked")
    results = await backend.send([msg(1), msg(2)])
    assert [(r.outcome, r.error_code, r.provider_code) for r in results] == [
        (Outcome.ACCOUNT, "http_401", "postmark:10")
    ] * 2
    assert postmark_server.received == []
    health = await backend.health()
    assert not health.ok and health.error_code == "auth_error"
    assert "mailconsole secrets set postmark-main" in health.detail


@pytest.mark.parametrize(
    ("error_code", "outcome", "suppress"),
    [
        (300, Outcome.PERMANENT, False),
        (406, Outcome.PERMANENT, True),
        (405, Outcome.ACCOUNT, False),
        (100, Outcome.TRANSIENT, False),
        (9999, Outcome.PERMANENT, False),
    ],
)
async def test_422_is_classified_by_its_error_code_for_the_whole_batch(
    postmark_server: FakePostmark,
    http: httpx.AsyncClient,
    error_code: int,
    outcome: Outcome,
    suppress: bool,
) -> None:
    postmark_server.fail_next(422, error_code=error_code, message="nope")
    results = await make(postmark_server, http).send([msg(1), msg(2)])
    assert {(r.outcome, r.error_code, r.provider_code, r.suppress_recipients) for r in results} == {
        (outcome, "http_422", f"postmark:{error_code}", suppress)
    }
    assert results[0].error_message == "postmark: HTTP 422: nope"


async def test_rate_limit_is_transient_and_carries_retry_after(
    postmark_server: FakePostmark, http: httpx.AsyncClient
) -> None:
    postmark_server.fail_next(429, error_code=429, retry_after=30)
    backend = make(postmark_server, http)
    results = await backend.send([msg(1), msg(2)])
    assert {(r.outcome, r.error_code, r.retry_after) for r in results} == {
        (Outcome.TRANSIENT, "http_429", 30.0)
    }
    assert all(r.ok for r in await backend.send([msg(1), msg(2)]))


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_transient(
    postmark_server: FakePostmark, http: httpx.AsyncClient, status: int
) -> None:
    postmark_server.fail_next(status, message="Internal Server Error")
    results = await make(postmark_server, http).send([msg(1)])
    assert (results[0].outcome, results[0].error_code) == (Outcome.TRANSIENT, f"http_{status}")


async def test_timeout_is_transient_and_the_provider_may_have_taken_the_message(
    postmark_server: FakePostmark, http: httpx.AsyncClient
) -> None:
    postmark_server.delay_next(3.0)
    results = await make(postmark_server, http, timeout_seconds=0.2).send([msg(1)])
    assert (results[0].outcome, results[0].error_code) == (Outcome.TRANSIENT, "timeout")
    # At-least-once: the late answer's message was received, so a retry may duplicate it.
    assert len(postmark_server.accepted) == 1


async def test_refused_connection_is_transient_connect_error(http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the send: nothing listens there
    backend = make(None, http, base_url=f"http://127.0.0.1:{port}")
    results = await backend.send([msg(1), msg(2)])
    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.TRANSIENT, "connect_error")}
    health = await backend.health()
    assert not health.ok and health.error_code == "connect_error"


async def test_answer_that_is_not_json_is_a_transient_bad_response(
    postmark_server: FakePostmark, http: httpx.AsyncClient
) -> None:
    postmark_server.bad_json_next()
    results = await make(postmark_server, http).send([msg(1), msg(2)])
    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.TRANSIENT, "bad_response")}


async def test_more_than_500_messages_go_out_in_several_requests(
    postmark_server: FakePostmark, http: httpx.AsyncClient
) -> None:
    backend = make(postmark_server, http, batch_size=2000)
    assert backend.limits.batch_size == 500
    batch = [msg(i) for i in range(1, 602)]
    results = await backend.send(batch)
    assert [r.message_id for r in results] == list(range(1, 602))
    assert all(r.ok for r in results)
    assert postmark_server.requests == 2
    assert postmark_server.accepted_ids() == {str(i): 1 for i in range(1, 602)}


async def test_template_messages_are_refused_without_disturbing_the_order(
    postmark_server: FakePostmark, http: httpx.AsyncClient
) -> None:
    results = await make(postmark_server, http).send([msg(1), msg(2, template_id=3), msg(3)])
    assert [(r.message_id, r.outcome) for r in results] == [
        (1, Outcome.SENT),
        (2, Outcome.PERMANENT),
        (3, Outcome.SENT),
    ]
    assert results[1].error_code == "unsupported"
    assert [m.mailconsole_id for m in postmark_server.received] == ["1", "3"]


async def test_health_reports_the_server_name(
    postmark_server: FakePostmark, http: httpx.AsyncClient
) -> None:
    health = await make(postmark_server, http).health()
    assert health.ok and "fake-postmark" in health.detail and health.latency_ms is not None
    postmark_server.fail_next(503, path="/server")
    health = await make(postmark_server, http).health()
    assert not health.ok and health.error_code == "http_503"


async def test_missing_token_is_a_config_error_that_says_what_to_run() -> None:
    with pytest.raises(ConfigError) as err:
        make(None, None, token=None)
    assert "mailconsole secrets set postmark-main" in str(err.value)
    assert "MAILCONSOLE_SECRET_POSTMARK_MAIN" in str(err.value)


@pytest.mark.parametrize(
    ("options", "start"),
    [
        ({"base_url": "api.postmarkapp.com"}, "accounts.postmark-main.base_url:"),
        ({"timeout_seconds": 0}, "accounts.postmark-main.timeout_seconds:"),
        ({"stream": "outbound"}, "accounts.postmark-main.stream: unknown key"),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], start: str) -> None:
    with pytest.raises(ConfigError) as err:
        make(None, None, **options)
    assert str(err.value).startswith(start)


async def test_aclose_closes_only_a_client_the_backend_created(http: httpx.AsyncClient) -> None:
    injected = make(None, http)
    await injected.aclose()
    assert not http.is_closed
    own = make(None, None)
    await own.aclose()
    assert own._http.is_closed


def test_error_code_table_matches_the_reference() -> None:
    assert classify_postmark_code(0) is Outcome.SENT
    for code in (10, 400, 401, 405, 412, 413):
        assert classify_postmark_code(code) is Outcome.ACCOUNT
    for code in (100, 429):
        assert classify_postmark_code(code) is Outcome.TRANSIENT
    for code in (300, 402, 403, 406, 409, 410, 411, 12345):
        assert classify_postmark_code(code) is Outcome.PERMANENT


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:01:30 GMT", now) == 90.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


async def test_http_date_retry_after_uses_the_injected_clock() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            json={"ErrorCode": 429, "Message": "slow down"},
            headers={"Retry-After": "Thu, 01 Jan 2026 12:00:45 GMT"},
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        results = await make(None, client).send([msg(1)])
    assert results[0].retry_after == 45.0


async def test_fake_server_answers_concurrent_requests_in_parallel(http: httpx.AsyncClient) -> None:
    with FakePostmark(latency=0.2) as server:
        backend = make(server, http)
        started = time.perf_counter()
        results = await asyncio.gather(*(backend.send([msg(i)]) for i in range(1, 6)))
        elapsed = time.perf_counter() - started
    assert all(r[0].ok for r in results)
    assert server.max_concurrent >= 2 and server.connections >= 2
    assert elapsed < 0.9  # five requests of 0.2 s each, not one after the other


@pytest.mark.parametrize(
    "answer",
    [
        [{"ErrorCode": 0, "MessageID": "m-1"}],  # one result for two messages
        {"ErrorCode": 0},  # not a list
    ],
)
async def test_batch_answer_of_the_wrong_shape_is_a_transient_bad_response(answer: Any) -> None:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
    ) as client:
        results = await make(None, client).send([msg(1), msg(2)])
    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.TRANSIENT, "bad_response")}


async def test_result_without_error_code_is_judged_by_its_message_id() -> None:
    answer = [{"MessageID": "m-1", "Message": "OK"}, {"Message": "???"}]
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
    ) as client:
        results = await make(None, client).send([msg(1), msg(2)])
    assert (results[0].outcome, results[0].provider_message_id) == (Outcome.SENT, "m-1")
    assert (results[1].outcome, results[1].error_code) == (Outcome.TRANSIENT, "bad_response")


async def test_scripted_401_carries_the_bad_token_error_code(
    postmark_server: FakePostmark, http: httpx.AsyncClient
) -> None:
    postmark_server.fail_next(401, times=2)
    backend = make(postmark_server, http)
    for _ in range(2):
        [result] = await backend.send([msg(1)])
        assert (result.outcome, result.provider_code) == (Outcome.ACCOUNT, "postmark:10")
    assert (await backend.send([msg(1)]))[0].ok
