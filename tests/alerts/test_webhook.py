"""A real HTTP receiver on 127.0.0.1 gets the signed webhook and checks it as a receiver must."""

from __future__ import annotations

import json
import queue
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from mailconsole.alerts import signing
from mailconsole.alerts.service import evaluate, history, test_alert
from mailconsole.alerts.signing import SeenIds, SignatureError, verify
from mailconsole.clock import FakeClock
from mailconsole.store.db import Database
from tests.alerts.factory import add_attempts, alert_config, make_ctx

SECRET = "whsec-current-0123456789"
OLD_SECRET = "whsec-previous-9876543210"


class Receiver:
    """What a team's webhook endpoint does: verify, then accept (200) or refuse (401)."""

    def __init__(self, secrets: list[str], now: float) -> None:
        self.secrets = secrets
        self.now = now
        self.seen = SeenIds()
        self.accepted: queue.Queue[tuple[bytes, dict[str, str]]] = queue.Queue()
        self.refused: list[str] = []

    def __call__(self, request: Request) -> Response:
        body = request.get_data()
        headers = dict(request.headers)
        try:
            verify(
                body,
                headers,
                self.secrets,
                now=self.now,
                seen=lambda d: self.seen(d, now=self.now),
            )
        except SignatureError as exc:
            self.refused.append(str(exc))
            return Response("bad signature", status=401)
        self.accepted.put((body, headers))
        return Response("ok", status=200)


def webhook_config(url: str) -> Any:
    return alert_config(
        {"failure_rate": {"metric": "failure_rate_24h", "threshold": 0.1, "notify": ["ops-hook"]}},
        {"ops-hook": {"type": "webhook", "url": url}},
    )


@pytest.fixture
def receiver(httpserver: HTTPServer, clock: FakeClock) -> Receiver:
    recv = Receiver([SECRET, OLD_SECRET], now=clock.now().timestamp())
    httpserver.expect_request("/alerts", method="POST").respond_with_handler(recv)
    return recv


def test_signed_webhook_reaches_a_real_receiver_and_verifies(
    db: Database,
    clock: FakeClock,
    httpserver: HTTPServer,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAILCONSOLE_SECRET_OPS_HOOK", SECRET)
    ctx = make_ctx(db, clock, webhook_config(httpserver.url_for("/alerts")))
    add_attempts(ctx, sent=1, failed=3)
    report = evaluate(ctx)

    assert [d.status for d in report.deliveries] == ["sent"]
    body, headers = receiver.accepted.get(timeout=5)
    assert receiver.refused == []
    payload = json.loads(body)
    assert payload["rule"] == "failure_rate" and payload["state"] == "firing"
    assert payload["threshold"] == 0.1 and payload["value"] == 0.75
    assert payload["metrics"]["failed_24h"] == 3
    assert headers["X-Mailconsole-Timestamp"] == str(int(clock.now().timestamp()))
    assert headers["X-Mailconsole-Signature"].startswith("v1=")
    assert headers["X-Mailconsole-Delivery"] == payload["id"]
    assert headers["Content-Type"] == "application/json"

    # The receiver refuses a tampered body and a stale timestamp, over HTTP too.
    tampered = body.replace(b'"state":"firing"', b'"state":"ok"')
    assert tampered != body
    with pytest.raises(SignatureError, match="does not match"):
        verify(tampered, headers, [SECRET], now=receiver.now)
    with pytest.raises(SignatureError, match="window"):
        verify(body, headers, [SECRET], now=receiver.now + 301)
    verify(body, headers, [SECRET], now=receiver.now + 299)  # inside the window: fine
    signed = {k: v for k, v in headers.items() if k.lower().startswith("x-mailconsole-")}
    forged = {k: v for k, v in signed.items() if k.lower() != "x-mailconsole-delivery"}
    response = httpx.post(httpserver.url_for("/alerts"), content=tampered, headers=forged)
    assert response.status_code == 401
    replay = httpx.post(httpserver.url_for("/alerts"), content=body, headers=signed)
    assert replay.status_code == 401  # the same delivery again: refused as a replay
    assert receiver.refused == [
        "signature does not match the body",
        "delivery already processed (replay)",
    ]


def test_a_receiver_rotating_secrets_accepts_both_and_nothing_else() -> None:
    body = b'{"rule":"backlog"}'
    old = signing.sign(OLD_SECRET, body, timestamp=1_800_000_000)
    new = signing.sign(SECRET, body, timestamp=1_800_000_000)
    for headers in (old, new):
        assert verify(body, headers, [SECRET, OLD_SECRET], now=1_800_000_010) == 1_800_000_000
    with pytest.raises(SignatureError):
        verify(body, old, [SECRET], now=1_800_000_010)  # rotation finished: the old one is out
    # The timestamp is signed too: a fresh timestamp on an old signature does not verify.
    moved = dict(old, **{signing.TIMESTAMP_HEADER: "1800000300"})
    with pytest.raises(SignatureError, match="does not match"):
        verify(body, moved, [OLD_SECRET], now=1_800_000_300)
    with pytest.raises(SignatureError, match="missing"):
        verify(body, {}, [SECRET], now=1_800_000_010)


def test_a_webhook_without_its_secret_is_recorded_as_failed_with_what_to_do(
    db: Database, clock: FakeClock, httpserver: HTTPServer, receiver: Receiver
) -> None:
    ctx = make_ctx(db, clock, webhook_config(httpserver.url_for("/alerts")))
    add_attempts(ctx, failed=1)
    report = evaluate(ctx)
    assert report.deliveries[0].status == "failed"
    assert "mailconsole secrets set ops-hook" in (report.deliveries[0].error or "")
    assert receiver.accepted.empty()
    assert history(ctx)[0].status == "failed"


def test_alert_test_sends_a_signed_test_notice_and_leaves_the_state_alone(
    db: Database,
    clock: FakeClock,
    httpserver: HTTPServer,
    receiver: Receiver,
    memory_keyring: Any,
) -> None:
    memory_keyring.set_password("mailconsole", "ops-hook", OLD_SECRET)  # from the keyring
    ctx = make_ctx(db, clock, webhook_config(httpserver.url_for("/alerts")))
    results = test_alert(ctx, "failure_rate")
    assert [r.status for r in results] == ["sent"]
    body, _ = receiver.accepted.get(timeout=5)
    assert json.loads(body)["kind"] == "test"
    assert [(n.kind, n.status) for n in history(ctx)] == [("test", "sent")]
