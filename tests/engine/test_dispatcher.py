"""One dispatch run: outcomes, attempt rows, backoff, batching, limits, and the dispatch lease."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from mailconsole.backend_api import Outcome, OutgoingMessage, SendResult
from mailconsole.clock import FakeClock
from mailconsole.engine.backends import BackendRegistry
from mailconsole.engine.backoff import nominal_delay
from mailconsole.engine.dispatcher import run_dispatch_once
from mailconsole.errors import ConflictError, ReadOnlyError
from mailconsole.store.db import Database
from mailconsole.store.models import Suppression
from tests.engine.conftest import (
    ScriptedBackend,
    attempts_of,
    engine_config,
    enqueue,
    make_ctx,
    messages,
    ok,
    outages,
    sandbox_account,
    state_of,
    statuses,
    transient,
)


async def test_transient_then_success_records_both_attempts_and_ends_sent(
    db: Database, clock: FakeClock
) -> None:
    backend = ScriptedBackend("main", script=transient("http_503"))
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    [mid] = enqueue(ctx, 1)
    first = await run_dispatch_once(ctx)
    assert (first.claimed, first.retried, first.by_error_code) == (1, 1, {"http_503": 1})
    row = messages(ctx)[mid]
    assert (row.status, row.attempts, row.last_error_code) == ("queued", 1, "http_503")
    assert row.last_provider_code == "fake:5xx" and row.lease_owner is None
    wait = (row.next_attempt_at - clock.now()).total_seconds()
    assert 48 <= wait <= 72  # base 60 s ± 20 % jitter
    assert (await run_dispatch_once(ctx)).claimed == 0  # not due yet
    clock.advance(wait)
    backend.script = ok
    second = await run_dispatch_once(ctx)
    assert second.sent == 1 and second.by_backend == {"main": {"sent": 1}}
    row = messages(ctx)[mid]
    assert (row.status, row.attempts, row.backend) == ("sent", 2, "main")
    assert row.provider_message_id == f"pm-{mid}" and row.sent_at == clock.now()
    rows = attempts_of(ctx, mid)
    assert [(a.attempt_no, a.outcome, a.error_code) for a in rows] == [
        (1, "transient", "http_503"),
        (2, "sent", None),
    ]
    assert rows[0].provider_code == "fake:5xx" and rows[0].error_message == "fake http_503"
    assert rows[1].provider_message_id == f"pm-{mid}" and rows[1].backend == "main"
    assert backend.attempts == [[1], [2]]  # the backend is told which attempt it sends


async def test_backoff_doubles_per_attempt_within_jitter_up_to_the_cap_then_dead(
    db: Database, clock: FakeClock
) -> None:
    # A per-message transient error (a greylisting 451): the provider itself is fine, so no
    # outage opens and every attempt goes out at its backoff.
    backend = ScriptedBackend("main", script=transient("smtp_451"))
    config = engine_config(retry={"base_seconds": 60, "cap_seconds": 400, "max_attempts": 6})
    ctx = make_ctx(db, clock, config, main=backend)
    ids = enqueue(ctx, 20)
    for attempt in range(1, 6):
        report = await run_dispatch_once(ctx)
        assert report.retried == 20
        nominal = nominal_delay(config.retry, attempt)
        assert nominal == min(400, 60 * 2 ** (attempt - 1))
        waits = [(m.next_attempt_at - clock.now()).total_seconds() for m in messages(ctx).values()]
        assert all(nominal * 0.8 <= w <= nominal * 1.2 for w in waits), (attempt, waits)
        assert len(set(waits)) > 10  # jitter spreads a batch that failed together
        clock.advance(max(waits))
    last = await run_dispatch_once(ctx)
    assert (last.dead, last.retried) == (20, 0)
    for mid in ids:
        row = messages(ctx)[mid]
        assert (row.status, row.attempts, row.last_error_code) == ("dead", 6, "smtp_451")
        assert [a.attempt_no for a in attempts_of(ctx, mid)] == [1, 2, 3, 4, 5, 6]
    assert state_of(ctx, "main").circuit == "closed" and outages(ctx) == []


async def test_a_providers_longer_retry_after_wins_over_the_backoff(
    db: Database, clock: FakeClock
) -> None:
    backend = ScriptedBackend("main", script=transient("http_429", retry_after=900))
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    [mid] = enqueue(ctx, 1)
    await run_dispatch_once(ctx)
    assert messages(ctx)[mid].next_attempt_at == clock.now() + timedelta(seconds=900)


async def test_permanent_failure_goes_dead_at_once_and_inactive_recipients_are_suppressed(
    db: Database, clock: FakeClock
) -> None:
    config = engine_config({"main": sandbox_account(inactive_domains=["gone.example"])})
    ctx = make_ctx(db, clock, config)
    [dead_id] = enqueue(ctx, 1, to="someone@gone.example")
    [fine_id] = enqueue(ctx, 1)
    report = await run_dispatch_once(ctx)
    assert (report.dead, report.sent) == (1, 1)
    row = messages(ctx)[dead_id]
    assert (row.status, row.attempts, row.last_provider_code) == ("dead", 1, "sandbox:406")
    assert messages(ctx)[fine_id].status == "sent"
    with db.reading() as s:
        sup = s.get(Suppression, "someone@gone.example")
    assert sup is not None and (sup.reason, sup.source, sup.message_id) == (
        "inactive", "main", dead_id,
    )  # fmt: skip
    [again] = enqueue(ctx, 1, to="someone@gone.example")
    assert (await run_dispatch_once(ctx)).suppressed == 1
    assert messages(ctx)[again].status == "suppressed"
    assert len(attempts_of(ctx, again)) == 0


async def test_an_exception_escaping_send_is_a_transient_backend_error_for_the_batch(
    db: Database, clock: FakeClock
) -> None:
    backend = ScriptedBackend("main", batch_size=10)
    backend.raise_exc = RuntimeError("socket exploded")
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    enqueue(ctx, 4)
    report = await run_dispatch_once(ctx)
    assert (report.retried, report.by_error_code) == (4, {"backend_error": 4})
    rows = messages(ctx).values()
    assert {(m.status, m.last_error_code) for m in rows} == {("queued", "backend_error")}
    assert all("socket exploded" in (m.last_error or "") for m in rows)


async def test_a_message_the_backend_gave_no_result_for_is_retried_not_lost(
    db: Database, clock: FakeClock
) -> None:
    backend = ScriptedBackend("main", batch_size=10)
    backend.drop_results = True
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    ids = enqueue(ctx, 3)
    report = await run_dispatch_once(ctx)
    assert (report.sent, report.retried) == (2, 1)
    assert messages(ctx)[ids[-1]].last_error_code == "backend_error"


async def test_batches_follow_batch_size_and_at_most_max_connections_run_at_once(
    db: Database, clock: FakeClock
) -> None:
    backend = ScriptedBackend("main", batch_size=5, max_connections=2, latency_s=0.02)
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    enqueue(ctx, 23)
    report = await run_dispatch_once(ctx)
    assert report.sent == 23 and report.batches == 5
    assert sorted(len(c) for c in backend.calls) == [3, 5, 5, 5, 5]
    assert backend.max_in_flight == 2
    assert len(set(backend.sent_ids)) == 23


async def test_rate_per_second_spreads_the_sends_over_time(db: Database, clock: FakeClock) -> None:
    backend = ScriptedBackend("main", batch_size=5, rate_per_second=10, clock=clock)
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    enqueue(ctx, 40)
    start = clock.monotonic()
    await run_dispatch_once(ctx)
    # 40 messages at 10/s with a one-second burst: the last batch leaves after ≥ 3 s.
    assert backend.call_times[-1] - start >= 3.0 - 1e-6
    assert clock.monotonic() - start <= 4.0 + 1e-6


async def test_the_rate_holds_across_runs_that_share_a_registry(
    db: Database, clock: FakeClock
) -> None:
    backend = ScriptedBackend("main", batch_size=10, rate_per_second=10, clock=clock)
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    registry = BackendRegistry(ctx)
    enqueue(ctx, 10)
    await run_dispatch_once(ctx, registry=registry)
    enqueue(ctx, 10)
    await run_dispatch_once(ctx, registry=registry)
    # The first ten used the whole one-second burst; the next ten wait for it to refill.
    assert backend.call_times[1] - backend.call_times[0] >= 1.0 - 1e-6


async def test_a_run_stops_at_its_claim_limit_and_says_more_is_waiting(
    db: Database, clock: FakeClock
) -> None:
    backend = ScriptedBackend("main", batch_size=5)
    ctx = make_ctx(db, clock, engine_config(dispatch={"claim_limit": 7}), main=backend)
    enqueue(ctx, 10)
    first = await run_dispatch_once(ctx)
    assert (first.claimed, first.more_waiting) == (7, True)
    assert sorted(len(c) for c in backend.calls) == [2, 5]
    second = await run_dispatch_once(ctx, limit=100)
    assert (second.claimed, second.more_waiting) == (3, False)
    assert statuses(ctx) == {"sent": 10}


async def test_process_now_never_runs_beside_another_dispatch_and_names_the_holder(
    db: Database, clock: FakeClock
) -> None:
    backend = ScriptedBackend("main")
    backend.gate = asyncio.Event()
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    enqueue(ctx, 2)
    running = asyncio.create_task(run_dispatch_once(ctx, owner="scheduler"))
    await asyncio.wait_for(backend.entered.wait(), 10)
    # With nothing due it says so at once, without waiting for the lease.
    assert (await run_dispatch_once(ctx, owner="console", wait_s=30)).idle
    enqueue(ctx, 1)
    with pytest.raises(ConflictError, match="already in progress") as err:
        await run_dispatch_once(ctx, owner="console", wait_s=0.3)
    assert "since" in str(err.value)
    backend.gate.set()
    assert (await running).sent == 2
    assert (await run_dispatch_once(ctx, owner="console")).sent == 1  # the lease was released


async def test_a_backend_that_cannot_be_built_keeps_its_messages_queued_and_opens_its_circuit(
    db: Database, clock: FakeClock
) -> None:
    config = engine_config({"main": {"type": "postmark", "from": "ops@example.com"}})
    ctx = make_ctx(db, clock, config)  # no secret anywhere
    enqueue(ctx, 3)
    report = await run_dispatch_once(ctx)
    assert report.claimed == 0 and report.circuits_opened == ["main"]
    assert statuses(ctx) == {"queued": 3}
    state = state_of(ctx, "main")
    assert (state.circuit, state.circuit_kind, state.circuit_error_code) == (
        "open", "account", "config_error",
    )  # fmt: skip
    assert "mailconsole secrets set main" in (state.circuit_reason or "")
    [outage] = outages(ctx, "main")
    assert (outage.kind, outage.first_error_code, outage.ended_at) == (
        "account",
        "config_error",
        None,
    )
    # Until the next probe nothing is tried; at the probe the build is tried again.
    assert "main" not in (await run_dispatch_once(ctx)).circuits_opened
    clock.advance(config.dispatch.account_probe_interval_seconds)
    await run_dispatch_once(ctx)
    assert state_of(ctx, "main").next_probe_at > clock.now()
    assert len(outages(ctx, "main")) == 1 and statuses(ctx) == {"queued": 3}


async def test_dispatch_is_refused_in_read_only_mode(db: Database, clock: FakeClock) -> None:
    ctx = make_ctx(db, clock, engine_config())
    ctx.read_only = True
    with pytest.raises(ReadOnlyError):
        await run_dispatch_once(ctx)


async def test_the_report_counts_each_outcome_and_is_json(db: Database, clock: FakeClock) -> None:
    def mixed(m: OutgoingMessage) -> SendResult:
        if m.id % 3 == 0:
            return SendResult(m.id, Outcome.PERMANENT, error_code="provider_reject",
                              provider_code="fake:300", error_message="bad")  # fmt: skip
        if m.id % 3 == 1:
            return transient("http_500")(m)
        return ok(m)

    backend = ScriptedBackend("main", script=mixed, batch_size=4)
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    enqueue(ctx, 9)
    report = await run_dispatch_once(ctx)
    assert (report.sent, report.retried, report.dead) == (3, 3, 3)
    assert report.by_error_code == {"http_500": 3, "provider_reject": 3}
    assert report.by_backend == {"main": {"sent": 3, "retried": 3, "dead": 3}}
    data = json.loads(json.dumps(report.to_dict()))
    assert data["claimed"] == 9 and data["more_waiting"] is False
    assert "sent 3" in report.summary()


async def test_each_slot_claims_its_next_batch_while_one_is_in_flight(
    db: Database, clock: FakeClock
) -> None:
    backend = ScriptedBackend("main", batch_size=5, max_connections=1)
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    enqueue(ctx, 20)
    backend.gate = asyncio.Event()
    run = asyncio.create_task(run_dispatch_once(ctx))
    await asyncio.wait_for(backend.entered.wait(), 10)
    # The first batch is at the provider; the slot's next batch is leased already, unsent.
    for _ in range(200):
        if statuses(ctx).get("sending") == 10:
            break
        await asyncio.sleep(0.01)
    assert statuses(ctx) == {"sending": 10, "queued": 10}
    assert len(backend.calls) == 1  # one request at a time: the connection limit holds
    backend.gate.set()
    report = await run
    assert (report.sent, report.batches) == (20, 4)
    assert backend.max_in_flight == 1
    assert statuses(ctx) == {"sent": 20}


async def test_the_batch_claimed_ahead_goes_back_unsent_when_the_circuit_opens(
    db: Database, clock: FakeClock
) -> None:
    def revoked(m: OutgoingMessage) -> SendResult:
        return SendResult(m.id, Outcome.ACCOUNT, error_code="http_401", error_message="bad token")

    backend = ScriptedBackend("main", script=revoked, batch_size=5, max_connections=1)
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    ids = enqueue(ctx, 20)
    report = await run_dispatch_once(ctx)
    assert report.circuits_opened == ["main"]
    assert len(backend.calls) == 1  # the batch claimed ahead never reached the provider
    assert report.deferred == 10  # the failed batch (account error) and the one claimed ahead
    rows = messages(ctx)
    assert {rows[i].status for i in ids} == {"queued"}
    assert {rows[i].attempts for i in ids} == {0}  # no attempt spent by either
    assert {rows[i].lease_owner for i in ids} == {None}


async def test_a_run_stops_claiming_after_run_seconds_and_says_more_is_waiting(
    db: Database, clock: FakeClock
) -> None:
    backend = ScriptedBackend("main", batch_size=5, max_connections=1, latency_s=0.2)
    ctx = make_ctx(db, clock, engine_config(dispatch={"run_seconds": 0.3}), main=backend)
    enqueue(ctx, 50)
    first = await run_dispatch_once(ctx)
    assert first.cut_short and first.more_waiting
    assert 5 <= first.sent < 50
    assert statuses(ctx) == {"sent": first.sent, "queued": 50 - first.sent}  # nothing held
    sent, report = first.sent, first
    while report.more_waiting:  # what the scheduler does: the next run starts at once
        report = await run_dispatch_once(ctx)
        sent += report.sent
    assert sent == 50 and statuses(ctx) == {"sent": 50}
