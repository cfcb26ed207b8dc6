"""The audit trail query, secrets administration, and the masked effective config."""

from __future__ import annotations

from datetime import timedelta

import keyring
import keyring.backends.fail
import pytest

from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.errors import ReadOnlyError, SecretError, ValidationError
from mailconsole.secrets import SecretStore
from mailconsole.services import operations as ops
from mailconsole.services.audit import audit_log
from mailconsole.services.config_view import MASK, config_report, render_toml
from mailconsole.services.secrets_admin import delete_secret, secret_status, set_secret
from tests.conftest import make_config
from tests.services.factory import make_ctx, sample_config


def test_audit_log_filters_by_time_actor_and_action_prefix(
    ctx: AppContext, clock: FakeClock
) -> None:
    ops.pause(ctx)
    clock.advance(3600)
    ops.set_fallback(ctx, True)
    other = ctx.with_actor(type(ctx.actor)(name="bob"))
    ops.set_fallback(other, False)
    assert [r.action for r in audit_log(ctx)] == ["fallback.disable", "fallback.enable", "pause"]
    assert [r.action for r in audit_log(ctx, action="fallback.")] == [
        "fallback.disable",
        "fallback.enable",
    ]
    assert [r.actor for r in audit_log(ctx, actor="bob")] == ["bob"]
    assert len(audit_log(ctx, since=clock.now() - timedelta(minutes=1))) == 2
    assert len(audit_log(ctx, limit=1)) == 1
    assert audit_log(ctx)[0].to_dict()["at"] == clock.now().isoformat()


def test_secrets_set_status_delete_round_trip_without_showing_the_value(
    db, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sample_config(
        accounts={"pm": {"type": "postmark", "from": "ops@example.com"}}, routing={"primary": "pm"}
    )
    ctx = make_ctx(db, clock, config)
    (missing,) = secret_status(ctx)
    assert (missing.account, missing.source, missing.needed) == ("pm", "missing", True)
    set_secret(ctx, "pm", "s3cr3t-token", reason="rotation")
    assert secret_status(ctx, "pm")[0].source == "keyring"
    monkeypatch.setenv("MAILCONSOLE_SECRET_PM", "from-env")
    assert secret_status(ctx, "pm")[0].source == "environment"
    assert delete_secret(ctx, "pm") is True
    assert delete_secret(ctx, "pm") is False
    rows = audit_log(ctx)
    assert [(r.action, r.count) for r in rows] == [
        ("secrets.delete", 0),
        ("secrets.delete", 1),
        ("secrets.set", 1),
    ]
    assert all("s3cr3t" not in str(r.to_dict()) for r in rows)
    with pytest.raises(ValidationError, match="unknown account"):
        set_secret(ctx, "typo", "x")


def test_secrets_without_a_keyring_say_how_to_fix_it(ctx: AppContext) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())
    with pytest.raises(SecretError, match="MAILCONSOLE_SECRET_SANDBOX_MAIN") as err:
        set_secret(ctx, "sandbox-main", "x")
    assert "\n" not in str(err.value) and "keyrings.alt" in str(err.value)
    assert audit_log(ctx)[0].outcome == "failed"
    assert secret_status(ctx, "sandbox-main")[0].keyring_usable is False


def test_secrets_set_is_refused_in_read_only_mode(ctx: AppContext, clock: FakeClock) -> None:
    ro = make_ctx(ctx.db, clock, ctx.config, read_only=True)
    with pytest.raises(ReadOnlyError):
        set_secret(ro, "sandbox-main", "x")
    assert audit_log(ctx)[0].outcome == "refused"


def test_config_report_masks_secrets_and_shows_where_each_comes_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = make_config(
        database_url="postgresql://app:hunter2@db.internal/mail",
        accounts={
            "pm": {"type": "postmark", "from": "ops@example.com", "server_token": "tok-123"},
            "sb": {"type": "sandbox", "from": "ops@example.com"},
        },
        notifiers={
            "slack": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T0/B0/XYZ"}
        },
    )
    monkeypatch.setenv("MAILCONSOLE_SECRET_PM", "env-token")
    report = config_report(config, SecretStore())
    text = render_toml(report.effective)
    for secret in ("tok-123", "hunter2", "XYZ", "env-token"):
        assert secret not in text and secret not in str(report.to_dict())
    assert report.effective["accounts"]["pm"]["server_token"] == MASK
    assert report.effective["notifiers"]["slack"]["webhook_url"] == "https://hooks.slack.com/…"
    assert report.credentials["pm"]["source"] == "environment"
    assert report.credentials["sb"]["source"] == "not needed"
    assert any("server_token looks like a secret" in w for w in report.warnings)
    assert "[accounts.pm]" in text and 'type = "postmark"' in text
