"""Each metric a rule can watch, measured from the store (the same figures as `queue status`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mailconsole.alerts.rules import default_rule_configs, load_rules, measure, take_snapshot
from mailconsole.alerts.service import evaluate, list_alerts
from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.errors import ConfigError
from mailconsole.services.metrics import dashboard_snapshot
from mailconsole.store.db import Database
from mailconsole.store.models import BackendState, Message
from tests.alerts.factory import (
    RECORDER,
    Recorder,
    add_attempts,
    add_outage,
    alert_config,
    make_ctx,
)


def values(ctx: AppContext, **rules: Any) -> dict[str, float | None]:
    snap = take_snapshot(ctx)
    return {r.name: measure(ctx, r, snap).value for r in load_rules(ctx.config) if r.name in rules}


def dead_letter(ctx: AppContext, *, age_s: float, backend: str = "sandbox-main") -> None:
    at = ctx.clock.now() - timedelta(seconds=age_s)
    with ctx.db.writing() as s:
        s.add(
            Message(
                created_at=at, updated_at=at, status="dead", backend=backend,
                from_addr="ops@example.com", to_addrs="a@example.com", subject="x",
                recipient_domain="example.com",
            )
        )  # fmt: skip


def test_default_rules_when_none_are_configured(db: Database, clock: FakeClock) -> None:
    ctx = make_ctx(db, clock, alert_config(None, RECORDER, cooldown_seconds=900))
    rules = {r.name: r for r in load_rules(ctx.config)}
    assert set(rules) == set(default_rule_configs(ctx.config))
    fr = rules["failure_rate"]
    assert (fr.metric, fr.threshold, fr.warning) == ("failure_rate_24h", 0.10, 0.05)
    assert rules["queue_backlog"].threshold == 100
    assert rules["scheduler_heartbeat"].threshold == 300
    assert rules["outage_open"].threshold == 600
    assert {r.cooldown_seconds for r in rules.values()} == {900}
    assert {r.notify for r in rules.values()} == {("rec",)}  # no notify: every notifier


def test_dead_letters_in_a_window_and_per_backend(db: Database, clock: FakeClock) -> None:
    rules = {
        "dead_hour": {"metric": "dead_letters_new", "threshold": 2},
        "dead_day": {"metric": "dead_letters_new", "threshold": 2, "window_seconds": 86400},
        "dead_main_10m": {
            "metric": "dead_letters_new", "threshold": 1, "window_seconds": 600,
            "backend": "sandbox-main",
        },
    }  # fmt: skip
    ctx = make_ctx(db, clock, alert_config(rules, {}))
    dead_letter(ctx, age_s=60)
    dead_letter(ctx, age_s=120, backend="sandbox-revoked")
    dead_letter(ctx, age_s=1800)
    dead_letter(ctx, age_s=7200)
    dead_letter(ctx, age_s=90000)
    assert values(ctx, **rules) == {"dead_hour": 3.0, "dead_day": 4.0, "dead_main_10m": 1.0}


def test_outage_open_longest_or_for_one_backend(db: Database, clock: FakeClock) -> None:
    rules = {
        "outage_any": {"metric": "outage_open_s", "threshold": 600},
        "outage_revoked": {
            "metric": "outage_open_s", "threshold": 600, "backend": "sandbox-revoked",
        },
    }  # fmt: skip
    ctx = make_ctx(db, clock, alert_config(rules, {}))
    assert values(ctx, **rules) == {"outage_any": 0.0, "outage_revoked": 0.0}
    add_outage(ctx, started_at=clock.now() - timedelta(minutes=15))
    assert values(ctx, **rules) == {"outage_any": 900.0, "outage_revoked": 0.0}
    report = evaluate(ctx)
    assert [(o.rule, o.state) for o in report.rules] == [
        ("outage_any", "firing"),
        ("outage_revoked", "ok"),
    ]
    assert "sandbox-main in outage for 15m" in (report.rules[0].detail or "")


def test_quota_used_where_a_backend_reports_a_quota(db: Database, clock: FakeClock) -> None:
    rules = {"quota": {"metric": "quota_used", "threshold": 0.9, "warning": 0.75}}
    ctx = make_ctx(db, clock, alert_config(rules, {}))
    assert values(ctx, **rules) == {"quota": None}  # nobody reports one: not judged
    with db.writing() as s:
        s.add(BackendState(backend="sandbox-main", quota_sent=800, quota_max=1000))
        s.add(BackendState(backend="sandbox-revoked", quota_sent=5, quota_max=None))
    assert values(ctx, **rules) == {"quota": 0.8}
    evaluate(ctx)
    view = list_alerts(ctx)[0]
    assert (view.state, view.level, view.value_text) == ("firing", "warning", "80 %")
    assert view.detail == "sandbox-main used 800 of 1,000 in 24 h"


def test_backlog_oldest_age_and_failure_rate_per_backend(db: Database, clock: FakeClock) -> None:
    rules = {
        "backlog": {"metric": "queue_backlog", "threshold": 100},
        "age": {"metric": "oldest_queue_age_s", "threshold": 900},
        "fail_revoked": {
            "metric": "failure_rate_24h", "threshold": 0.5, "backend": "sandbox-revoked",
        },
    }  # fmt: skip
    ctx = make_ctx(db, clock, alert_config(rules, {}))
    from mailconsole.engine.enqueue import enqueue

    enqueue(ctx, {"to": "a@example.com", "subject": "x", "text": "y"})
    clock.advance(1000)
    add_attempts(ctx, sent=10)
    add_attempts(ctx, sent=1, failed=3, backend="sandbox-revoked")
    assert values(ctx, **rules) == {"backlog": 1.0, "age": 1000.0, "fail_revoked": 0.75}


def test_a_rule_naming_an_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="backend = 'postmark-main' is not an account"):
        alert_config({"x": {"metric": "queue_backlog", "threshold": 1, "backend": "postmark-main"}})
    with pytest.raises(ConfigError, match="oldest_queue_age_s is not kept per backend"):
        alert_config(
            {"x": {"metric": "oldest_queue_age_s", "threshold": 1, "backend": "sandbox-main"}}
        )


def test_the_dashboard_snapshot_carries_the_active_alerts(
    db: Database, clock: FakeClock, recorder: Recorder
) -> None:
    ctx = make_ctx(db, clock)
    add_attempts(ctx, sent=1, failed=1)
    evaluate(ctx)
    (alert,) = dashboard_snapshot(ctx).alerts
    assert (alert.rule, alert.state, alert.level, alert.status) == (
        "failure_rate", "firing", "critical", "critical",
    )  # fmt: skip
    assert alert.value == 0.5 and alert.threshold == 0.1
