"""The circuit breaker's counting rules, the operator's reset, and the backend registry."""

from __future__ import annotations

import pytest

from backends.sandbox import SandboxBackend
from mailconsole.clock import FakeClock
from mailconsole.engine.backends import BackendRegistry
from mailconsole.engine.circuit import (
    close_circuit,
    is_backend_level,
    note_account_error,
    note_success,
    note_wholesale_failure,
)
from mailconsole.engine.claim import recover_expired_leases
from mailconsole.errors import SecretError, UnknownBackendError
from mailconsole.store.db import Database
from mailconsole.store.models import Message
from tests.engine.conftest import engine_config, enqueue, make_ctx, messages, outages, state_of


def test_backend_level_errors_are_the_ones_that_say_the_provider_failed() -> None:
    for code in ("http_500", "http_503", "http_429", "timeout", "connect_error", "tls_error",
                 "backend_error"):  # fmt: skip
        assert is_backend_level(code), code
    for code in ("smtp_451", "http_422", "provider_reject", "auth_error", None, "http_5000"):
        assert not is_backend_level(code), code


def test_failures_below_the_threshold_then_a_success_open_nothing(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock, engine_config())
    cfg = ctx.config.dispatch
    with db.writing() as s:
        assert not note_wholesale_failure(s, "main", "http_503", "down", clock.now(), cfg)
        assert not note_wholesale_failure(s, "main", "timeout", "slow", clock.now(), cfg)
        note_success(s, "main", clock.now())
        assert not note_wholesale_failure(s, "main", "http_503", "down", clock.now(), cfg)
    state = state_of(ctx, "main")
    assert (state.circuit, state.consecutive_failures) == ("closed", 1)
    assert outages(ctx) == []


def test_the_outage_starts_at_the_first_failure_of_the_run_with_its_error(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock, engine_config())
    cfg = ctx.config.dispatch
    first_at = clock.now()
    with db.writing() as s:
        note_wholesale_failure(s, "main", "connect_error", "refused", clock.now(), cfg)
    clock.advance(40)
    with db.writing() as s:
        note_wholesale_failure(s, "main", "http_502", "bad gateway", clock.now(), cfg)
    clock.advance(40)
    with db.writing() as s:
        assert note_wholesale_failure(s, "main", "http_503", "down", clock.now(), cfg)
    [outage] = outages(ctx, "main")
    assert (outage.started_at, outage.first_error_code, outage.first_error) == (
        first_at, "connect_error", "refused",
    )  # fmt: skip
    assert (outage.last_error_code, outage.failure_count) == ("http_503", 3)
    state = state_of(ctx, "main")
    assert (state.circuit, state.circuit_kind, state.circuit_opened_at) == (
        "open", "transient", clock.now(),
    )  # fmt: skip


def test_an_account_error_during_an_outage_escalates_it_instead_of_opening_another(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock, engine_config(dispatch={"outage_threshold": 1}))
    cfg = ctx.config.dispatch
    with db.writing() as s:
        note_wholesale_failure(s, "main", "http_503", "down", clock.now(), cfg)
    clock.advance(10)
    with db.writing() as s:
        assert not note_account_error(s, "main", "auth_error", "token revoked", clock.now(), cfg)
    [outage] = outages(ctx, "main")
    assert (outage.kind, outage.first_error_code, outage.last_error_code) == (
        "account", "http_503", "auth_error",
    )  # fmt: skip
    state = state_of(ctx, "main")
    assert state.circuit_kind == "account"
    assert (state.next_probe_at - clock.now()).total_seconds() == cfg.account_probe_interval_seconds
    with db.writing() as s:
        assert close_circuit(s, "main", clock.now())
        assert not close_circuit(s, "main", clock.now())  # nothing left open
    assert outages(ctx, "main")[0].ended_at == clock.now()
    assert state_of(ctx, "main").circuit == "closed"


def test_recovery_makes_a_queued_message_without_a_due_time_due(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock, engine_config())
    [mid] = enqueue(ctx, 1)
    with db.writing() as s:
        s.get(Message, mid).next_attempt_at = None
    assert recover_expired_leases(ctx).undated == 1
    assert messages(ctx)[mid].next_attempt_at == clock.now()


async def test_the_registry_builds_once_names_what_is_missing_and_closes_what_it_built(
    db: Database, clock: FakeClock
) -> None:
    config = engine_config(
        {
            "main": {"type": "sandbox", "latency_ms": 0},
            "pm": {"type": "postmark"},
            "odd": {"type": "carrier-pigeon"},
        }
    )
    ctx = make_ctx(db, clock, config)
    registry = BackendRegistry(ctx)
    built = registry.get("main")
    assert isinstance(built, SandboxBackend) and registry.get("main") is built
    with pytest.raises(SecretError, match="mailconsole secrets set pm"):
        registry.get("pm")
    with pytest.raises(UnknownBackendError, match="installed backends are"):
        registry.get("odd")
    health = await registry.health_all()
    assert health["main"].ok and not health["pm"].ok and health["odd"].error_code == "config_error"
    registry.invalidate("main")
    rebuilt = registry.get("main")
    assert rebuilt is not built
    await registry.aclose()
    assert built.closed and rebuilt.closed


async def test_an_override_wins_over_the_config_and_is_not_closed_by_the_registry(
    db: Database, clock: FakeClock
) -> None:
    from mailconsole.backend_api import BackendContext

    override = SandboxBackend.create(BackendContext(name="main", options={}, clock=clock))
    ctx = make_ctx(db, clock, engine_config({"main": {"type": "postmark"}}), main=override)
    registry = BackendRegistry(ctx)
    assert registry.get("main") is override  # no secret needed: the config is not used
    await registry.aclose()
    assert not override.closed  # whoever put it there owns it
