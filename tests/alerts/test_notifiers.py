"""Each notifier kind: what it sends, where its secret comes from, and how it fails."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from mailconsole.alerts.notifiers import build_notifier, slack_text
from mailconsole.alerts.service import evaluate, history, test_alert
from mailconsole.backend_api import Outcome, OutgoingMessage, SendResult
from mailconsole.clock import FakeClock
from mailconsole.errors import ConfigError
from mailconsole.store.db import Database
from mailconsole.store.models import Message
from tests.alerts.factory import add_attempts, alert_config, make_ctx

SLACK_URL = "https://hooks.slack.test/services/T000/B000/XXXX"


def rule_to(*targets: str) -> dict[str, Any]:
    return {
        "failure_rate": {
            "metric": "failure_rate_24h",
            "threshold": 0.1,
            "warning": 0.05,
            "notify": list(targets),
        }
    }


def capture() -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), seen


def test_slack_gets_a_readable_link_free_message_at_the_secret_url(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILCONSOLE_SECRET_OPS_SLACK", SLACK_URL)
    ctx = make_ctx(db, clock, alert_config(rule_to("ops-slack"), {"ops-slack": {"type": "slack"}}))
    add_attempts(ctx, sent=3, failed=1)
    client, seen = capture()
    evaluate(ctx, client=client)
    assert [str(r.url) for r in seen] == [SLACK_URL]
    text = json.loads(seen[0].content)["text"]
    lines = text.splitlines()
    assert lines[0].startswith(":rotating_light: *[FIRING (critical)] failure_rate:")
    assert "25 %" in lines[0]
    assert lines[1].startswith("backlog 0 · oldest — · failure rate 24 h 25 %")
    assert "http" not in text and "<" not in text


def test_a_broken_slack_url_is_reported_without_revealing_it(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILCONSOLE_SECRET_OPS_SLACK", "https://hooks.slack.test:SECRETTOKEN/T0/B0")
    ctx = make_ctx(db, clock, alert_config(rule_to("ops-slack"), {"ops-slack": {"type": "slack"}}))
    add_attempts(ctx, failed=1)
    (delivery,) = evaluate(ctx).deliveries
    assert delivery.status == "failed" and delivery.tries == 1  # a bad URL is not retried
    assert "SECRETTOKEN" not in (delivery.error or "")
    assert "mailconsole secrets set ops-slack" in (delivery.error or "")
    assert "SECRETTOKEN" not in str(history(ctx)[0].to_dict())


def test_slack_text_escapes_what_slack_would_turn_into_links_or_mentions() -> None:
    text = slack_text({"kind": "firing", "summary": "error <!channel> & <https://evil>"})
    assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt; &amp; &lt;https://evil&gt;" in text


class RecordingBackend:
    """Stands in for the account's backend (ctx.backend_overrides) and keeps what it sent."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    async def send(self, batch: Sequence[OutgoingMessage]) -> list[SendResult]:
        self.sent.extend(batch)
        return [SendResult(m.id, Outcome.SENT, provider_message_id="pm-1") for m in batch]

    async def aclose(self) -> None:  # pragma: no cover - not owned, never closed
        raise AssertionError("an injected backend is not closed by the notifier")


def test_email_goes_directly_through_the_account_not_behind_the_queue(
    db: Database, clock: FakeClock
) -> None:
    notifier = {"type": "email", "account": "sandbox-main", "to": ["oncall@example.com"]}
    ctx = make_ctx(db, clock, alert_config(rule_to("oncall"), {"oncall": notifier}))
    backend = RecordingBackend()
    ctx.backend_overrides["sandbox-main"] = backend
    add_attempts(ctx, sent=9, failed=1)  # 10 %: critical
    report = evaluate(ctx)
    assert [(d.status, d.detail) for d in report.deliveries] == [
        ("sent", "sent through sandbox-main as pm-1")
    ]
    (mail,) = backend.sent
    assert mail.to == ("oncall@example.com",) and mail.from_addr == "ops@example.com"
    assert mail.subject.startswith("[mailconsole] [FIRING (critical)] failure_rate")
    assert "threshold: 0.1" in (mail.text or "")
    assert "mailconsole alerts ack failure_rate" in (mail.text or "")
    with db.reading() as s:
        assert s.execute(select(Message)).first() is None  # nothing queued


def test_email_through_the_real_sandbox_backend_and_through_a_revoked_account(
    db: Database, clock: FakeClock
) -> None:
    notifiers = {
        "mail-ok": {"type": "email", "to": ["oncall@example.com"]},  # the primary account
        "mail-revoked": {"type": "email", "account": "sandbox-revoked", "to": ["a@example.com"]},
    }
    ctx = make_ctx(db, clock, alert_config(rule_to("mail-ok", "mail-revoked"), notifiers))
    add_attempts(ctx, failed=1)
    results = {d.target: d for d in evaluate(ctx).deliveries}
    assert results["mail-ok"].status == "sent"
    assert results["mail-ok"].detail.startswith("sent through sandbox-main")  # type: ignore[union-attr]
    # An account error is not retried: the token will not fix itself within a minute.
    assert (results["mail-revoked"].status, results["mail-revoked"].tries) == ("failed", 1)
    assert "sandbox-revoked" in (results["mail-revoked"].error or "")


def test_email_via_the_queue_is_a_normal_message_in_the_mail_logs(
    db: Database, clock: FakeClock
) -> None:
    notifier = {"type": "email", "to": ["oncall@example.com"], "via": "queue"}
    ctx = make_ctx(db, clock, alert_config(rule_to("oncall"), {"oncall": notifier}))
    add_attempts(ctx, failed=1)
    (delivery,) = evaluate(ctx).deliveries
    assert delivery.status == "sent" and delivery.detail.startswith("queued as message ")  # type: ignore[union-attr]
    with db.reading() as s:
        (msg,) = s.execute(select(Message)).scalars()
    assert (msg.status, msg.to_addrs, msg.tag) == (
        "queued",
        "oncall@example.com",
        "mailconsole-alert",
    )
    assert msg.account == "sandbox-main"


def test_the_bundled_log_hook_writes_the_summary_line(
    db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = make_ctx(
        db, clock, alert_config(rule_to("log"), {"log": {"type": "hook", "hook": "log"}})
    )
    add_attempts(ctx, sent=1, failed=1)
    with caplog.at_level(logging.INFO, logger="mailconsole.alerts"):
        (delivery,) = evaluate(ctx).deliveries
    assert (delivery.status, delivery.detail) == ("sent", "logged")
    assert any(
        r.name == "mailconsole.alerts" and "[FIRING (critical)] failure_rate" in r.getMessage()
        for r in caplog.records
    )


def test_notifier_mistakes_are_named_with_the_key_to_fix(db: Database, clock: FakeClock) -> None:
    notifiers = {
        "hook-typo": {"type": "hook", "hook": "pagerduty"},
        "web-no-url": {"type": "webhook", "uri": "https://x.test"},
    }
    ctx = make_ctx(db, clock, alert_config(rule_to("hook-typo"), notifiers))
    with pytest.raises(
        ConfigError,
        match=r"url: Field required; notifiers\.web-no-url\.uri: unknown key for a webhook",
    ):
        build_notifier(ctx, "web-no-url")
    results = test_alert(ctx, "failure_rate")
    assert results[0].status == "failed"
    assert "no alert hook 'pagerduty': installed hooks are log" in (results[0].error or "")
    assert history(ctx)[0].error == results[0].error


def test_unknown_metric_and_unknown_notifier_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown metric 'failure_rate'"):
        alert_config({"x": {"metric": "failure_rate", "threshold": 1}})
    with pytest.raises(ConfigError, match="unknown notifier 'pager'"):
        alert_config({"x": {"metric": "queue_backlog", "threshold": 1, "notify": ["pager"]}})
    with pytest.raises(ConfigError, match=r"warning \(5\.0\) must not be above threshold"):
        alert_config({"x": {"metric": "queue_backlog", "threshold": 1, "warning": 5}})
