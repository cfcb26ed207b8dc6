"""Claims, leases and ownership, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

from sqlmodel import select

from mailconsole.clock import FakeClock
from mailconsole.engine.claim import (
    LEASE_EXPIRED,
    claim_messages,
    recover_expired_leases,
    release,
)
from mailconsole.engine.dispatcher import run_dispatch_once
from mailconsole.engine.switches import DISPATCH_PAUSED, backend_state, set_setting
from mailconsole.store.db import Database
from mailconsole.store.models import Message, Suppression
from tests.engine.conftest import (
    ScriptedBackend,
    attempts_of,
    engine_config,
    enqueue,
    make_ctx,
    messages,
    sandbox_account,
    statuses,
)


def _claim(ctx, owner: str, limit: int = 10, backend: str = "main"):
    with ctx.db.writing() as s:
        return claim_messages(
            s, owner=owner, backend=backend, sources=[backend], include_unrouted=True,
            primary="main", limit=limit, now=ctx.clock.now(), lease_seconds=60,
        )  # fmt: skip


def test_claim_takes_due_messages_oldest_first_with_a_lease_and_counts_the_attempt(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock, engine_config())
    first = enqueue(ctx, 3)
    clock.advance(1)
    later = enqueue(ctx, 2)
    result = _claim(ctx, "worker-a", limit=4)
    assert [m.id for m in result.messages] == first + later[:1]
    assert result.full
    rows = messages(ctx)
    for mid in first + later[:1]:
        row = rows[mid]
        assert (row.status, row.lease_owner, row.attempts) == ("sending", "worker-a", 1)
        assert row.lease_expires_at == clock.now() + timedelta(seconds=60)
    assert rows[later[1]].status == "queued"
    claimed = result.messages[0]
    assert claimed.message.text == "hello" and claimed.message.to == ("user0@example.com",)
    assert claimed.outgoing().attempt == 1


def test_messages_not_yet_due_are_not_claimed(db: Database, clock: FakeClock) -> None:
    ctx = make_ctx(db, clock, engine_config())
    ids = enqueue(ctx, 2)
    with db.writing() as s:
        s.get(Message, ids[0]).next_attempt_at = clock.now() + timedelta(seconds=30)
    assert [m.id for m in _claim(ctx, "w").messages] == [ids[1]]
    clock.advance(31)
    assert [m.id for m in _claim(ctx, "w").messages] == [ids[0]]


def test_two_claimers_at_once_never_take_the_same_message(db: Database, clock: FakeClock) -> None:
    ctx = make_ctx(db, clock, engine_config())
    enqueue(ctx, 600)
    taken: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    barrier = threading.Barrier(3)

    def claimer(owner: str) -> None:
        barrier.wait()
        while True:
            got = _claim(ctx, owner, limit=25).messages
            if not got:
                return
            taken[owner] += [m.id for m in got]
            time.sleep(0.001)  # let the others in: without it one thread may win every race

    threads = [threading.Thread(target=claimer, args=(o,)) for o in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    everything = taken["a"] + taken["b"] + taken["c"]
    assert len(everything) == 600
    assert len(set(everything)) == 600
    assert sum(1 for ids in taken.values() if ids) >= 2  # they really competed
    assert statuses(ctx) == {"sending": 600}


async def test_a_stale_owners_result_is_ignored_after_its_lease_was_taken_over(
    db: Database, clock: FakeClock
) -> None:
    slow = ScriptedBackend("main")
    slow.gate = asyncio.Event()
    ctx = make_ctx(db, clock, engine_config(dispatch={"lease_seconds": 30}), main=slow)
    [mid] = enqueue(ctx, 1)
    run_a = asyncio.create_task(run_dispatch_once(ctx, owner="worker-a"))
    await asyncio.wait_for(slow.entered.wait(), 10)
    # Worker A hangs past its lease; recovery requeues, worker B claims and sends.
    clock.advance(31)
    assert (await asyncio.to_thread(recover_expired_leases, ctx)).requeued == 1
    b_claim = _claim(ctx, "worker-b")
    assert [m.attempt for m in b_claim.messages] == [2]
    slow.gate.set()
    report = await asyncio.wait_for(run_a, 10)
    assert report.stale == 1 and report.sent == 0
    row = messages(ctx)[mid]
    assert (row.status, row.lease_owner, row.attempts) == ("sending", "worker-b", 2)
    assert row.provider_message_id is None  # A's answer did not land
    rows = attempts_of(ctx, mid)
    assert [(a.attempt_no, a.error_code) for a in rows] == [(1, LEASE_EXPIRED)]


def test_expired_leases_go_back_to_the_queue_and_the_lost_try_is_recorded(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock, engine_config())
    ids = enqueue(ctx, 3)
    _claim(ctx, "crashed-worker", limit=2)
    assert recover_expired_leases(ctx).total == 0  # leases still valid
    clock.advance(61)
    report = recover_expired_leases(ctx)
    assert (report.requeued, report.dead) == (2, 0)
    rows = messages(ctx)
    for mid in ids[:2]:
        assert rows[mid].status == "queued"
        assert rows[mid].lease_owner is None and rows[mid].lease_expires_at is None
        assert rows[mid].attempts == 1  # the lost try counts: the provider may have taken it
        assert rows[mid].next_attempt_at == clock.now()
        assert rows[mid].last_error_code == LEASE_EXPIRED
        [attempt] = attempts_of(ctx, mid)
        assert (attempt.attempt_no, attempt.outcome, attempt.backend) == (1, "transient", "main")
        assert "crashed-worker" in (attempt.error_message or "")
    assert rows[ids[2]].attempts == 0
    # Back on the queue: the next claim takes them again as attempt 2.
    assert sorted(m.attempt for m in _claim(ctx, "new-worker").messages) == [1, 2, 2]


def test_a_message_that_keeps_killing_its_worker_goes_dead_at_max_attempts(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock, engine_config(retry={"max_attempts": 2}))
    [mid] = enqueue(ctx, 1)
    for _ in range(2):
        assert len(_claim(ctx, "doomed").messages) == 1
        clock.advance(61)
        recover_expired_leases(ctx)
    row = messages(ctx)[mid]
    assert (row.status, row.attempts, row.last_error_code) == ("dead", 2, LEASE_EXPIRED)
    assert [a.attempt_no for a in attempts_of(ctx, mid)] == [1, 2]


def test_release_puts_unsent_messages_back_without_spending_the_attempt(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock, engine_config())
    enqueue(ctx, 3)
    _claim(ctx, "me", limit=2)
    _claim(ctx, "someone-else", limit=1)
    assert release(ctx, "me") == 2
    rows = list(messages(ctx).values())
    assert sorted((m.status, m.attempts) for m in rows) == [
        ("queued", 0), ("queued", 0), ("sending", 1),
    ]  # fmt: skip


async def test_suppressed_recipients_are_never_sent(db: Database, clock: FakeClock) -> None:
    backend = ScriptedBackend("main")
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    with db.writing() as s:
        s.add(Suppression(address="gone@example.com", reason="inactive", created_at=clock.now()))
        s.add(
            Suppression(address="cc-gone@example.org", reason="complaint", created_at=clock.now())
        )
    ok_ids = enqueue(ctx, 2)
    [to_hit] = enqueue(ctx, 1, to="Gone@Example.com")
    [cc_hit] = enqueue(ctx, 1, cc="cc-gone@example.org")
    report = await run_dispatch_once(ctx)
    assert sorted(backend.sent_ids) == sorted(ok_ids)
    assert report.suppressed == 2 and report.sent == 2
    rows = messages(ctx)
    for mid in (to_hit, cc_hit):
        assert rows[mid].status == "suppressed"
        assert rows[mid].attempts == 0 and rows[mid].lease_owner is None
        assert attempts_of(ctx, mid) == []
    assert "complaint" in (rows[cc_hit].last_error or "")


async def test_global_pause_claims_nothing_and_resume_sends(db: Database, clock: FakeClock) -> None:
    backend = ScriptedBackend("main")
    ctx = make_ctx(db, clock, engine_config(), main=backend)
    enqueue(ctx, 3)
    with db.writing() as s:
        set_setting(s, DISPATCH_PAUSED, True, now=clock.now(), by="test")
    report = await run_dispatch_once(ctx)
    assert report.paused and report.claimed == 0 and backend.calls == []
    assert statuses(ctx) == {"queued": 3}
    with db.writing() as s:
        set_setting(s, DISPATCH_PAUSED, False, now=clock.now(), by="test")
    assert (await run_dispatch_once(ctx)).sent == 3


async def test_a_paused_backend_keeps_its_messages_queued_while_others_send(
    db: Database, clock: FakeClock
) -> None:
    main, other = ScriptedBackend("main"), ScriptedBackend("other")
    config = engine_config({"main": sandbox_account(), "other": sandbox_account()})
    ctx = make_ctx(db, clock, config, main=main, other=other)
    main_ids = enqueue(ctx, 2)  # no account: routed to the primary
    other_ids = enqueue(ctx, 2, backend="other")
    with db.writing() as s:
        backend_state(s, "main", clock.now()).paused = True
    report = await run_dispatch_once(ctx)
    assert main.calls == [] and sorted(other.sent_ids) == sorted(other_ids)
    assert report.sent == 2
    assert any("main: account paused" in n for n in report.notes)
    assert {messages(ctx)[i].status for i in main_ids} == {"queued"}
    with db.writing() as s:
        backend_state(s, "main", clock.now()).paused = False
    await run_dispatch_once(ctx)
    assert sorted(main.sent_ids) == sorted(main_ids)
    with db.reading() as s:
        assert {m.backend for m in s.exec(select(Message)).all()} == {"main", "other"}
