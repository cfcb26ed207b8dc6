"""Account errors and provider storms: circuits, outages, probes, fallback, recovery."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from backends.sandbox import SandboxBackend
from mailconsole.backend_api import BackendContext
from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.engine.backends import BackendRegistry
from mailconsole.engine.backoff import nominal_delay
from mailconsole.engine.circuit import close_circuit
from mailconsole.engine.dispatcher import run_dispatch_once
from mailconsole.engine.switches import FALLBACK_ENABLED, set_setting
from mailconsole.store.db import Database
from tests.engine.conftest import (
    all_attempts,
    engine_config,
    enqueue,
    make_ctx,
    messages,
    outages,
    sandbox_account,
    state_of,
    statuses,
)
from tests.fakes.postmark_server import FakePostmark


def sandbox(name: str, clock: FakeClock, **options: Any) -> SandboxBackend:
    opts = {k: v for k, v in sandbox_account(**options).items() if k != "type"}
    return SandboxBackend.create(BackendContext(name=name, options=opts, clock=clock))


# --- a revoked token ---------------------------------------------------------------------------


async def test_a_revoked_token_keeps_messages_queued_opens_the_circuit_and_kills_nothing(
    db: Database, clock: FakeClock
) -> None:
    main = sandbox("main", clock, account_error=True, batch_size=4, max_connections=1)
    ctx = make_ctx(db, clock, engine_config(), main=main)
    ids = enqueue(ctx, 10)
    opened_at = clock.now()
    report = await run_dispatch_once(ctx)
    assert report.sent == report.dead == report.retried == 0
    assert report.circuits_opened == ["main"] and report.by_error_code == {"auth_error": 4}
    assert main.requests == 1  # the first failed batch stops the account: no burning the queue
    rows = messages(ctx)
    assert {(m.status, m.attempts, m.lease_owner) for m in rows.values()} == {("queued", 0, None)}
    state = state_of(ctx, "main")
    assert (state.circuit, state.circuit_kind, state.circuit_error_code) == (
        "open", "account", "auth_error",
    )  # fmt: skip
    assert state.next_probe_at == opened_at + timedelta(seconds=300)
    [outage] = outages(ctx, "main")
    assert (outage.kind, outage.started_at, outage.ended_at) == ("account", opened_at, None)
    assert outage.first_error_code == "auth_error" and "token" in (outage.first_error or "")
    assert {a.outcome for a in all_attempts(ctx)} == {"account"}
    # Runs before the probe time try nothing at all.
    clock.advance(60)
    assert (await run_dispatch_once(ctx)).claimed == 0 and main.requests == 1
    # The operator fixes the token and resets the circuit: everything goes out, none was lost.
    main.options = main.options.model_copy(update={"account_error": False})
    with db.writing() as s:
        assert close_circuit(s, "main", clock.now()) is True
    report = await run_dispatch_once(ctx)
    assert report.sent == 10 and statuses(ctx) == {"sent": 10}
    assert sorted(main.accepted) == sorted(ids)
    [outage] = outages(ctx, "main")
    assert outage.ended_at == clock.now()
    assert state_of(ctx, "main").circuit == "closed"
    # The attempt lost to the account error was given back: the send is attempt 1.
    assert {m.attempts for m in messages(ctx).values()} == {1}


async def test_an_account_circuit_recovers_through_a_successful_probe(
    db: Database, clock: FakeClock
) -> None:
    main = sandbox("main", clock, account_error=True)
    ctx = make_ctx(db, clock, engine_config(), main=main)
    enqueue(ctx, 6)
    await run_dispatch_once(ctx)
    main.options = main.options.model_copy(update={"account_error": False})
    clock.advance(299)
    assert (await run_dispatch_once(ctx)).probes == 0
    clock.advance(1)
    probe = await run_dispatch_once(ctx)
    assert (probe.probes, probe.sent, probe.circuits_closed) == (1, 1, ["main"])
    assert (await run_dispatch_once(ctx)).sent == 5
    assert outages(ctx, "main")[0].ended_at is not None


async def test_a_revoked_postmark_token_answers_401_then_a_fixed_secret_recovers_at_the_probe(
    db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakePostmark(token="the-real-token") as server:
        config = engine_config(
            {"main": {"type": "postmark", "from": "ops@example.com", "base_url": server.url}}
        )
        monkeypatch.setenv("MAILCONSOLE_SECRET_MAIN", "a-revoked-token")
        ctx = make_ctx(db, clock, config)
        registry = BackendRegistry(ctx)  # shared across runs, as in the scheduler
        try:
            ids = enqueue(ctx, 5)
            report = await run_dispatch_once(ctx, registry=registry)
            assert report.circuits_opened == ["main"] and report.dead == 0
            assert statuses(ctx) == {"queued": 5}
            [outage] = outages(ctx, "main")
            assert (outage.kind, outage.first_error_code) == ("account", "http_401")
            assert {a.provider_code for a in all_attempts(ctx)} == {"postmark:10"}
            assert server.accepted == []
            monkeypatch.setenv("MAILCONSOLE_SECRET_MAIN", "the-real-token")
            clock.advance(config.dispatch.account_probe_interval_seconds)
            probe = await run_dispatch_once(ctx, registry=registry)
            assert (probe.probes, probe.sent) == (1, 1)  # rebuilt with the new secret
            await run_dispatch_once(ctx, registry=registry)
            assert statuses(ctx) == {"sent": 5}
            assert sorted(server.accepted_ids()) == sorted(str(i) for i in ids)
        finally:
            await registry.aclose()


# --- a ten-minute 5xx storm --------------------------------------------------------------------

STEP_S = 5


async def _storm(
    ctx: AppContext, clock: FakeClock, minutes: int, *, trickle_until: datetime | None = None
) -> list[tuple[datetime, Any]]:
    """Run the dispatcher every STEP_S seconds for `minutes`; check every backoff as it is set.

    With `trickle_until`, one new message arrives every minute until then (live traffic).
    """
    retry = ctx.config.retry
    log: list[tuple[datetime, Any]] = []
    checked = 0
    for step in range(minutes * 60 // STEP_S):
        if trickle_until and clock.now() < trickle_until and step and step % (60 // STEP_S) == 0:
            enqueue(ctx, 1, tag="trickle")
        report = await run_dispatch_once(ctx)
        now = clock.now()
        log.append((now, report))
        fresh = [a for a in all_attempts(ctx) if a.started_at == now and a.outcome == "transient"]
        rows = messages(ctx, [a.message_id for a in fresh])
        for a in fresh:
            row = rows[a.message_id]
            if row.status != "queued" or row.attempts != a.attempt_no:
                continue
            nominal = nominal_delay(retry, a.attempt_no)
            wait = (row.next_attempt_at - now).total_seconds()
            assert nominal * 0.8 <= wait <= nominal * 1.2, (a.attempt_no, wait)
            checked += 1
        clock.advance(STEP_S)
    assert checked >= 10
    return log


def _storm_ctx(db: Database, clock: FakeClock, *, fallback_enabled: bool) -> AppContext:
    t0 = clock.now()
    window = {"start": t0, "end": t0 + timedelta(minutes=10)}
    config = engine_config(
        {"main": sandbox_account(), "backup": sandbox_account()},
        fallback="backup",
        fallback_enabled=fallback_enabled,
        dispatch={"outage_threshold": 3, "probe_interval_seconds": 30},
    )
    main = sandbox("main", clock, outage_windows=[window], batch_size=5, max_connections=1)
    backup = sandbox("backup", clock, batch_size=5, max_connections=1)
    return make_ctx(db, clock, config, main=main, backup=backup)


async def test_a_ten_minute_5xx_storm_opens_one_outage_probes_and_closes_it_without_fallback(
    db: Database, clock: FakeClock
) -> None:
    t0 = clock.now()
    ctx = _storm_ctx(db, clock, fallback_enabled=False)
    main, backup = ctx.backend_overrides["main"], ctx.backend_overrides["backup"]
    ids = enqueue(ctx, 20)
    log = await _storm(ctx, clock, minutes=30)
    first_report = log[0][1]
    assert first_report.circuits_opened == ["main"] and first_report.retried == 15  # 3 batches
    [outage] = outages(ctx, "main")
    assert (outage.kind, outage.started_at) == ("transient", t0)
    assert outage.first_error_code == "http_503" and "simulated outage" in outage.first_error
    closed_at = next(at for at, r in log if r.circuits_closed)
    assert t0 + timedelta(minutes=10) <= closed_at <= t0 + timedelta(minutes=10, seconds=35)
    assert outage.ended_at == closed_at
    # While open, only probes: one message every 30 s, never the whole queue.
    during = [r for at, r in log if t0 < at < closed_at]
    assert all(r.claimed <= 1 for r in during)
    assert 15 <= sum(r.probes for r in during) <= 21
    assert main.requests <= 3 + 21 + 10
    # Fallback is off: nothing went to it, and nothing died: everything went out after the storm.
    assert backup.requests == 0
    assert statuses(ctx) == {"sent": 20}
    assert {m.backend for m in messages(ctx).values()} == {"main"}
    assert sorted(main.accepted) == sorted(ids)
    assert state_of(ctx, "main").circuit == "closed"


async def test_a_ten_minute_5xx_storm_goes_to_the_fallback_when_it_is_enabled(
    db: Database, clock: FakeClock
) -> None:
    t0 = clock.now()
    ctx = _storm_ctx(db, clock, fallback_enabled=True)
    main, backup = ctx.backend_overrides["main"], ctx.backend_overrides["backup"]
    enqueue(ctx, 20)
    # Live traffic keeps arriving: it is what probes the primary once the storm has passed.
    log = await _storm(ctx, clock, minutes=25, trickle_until=t0 + timedelta(minutes=12))
    [outage] = outages(ctx, "main")
    assert (outage.kind, outage.started_at, outage.first_error_code) == (
        "transient",
        t0,
        "http_503",
    )
    # The primary is probed with live traffic: it closes with the first message after the storm.
    closed_at = next(at for at, r in log if r.circuits_closed)
    assert t0 + timedelta(minutes=10) <= closed_at <= t0 + timedelta(minutes=11, seconds=5)
    assert outage.ended_at == closed_at
    # The five never tried went to the fallback at the next run; the failed ones at their retry.
    assert log[1][1].by_backend.get("backup", {}).get("sent") == 5
    rows = messages(ctx).values()
    by_backup = [m for m in rows if m.backend == "backup"]
    assert len(by_backup) >= 14 + 8  # all but the probes, and the live traffic of the storm
    # (the run whose probe closes the circuit still sends its planned batches to the fallback)
    assert all(m.sent_at <= closed_at for m in by_backup)
    assert all(a.started_at <= closed_at for a in all_attempts(ctx) if a.backend == "backup")
    # Every message went out exactly once, and none died.
    assert set(statuses(ctx)) == {"sent"}
    assert sorted([*main.accepted, *backup.accepted]) == sorted(m.id for m in rows)
    assert max(main.accepted.values()) == max(backup.accepted.values()) == 1
    # Once the outage has closed, traffic is back on the primary.
    later = enqueue(ctx, 3)
    report = await run_dispatch_once(ctx)
    assert report.by_backend == {"main": {"sent": 3}}
    assert {messages(ctx)[i].backend for i in later} == {"main"}


async def test_the_operator_switch_turns_fallback_on_for_an_open_outage(
    db: Database, clock: FakeClock
) -> None:
    ctx = _storm_ctx(db, clock, fallback_enabled=False)
    backup = ctx.backend_overrides["backup"]
    enqueue(ctx, 20)
    await run_dispatch_once(ctx)  # opens the outage; 5 untried remain
    clock.advance(5)
    assert (await run_dispatch_once(ctx)).by_backend.get("backup") is None
    with db.writing() as s:
        set_setting(s, FALLBACK_ENABLED, True, now=clock.now(), by="oncall")
    clock.advance(5)
    assert (await run_dispatch_once(ctx)).by_backend["backup"]["sent"] == 5
    assert backup.requests == 1
    assert len([a for a in all_attempts(ctx) if a.backend == "backup"]) == 5
