"""The SMTP backend against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from backends.smtp import SmtpBackend
from mailconsole.backend_api import BackendContext, Outcome, OutgoingMessage
from mailconsole.clock import FakeClock
from mailconsole.errors import ConfigError
from tests.fakes.smtp_server import DEFAULT_PASSWORD, DEFAULT_USERNAME, FakeSmtp


def make(
    server: FakeSmtp | None,
    *,
    secret: str | None = None,
    clock: FakeClock | None = None,
    **options: Any,
) -> SmtpBackend:
    if server is not None:
        options.setdefault("host", server.host)
        options.setdefault("port", server.port)
    options.setdefault("local_hostname", "client.test")
    return SmtpBackend.create(
        BackendContext(
            name="smtp-relay", options=options, secret=secret, clock=clock or FakeClock()
        )
    )


def msg(i: int, to: str = "", **fields: Any) -> OutgoingMessage:
    fields.setdefault("text", f"text {i}")
    return OutgoingMessage(
        id=i,
        from_addr="ops@example.com",
        to=(to or f"user{i}@example.com",),
        subject=f"subject {i}",
        **fields,
    )


@pytest.fixture
async def backend(smtp_server: FakeSmtp) -> Any:
    b = make(smtp_server)
    yield b
    await b.aclose()


async def test_accepted_mail_arrives_intact_with_bcc_only_in_the_envelope(
    smtp_server: FakeSmtp, backend: SmtpBackend
) -> None:
    message = OutgoingMessage(
        id=42,
        from_addr="Ops Team <ops@example.com>",
        to=("a@example.com", "b@example.com"),
        cc=("c@example.com",),
        bcc=("hidden@example.com",),
        reply_to="help@example.com",
        subject="Résumé of your order",
        text="plain body",
        html="<p>html body</p>",
        headers={"List-Unsubscribe": "<mailto:unsub@example.com>", "Bcc": "leak@example.com"},
        tag="receipt",
    )
    [result] = await backend.send([message])
    assert result.outcome is Outcome.SENT and result.message_id == 42
    [received] = smtp_server.messages
    assert received.mail_from == "ops@example.com"
    assert received.rcpt_tos == (
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "hidden@example.com",
    )
    mime = received.message
    assert mime["From"] == "Ops Team <ops@example.com>"
    assert mime["To"] == "a@example.com, b@example.com"
    assert mime["Cc"] == "c@example.com"
    assert mime["Reply-To"] == "help@example.com"
    assert mime["Subject"] == "Résumé of your order"
    assert mime["List-Unsubscribe"] == "<mailto:unsub@example.com>"
    assert mime["X-Mailconsole-Id"] == "42"
    assert mime["X-Mailconsole-Tag"] == "receipt"
    assert mime["Bcc"] is None
    assert b"hidden@example.com" not in received.data and b"leak@" not in received.data
    assert mime["Message-ID"] == result.provider_message_id
    assert mime["Message-ID"].endswith("@example.com>")
    assert mime.get_content_type() == "multipart/alternative"
    assert mime.get_body(("plain",)).get_content().strip() == "plain body"  # type: ignore[union-attr]
    assert mime.get_body(("html",)).get_content().strip() == "<p>html body</p>"  # type: ignore[union-attr]


async def test_html_only_message_is_a_single_html_part(
    smtp_server: FakeSmtp, backend: SmtpBackend
) -> None:
    await backend.send([msg(1, text=None, html="<b>hi</b>")])
    assert smtp_server.messages[0].message.get_content_type() == "text/html"


@pytest.mark.parametrize("code", [421, 450])
async def test_temporary_refusal_is_transient_smtp_4xx(
    smtp_server: FakeSmtp, backend: SmtpBackend, code: int
) -> None:
    smtp_server.reply_for("busy.example", code)
    results = await backend.send([msg(1, to="x@busy.example"), msg(2)])
    assert (results[0].outcome, results[0].error_code) == (Outcome.TRANSIENT, f"smtp_{code}")
    assert results[0].provider_code and results[0].provider_code.startswith("smtp:4.")
    assert results[1].ok
    assert [m.rcpt_tos for m in smtp_server.messages] == [("user2@example.com",)]


async def test_unknown_user_is_permanent_smtp_550(
    smtp_server: FakeSmtp, backend: SmtpBackend
) -> None:
    smtp_server.reply_for("nobody@example.com", 550)
    [result] = await backend.send([msg(1, to="nobody@example.com")])
    assert (result.outcome, result.error_code, result.provider_code) == (
        Outcome.PERMANENT,
        "smtp_550",
        "smtp:5.1.1",
    )
    assert "nobody@example.com" in (result.error_message or "")
    # The refusal left the connection usable: the next message goes over the same one.
    assert (await backend.send([msg(2)]))[0].ok
    assert smtp_server.connections == 1


async def test_some_recipients_refused_is_still_sent_and_names_them(
    smtp_server: FakeSmtp, backend: SmtpBackend
) -> None:
    smtp_server.reply_for("nobody@example.com", 550)
    [result] = await backend.send([msg(1, cc=("nobody@example.com",))])
    assert result.outcome is Outcome.SENT
    assert "nobody@example.com" in (result.error_message or "")
    assert smtp_server.messages[0].rcpt_tos == ("user1@example.com",)


async def test_mixed_4xx_and_5xx_refusals_are_worth_a_retry(
    smtp_server: FakeSmtp, backend: SmtpBackend
) -> None:
    smtp_server.reply_for("gone@example.com", 550)
    smtp_server.reply_for("later@example.com", 450)
    [result] = await backend.send([msg(1, to="gone@example.com", cc=("later@example.com",))])
    assert (result.outcome, result.error_code) == (Outcome.TRANSIENT, "smtp_450")


@pytest.mark.parametrize(("code", "outcome"), [(554, Outcome.PERMANENT), (451, Outcome.TRANSIENT)])
async def test_data_refusal_is_classified_by_its_code(
    smtp_server: FakeSmtp, backend: SmtpBackend, code: int, outcome: Outcome
) -> None:
    smtp_server.reply_next("data", code)
    [result] = await backend.send([msg(1)])
    assert (result.outcome, result.error_code) == (outcome, f"smtp_{code}")
    assert smtp_server.messages == []


async def test_dropped_connection_is_transient_and_the_next_send_reconnects(
    smtp_server: FakeSmtp, backend: SmtpBackend
) -> None:
    assert (await backend.send([msg(1)]))[0].ok
    smtp_server.drop_next("rcpt")
    [result] = await backend.send([msg(2)])
    assert (result.outcome, result.error_code) == (Outcome.TRANSIENT, "connect_error")
    assert (await backend.send([msg(3)]))[0].ok
    assert smtp_server.connections == 2
    assert sorted(smtp_server.mailconsole_ids()) == ["1", "3"]


async def test_relay_restart_between_batches_costs_no_failed_message(
    smtp_server: FakeSmtp, backend: SmtpBackend
) -> None:
    assert all(r.ok for r in await backend.send([msg(1), msg(2)]))
    smtp_server.stop()
    smtp_server.start()  # same port, the pooled connections are gone
    results = await backend.send([msg(3), msg(4)])
    assert all(r.ok for r in results), results


async def test_connections_are_reused_across_batches_up_to_max_connections(
    smtp_server: FakeSmtp,
) -> None:
    backend = make(smtp_server, max_connections=2)
    try:
        for start in (1, 11, 21):
            results = await backend.send([msg(i) for i in range(start, start + 10)])
            assert all(r.ok for r in results)
    finally:
        await backend.aclose()
    assert smtp_server.connections == 2
    assert smtp_server.max_open_connections == 2
    assert backend.connections_opened == 2
    assert smtp_server.mailconsole_ids() == {str(i): 1 for i in range(1, 31)}
    assert {m.connection_no for m in smtp_server.messages} == {1, 2}


async def test_long_idle_connection_is_checked_before_reuse(smtp_server: FakeSmtp) -> None:
    clock = FakeClock()
    backend = make(smtp_server, clock=clock, max_connections=1)
    try:
        assert (await backend.send([msg(1)]))[0].ok
        clock.advance(600)
        assert (await backend.send([msg(2)]))[0].ok
    finally:
        await backend.aclose()
    assert smtp_server.connections == 1


async def test_login_succeeds_with_the_secret_as_password() -> None:
    with FakeSmtp(require_auth=True) as server:
        backend = make(server, username=DEFAULT_USERNAME, secret=DEFAULT_PASSWORD)
        results = await backend.send([msg(1), msg(2)])
        health = await backend.health()
        await backend.aclose()
    assert all(r.ok for r in results)
    assert {m.authenticated_as for m in server.messages} == {DEFAULT_USERNAME}
    assert health.ok and DEFAULT_USERNAME in health.detail


async def test_wrong_password_stops_the_account_and_fails_the_batch_fast() -> None:
    with FakeSmtp(require_auth=True) as server:
        backend = make(server, username=DEFAULT_USERNAME, secret="wrong", max_connections=4)
        results = await backend.send([msg(i) for i in range(1, 21)])
        health = await backend.health()
        await backend.aclose()
    assert [r.message_id for r in results] == list(range(1, 21))
    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.ACCOUNT, "auth_error")}
    assert server.messages == []
    # One failed login for the batch (aiosmtplib tries PLAIN, then LOGIN), one for health().
    assert server.auth_failures == 2 + 2
    assert not health.ok and health.error_code == "auth_error"


async def test_relay_that_requires_auth_refuses_an_anonymous_account(smtp_server: FakeSmtp) -> None:
    with FakeSmtp(require_auth=True) as server:
        backend = make(server)
        [result] = await backend.send([msg(1)])
        await backend.aclose()
    assert (result.outcome, result.error_code) == (Outcome.ACCOUNT, "auth_error")


async def test_refused_connection_is_transient_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = make(None, host="127.0.0.1", port=port)
    results = await backend.send([msg(1), msg(2), msg(3)])
    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.TRANSIENT, "connect_error")}
    health = await backend.health()
    assert not health.ok and health.error_code == "connect_error"


async def test_slow_server_is_a_transient_timeout() -> None:
    with FakeSmtp(latency=2.0) as server:
        backend = make(server, timeout_seconds=0.3)
        [result] = await backend.send([msg(1)])
        await backend.aclose()
    assert (result.outcome, result.error_code) == (Outcome.TRANSIENT, "timeout")


async def test_starttls_upgrades_the_connection() -> None:
    with FakeSmtp(starttls=True) as server:
        backend = make(server, starttls=True, validate_certs=False)
        results = await backend.send([msg(1)])
        await backend.aclose()
    assert results[0].ok and len(server.messages) == 1


async def test_implicit_tls_sends() -> None:
    with FakeSmtp(implicit_tls=True) as server:
        backend = make(server, tls=True, validate_certs=False)
        results = await backend.send([msg(1)])
        await backend.aclose()
    assert results[0].ok


async def test_untrusted_certificate_stops_the_account_with_tls_error() -> None:
    with FakeSmtp(starttls=True) as server:
        backend = make(server, starttls=True)
        results = await backend.send([msg(1), msg(2)])
        health = await backend.health()
        await backend.aclose()
    assert {(r.outcome, r.error_code) for r in results} == {(Outcome.ACCOUNT, "tls_error")}
    assert "validate_certs" in (results[0].error_message or "")
    assert not health.ok and health.error_code == "tls_error"
    assert server.messages == []


async def test_starttls_required_but_not_offered_is_an_account_tls_error(
    smtp_server: FakeSmtp,
) -> None:
    backend = make(smtp_server, starttls=True)
    [result] = await backend.send([msg(1)])
    assert (result.outcome, result.error_code) == (Outcome.ACCOUNT, "tls_error")


async def test_header_injection_is_refused_as_permanent(backend: SmtpBackend) -> None:
    results = await backend.send(
        [
            msg(1),
            OutgoingMessage(
                id=2,
                from_addr="ops@example.com",
                to=("a@example.com",),
                subject="hi\r\nBcc: x@evil.example",
                text="x",
            ),
        ]
    )
    assert results[0].ok
    assert (results[1].outcome, results[1].error_code) == (Outcome.PERMANENT, "invalid_message")


def test_username_without_password_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError) as err:
        make(None, host="smtp.example.com", username="relay")
    text = str(err.value)
    assert text.startswith("accounts.smtp-relay.username")
    assert "mailconsole secrets set smtp-relay" in text and "MAILCONSOLE_SECRET_SMTP_RELAY" in text


@pytest.mark.parametrize(
    ("options", "start"),
    [
        ({}, "accounts.smtp-relay.host: required"),
        ({"host": "h", "port": 70000}, "accounts.smtp-relay.port:"),
        ({"host": "h", "starttls": True, "tls": True}, "accounts.smtp-relay: starttls and tls"),
        ({"host": "h", "hostname": "x"}, "accounts.smtp-relay.hostname: unknown key"),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], start: str) -> None:
    with pytest.raises(ConfigError) as err:
        make(None, **options)
    assert str(err.value).startswith(start)


def test_tls_mode_defaults_follow_the_port() -> None:
    assert make(None, host="h").options.use_starttls  # 587
    submission = make(None, host="h", port=465).options
    assert submission.use_tls and not submission.use_starttls
    relay = make(None, host="h", port=25).options
    assert not relay.use_tls and not relay.use_starttls
    assert make(None, host="h").limits.batch_size == 50
