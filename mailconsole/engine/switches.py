"""Operator switches shared by every process on the database: global pause, fallback, per-backend pause.

They live in the store (table `setting`, and `backend_state.paused`) so a pause from one console
stops the worker on another host at its next dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from mailconsole.config import Config
from mailconsole.store.models import BackendState, Setting

DISPATCH_PAUSED = "dispatch.paused"
FALLBACK_ENABLED = "fallback.enabled"


@dataclass(frozen=True)
class Switches:
    paused: bool
    fallback_enabled: bool
    paused_backends: frozenset[str]


def get_setting(session: Session, key: str, default: Any = None) -> Any:
    row = session.get(Setting, key)
    return default if row is None else row.value


def set_setting(session: Session, key: str, value: Any, *, now: datetime, by: str | None) -> bool:
    """Set a switch; returns True when the value changed."""
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value, updated_at=now, updated_by=by))
        return True
    if row.value == value:
        return False
    row.value, row.updated_at, row.updated_by = value, now, by
    session.add(row)
    return True


def backend_state(session: Session, backend: str, now: datetime) -> BackendState:
    """The state row of one backend, created on first use."""
    row = session.get(BackendState, backend)
    if row is None:
        row = BackendState(backend=backend, updated_at=now)
        session.add(row)
        session.flush()
    return row


def read_switches(session: Session, config: Config) -> Switches:
    paused = bool(get_setting(session, DISPATCH_PAUSED, False))
    fallback = get_setting(session, FALLBACK_ENABLED, None)
    paused_backends = frozenset(
        session.exec(select(BackendState.backend).where(BackendState.paused == True)).all()  # noqa: E712
    )
    return Switches(
        paused=paused,
        fallback_enabled=config.routing.fallback_enabled if fallback is None else bool(fallback),
        paused_backends=paused_backends,
    )
