"""Leases in `scheduler_lease`: who leads the jobs, and who is running a dispatch right now.

Two rows matter. `leader` is held by the one process per database that runs the scheduled jobs; it
renews the row every third of `dispatch.leader_lease_seconds` (its heartbeat), and a crashed
leader's row simply expires, after which any process may take it. `dispatch` guards one dispatch
run at a time across every host, so "process queue now" (CLI, console) never runs beside the
scheduler's own dispatch.

Acquiring is one conditional UPDATE (`WHERE name = ? AND (owner = ? OR expires_at < now)`) and, when
no row exists, an `INSERT … ON CONFLICT DO NOTHING`: both atomic on SQLite and PostgreSQL, so two
processes racing for a free lease cannot both win.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from mailconsole.clock import ensure_utc
from mailconsole.context import AppContext
from mailconsole.store.models import SchedulerLease

LEADER = "leader"
DISPATCH = "dispatch"

_T = SchedulerLease.__table__  # type: ignore[attr-defined]


@lru_cache(maxsize=1)
def hostname() -> str:
    return socket.gethostname() or "localhost"


_PROCESS_TOKEN = secrets.token_hex(3)


def make_owner_id(name: str | None = None) -> str:
    """An owner id unique to this process: `host:pid:random`, or `NAME:random` with `--id NAME`.

    The random part matters: a restarted worker reusing a name or a pid must not inherit the
    leases of the process it replaces.
    """
    if name:
        return f"{name}:{_PROCESS_TOKEN}"[:128]
    return f"{hostname()}:{os.getpid()}:{_PROCESS_TOKEN}"[:128]


@dataclass(frozen=True)
class LeaseInfo:
    """One lease row as the console and `health check` show it."""

    name: str
    owner: str
    host: str | None
    pid: int | None
    acquired_at: datetime
    heartbeat_at: datetime
    expires_at: datetime
    stale: bool  # expired: the holder stopped renewing (crashed, hung, or cut off)

    def describe(self) -> str:
        where = f"{self.host}:{self.pid}" if self.host else self.owner
        return f"{where} since {self.acquired_at.isoformat(timespec='seconds')}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "owner": self.owner,
            "host": self.host,
            "pid": self.pid,
            "acquired_at": self.acquired_at.isoformat(),
            "heartbeat_at": self.heartbeat_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "stale": self.stale,
        }


LeaderInfo = LeaseInfo


@dataclass(frozen=True)
class AcquireResult:
    acquired: bool
    holder: LeaseInfo | None  # who holds it now (us when acquired)
    new: bool = False  # we did not hold it before this call


def _info(row: Any, now: datetime) -> LeaseInfo:
    return LeaseInfo(
        name=row.name,
        owner=row.owner,
        host=row.host,
        pid=row.pid,
        acquired_at=ensure_utc(row.acquired_at),
        heartbeat_at=ensure_utc(row.heartbeat_at),
        expires_at=ensure_utc(row.expires_at),
        stale=ensure_utc(row.expires_at) < now,
    )


def _read(session: Session, name: str, now: datetime) -> LeaseInfo | None:
    row = session.execute(select(_T).where(_T.c.name == name)).first()
    return None if row is None else _info(row, now)


def acquire_in(
    session: Session, name: str, owner: str, ttl_s: float, now: datetime
) -> AcquireResult:
    """Acquire or renew lease `name` for `owner` inside `session` (a write transaction)."""
    expires = now + timedelta(seconds=ttl_s)
    held_before = session.execute(
        select(_T.c.owner).where(_T.c.name == name, _T.c.owner == owner, _T.c.expires_at >= now)
    ).first()
    values = {
        "owner": owner,
        "host": hostname(),
        "pid": os.getpid(),
        "acquired_at": case((_T.c.owner == owner, _T.c.acquired_at), else_=now),
        "heartbeat_at": now,
        "expires_at": expires,
    }
    result = session.execute(
        update(_T)
        .where(_T.c.name == name, or_(_T.c.owner == owner, _T.c.expires_at < now))
        .values(**values)
    )
    acquired = result.rowcount == 1
    if not acquired:
        dialect = session.get_bind().dialect.name
        ins_mod: Any = postgresql if dialect == "postgresql" else sqlite
        insert_values = dict(values, acquired_at=now, name=name)
        ins = (
            ins_mod.insert(_T)
            .values(**insert_values)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(_T.c.name)
        )
        # RETURNING, not rowcount: psycopg reports no usable rowcount for this statement.
        acquired = session.execute(ins).first() is not None
    return AcquireResult(
        acquired=acquired, holder=_read(session, name, now), new=acquired and held_before is None
    )


def try_acquire(ctx: AppContext, name: str, owner: str, ttl_s: float) -> AcquireResult:
    """Take lease `name` if it is free, expired, or already ours (then it is renewed)."""
    with ctx.db.writing() as session:
        return acquire_in(session, name, owner, ttl_s, ctx.clock.now())


def renew(ctx: AppContext, name: str, owner: str, ttl_s: float) -> bool:
    """Extend our lease; False when another process has taken it (we stalled past its expiry)."""
    return try_acquire(ctx, name, owner, ttl_s).acquired


def release(ctx: AppContext, name: str, owner: str) -> bool:
    """Give the lease up at once (a graceful stop), so a successor need not wait for expiry."""
    with ctx.db.writing() as session:
        result = session.execute(delete(_T).where(_T.c.name == name, _T.c.owner == owner))
        return result.rowcount == 1


def current_lease(ctx: AppContext, name: str) -> LeaseInfo | None:
    with ctx.db.reading() as session:
        return _read(session, name, ctx.clock.now())


def current_leader(ctx: AppContext) -> LeaderInfo | None:
    """Who leads the scheduled jobs for this database (None: nobody has yet)."""
    return current_lease(ctx, LEADER)
