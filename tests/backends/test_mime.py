"""The SMTP wire serializer: what a relay receives parses back to exactly what was sent."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from backends.mime import serialize
from backends.smtp import SmtpBackend
from mailconsole.backend_api import BackendContext, OutgoingMessage
from mailconsole.clock import FakeClock
from tests.fakes.smtp_server import FakeSmtp

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def wire(**fields: Any) -> Any:
    args: dict[str, Any] = {
        "message_no": 7,
        "from_addr": "ops@example.com",
        "to": ("ana@example.org",),
        "cc": (),
        "reply_to": None,
        "subject": "Hello",
        "text": "body",
        "html": None,
        "headers": (),
        "tag": None,
        "now": NOW,
        "msgid_domain": "example.com",
    }
    args.update(fields)
    return serialize(**args)


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_every_line_ends_in_crlf_and_stays_within_the_smtp_limit() -> None:
    w = wire(
        to=tuple(f"recipient{i}@example.org" for i in range(40)),
        subject="word " * 60,
        text="x" * 3000 + "\nshort\r\nlast",
    )
    lines = w.data.split(b"\r\n")
    assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)
    assert max(len(line) for line in lines) <= 998
    head = w.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert max(len(line) for line in head) <= 78


def test_long_and_non_ascii_headers_parse_back_to_the_original_values() -> None:
    recipients = tuple(f"recipient{i}@example.org" for i in range(40))
    subject = "Résumé de votre commande n° 42 — " + "très " * 30
    w = wire(
        from_addr="Équipe Ops <ops@example.com>",
        to=recipients,
        cc=("c@example.org",),
        reply_to="help@example.com",
        subject=subject,
        headers=[("List-Unsubscribe", "<mailto:u@example.com>"), ("X-Note", "naïve " * 20)],
        tag="reçu",
    )
    mime = parse(w.data)
    assert mime["From"] == "Équipe Ops <ops@example.com>"
    assert mime["To"] == ", ".join(recipients)
    assert mime["Cc"] == "c@example.org" and mime["Reply-To"] == "help@example.com"
    assert mime["Subject"] == subject
    assert mime["X-Note"] == "naïve " * 20
    assert mime["X-Mailconsole-Tag"] == "reçu" and mime["X-Mailconsole-Id"] == "7"
    assert mime["Message-ID"] == w.message_id and w.message_id.endswith("@example.com>")
    assert mime["Date"].datetime == NOW
    assert not w.utf8


def test_bodies_round_trip_text_html_non_ascii_and_long_lines() -> None:
    text = "Grüße,\nline two\r\n" + "a" * 1200 + "\n.leading dot\n"
    html = "<p>Grüße</p>"
    mime = parse(wire(text=text, html=html).data)
    assert mime.get_content_type() == "multipart/alternative"
    plain = mime.get_body(("plain",))
    rich = mime.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content().replace("\r\n", "\n") == text.replace("\r\n", "\n")
    assert rich.get_content().replace("\r\n", "\n") == html + "\n"


def test_ascii_text_with_short_lines_is_sent_as_7bit() -> None:
    mime = parse(wire(text="plain\nbody").data)
    assert mime["Content-Transfer-Encoding"] == "7bit"
    assert mime.get_content_type() == "text/plain"
    assert mime.get_content().replace("\r\n", "\n") == "plain\nbody\n"


def test_html_only_is_a_single_html_part() -> None:
    mime = parse(wire(text=None, html="<b>hi</b>").data)
    assert mime.get_content_type() == "text/html"
    assert mime.get_content().rstrip() == "<b>hi</b>"


def test_a_non_ascii_mailbox_needs_smtputf8() -> None:
    w = wire(to=("josé@exämple.org",))
    assert w.utf8
    assert "josé@exämple.org" in w.data.decode("utf-8")


@pytest.mark.parametrize(
    "fields",
    [
        {"subject": "hi\r\nBcc: x@evil.example"},
        {"to": ("a@example.org\r\nBcc: x@evil.example",)},
        {"headers": [("X-Ok", "fine\nX-Evil: 1")]},
        {"headers": [("Bad Name", "x")]},
    ],
)
def test_line_breaks_and_bad_header_names_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        wire(**fields)


async def test_what_the_relay_receives_is_what_was_queued() -> None:
    text = "Grüße\n" + "long " * 300 + "\n.dot line\nend"
    with FakeSmtp() as server:
        backend = SmtpBackend.create(
            BackendContext(
                name="smtp-relay",
                options={"host": server.host, "port": server.port, "local_hostname": "c.test"},
                secret=None,
                clock=FakeClock(NOW),
            )
        )
        message = OutgoingMessage(
            id=3, from_addr="ops@example.com", to=("a@example.org",), subject="Grüße", text=text
        )
        [result] = await backend.send([message])
        await backend.aclose()
        [received] = server.messages
    assert result.ok and received.message["Message-ID"] == result.provider_message_id
    body = received.message.get_body(("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == text + "\n"
    assert received.message["Subject"] == "Grüße"
