"""The leader and dispatch leases: one holder at a time, renewal, takeover of a dead holder."""

from __future__ import annotations

import os
import threading

from mailconsole.clock import FakeClock
from mailconsole.engine.leader import (
    LEADER,
    current_leader,
    hostname,
    make_owner_id,
    release,
    renew,
    try_acquire,
)
from mailconsole.store.db import Database
from tests.engine.conftest import engine_config, make_ctx


def test_one_process_leads_and_the_others_see_who(db: Database, clock: FakeClock) -> None:
    ctx = make_ctx(db, clock, engine_config())
    assert current_leader(ctx) is None
    first = try_acquire(ctx, LEADER, "host-a:1:aa", 30)
    assert first.acquired and first.new
    second = try_acquire(ctx, LEADER, "host-b:2:bb", 30)
    assert not second.acquired
    assert second.holder is not None and second.holder.owner == "host-a:1:aa"
    info = current_leader(ctx)
    assert info is not None
    assert (info.owner, info.host, info.pid, info.stale) == (
        "host-a:1:aa",
        hostname(),
        os.getpid(),
        False,
    )
    assert info.acquired_at == clock.now() and info.expires_at == clock.now().replace(second=30)
    assert "since" in info.describe() and info.to_dict()["owner"] == "host-a:1:aa"


def test_renewal_moves_the_heartbeat_but_keeps_the_start(db: Database, clock: FakeClock) -> None:
    ctx = make_ctx(db, clock, engine_config())
    start = clock.now()
    try_acquire(ctx, LEADER, "me", 30)
    clock.advance(10)
    again = try_acquire(ctx, LEADER, "me", 30)
    assert again.acquired and not again.new
    info = current_leader(ctx)
    assert info.acquired_at == start and info.heartbeat_at == clock.now()
    assert renew(ctx, LEADER, "me", 30)


def test_a_dead_leaders_expired_lease_is_taken_over_and_it_cannot_renew(
    db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(db, clock, engine_config())
    try_acquire(ctx, LEADER, "crashed", 30)
    clock.advance(29)
    assert not try_acquire(ctx, LEADER, "successor", 30).acquired
    clock.advance(2)
    assert current_leader(ctx).stale
    taken = try_acquire(ctx, LEADER, "successor", 30)
    assert taken.acquired and taken.new
    assert current_leader(ctx).acquired_at == clock.now()
    assert not renew(ctx, LEADER, "crashed", 30)  # it woke up too late


def test_a_released_lease_is_free_at_once(db: Database, clock: FakeClock) -> None:
    ctx = make_ctx(db, clock, engine_config())
    try_acquire(ctx, LEADER, "leaving", 30)
    assert not release(ctx, LEADER, "someone-else")
    assert release(ctx, LEADER, "leaving")
    assert current_leader(ctx) is None
    assert try_acquire(ctx, LEADER, "next", 30).acquired


def test_racing_for_a_free_lease_exactly_one_wins(db: Database, clock: FakeClock) -> None:
    ctx = make_ctx(db, clock, engine_config())
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def race(owner: str) -> None:
        barrier.wait()
        if try_acquire(ctx, "dispatch", owner, 30).acquired:
            winners.append(owner)

    threads = [threading.Thread(target=race, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(winners) == 1


def test_owner_ids_are_unique_per_process_and_readable() -> None:
    default = make_owner_id()
    assert default.startswith(f"{hostname()}:{os.getpid()}:")
    named = make_owner_id("mail-worker-1")
    assert named.startswith("mail-worker-1:") and named != "mail-worker-1"
