"""Outages and the circuit breaker, per backend, shared by every process through the store.

A backend's circuit opens in two ways:
- **transient outage**: `dispatch.outage_threshold` consecutive batches failed wholesale with a
  backend-level error (HTTP 5xx, a 429 for the whole batch, timeout, connection or TLS failure, an
  exception in the backend). The outage starts at the first of those failures, with its error;
- **account error** (bad token, sender not confirmed, suspended, quota, or a backend that cannot
  even be built): at once, because every further message would fail the same way.

While the circuit is open the backend gets only probes (one message every
`probe_interval_seconds`, or `account_probe_interval_seconds` after an account error) and its
traffic goes to the fallback when that is enabled. Any accepted message closes the circuit and the
open outage. There is at most one open outage per backend: an account error during a transient
outage turns it into an account outage rather than opening a second one.

Every function here takes a session inside the caller's write transaction, so a batch's results,
its attempts and the circuit change commit together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from mailconsole.config import DispatchConfig
from mailconsole.store.models import BackendState, Outage

TRANSIENT = "transient"
ACCOUNT = "account"
OPEN = "open"
CLOSED = "closed"

BACKEND_LEVEL_CODES = frozenset(
    {"timeout", "connect_error", "tls_error", "backend_error", "http_429"}
)
_HTTP_5XX = re.compile(r"^http_5\d\d$")
MAX_REASON = 500


def is_backend_level(error_code: str | None) -> bool:
    """An error that says the provider as a whole failed, not one message."""
    if not error_code:
        return False
    return error_code in BACKEND_LEVEL_CODES or bool(_HTTP_5XX.match(error_code))


def probe_interval(cfg: DispatchConfig, kind: str | None) -> float:
    return cfg.account_probe_interval_seconds if kind == ACCOUNT else cfg.probe_interval_seconds


def open_outage(session: Session, backend: str) -> Outage | None:
    return session.exec(
        select(Outage)
        .where(Outage.backend == backend, Outage.ended_at == None)  # noqa: E711
        .order_by(Outage.started_at.desc())  # type: ignore[union-attr]
    ).first()


def ensure_states(session: Session, backends: Iterable[str], now: datetime) -> None:
    """Create missing state rows up front, so concurrent batches never race to insert one."""
    names = sorted(set(backends))
    if not names:
        return
    table = BackendState.__table__  # type: ignore[attr-defined]
    existing = set(
        session.exec(select(BackendState.backend).where(BackendState.backend.in_(names))).all()
    )  # type: ignore[attr-defined]
    missing = [n for n in names if n not in existing]
    if not missing:
        return
    dialect = session.get_bind().dialect.name
    ins_mod: Any = postgresql if dialect == "postgresql" else sqlite
    session.execute(
        ins_mod.insert(table)
        .values(
            [
                {
                    "backend": n,
                    "paused": False,
                    "circuit": CLOSED,
                    "consecutive_failures": 0,
                    "updated_at": now,
                }
                for n in missing
            ]
        )
        .on_conflict_do_nothing(index_elements=["backend"])
    )


def locked_state(session: Session, backend: str, now: datetime) -> BackendState:
    """The backend's state row, locked for this transaction (PostgreSQL) so updates never race."""
    ensure_states(session, [backend], now)
    state = session.get(BackendState, backend, with_for_update=True, populate_existing=True)
    assert state is not None
    return state


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    line = " ".join(text.split())
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


def note_success(session: Session, backend: str, now: datetime) -> bool:
    """A message was accepted: reset the failure run, close the circuit and the outage.

    Returns True when this closed an open circuit or outage.
    """
    state = locked_state(session, backend, now)
    closed = _close(session, state, now)
    state.consecutive_failures = 0
    state.first_failure_at = state.first_failure_code = state.first_failure_error = None
    state.last_success_at = now
    state.updated_at = now
    session.add(state)
    return closed


def _close(session: Session, state: BackendState, now: datetime) -> bool:
    changed = state.circuit != CLOSED
    state.circuit = CLOSED
    state.circuit_kind = None
    state.circuit_reason = state.circuit_error_code = None
    state.circuit_opened_at = state.next_probe_at = None
    outage = open_outage(session, state.backend)
    if outage is not None:
        outage.ended_at = now
        session.add(outage)
        changed = True
    return changed


def close_circuit(session: Session, backend: str, now: datetime) -> bool:
    """The operator's reset (after fixing a token): close the circuit and end the open outage.

    Returns True when something was open. The next dispatch routes to the backend again; if the
    cause is not fixed, its first batch opens a new outage.
    """
    state = locked_state(session, backend, now)
    changed = _close(session, state, now)
    state.consecutive_failures = 0
    state.first_failure_at = state.first_failure_code = state.first_failure_error = None
    state.updated_at = now
    session.add(state)
    return changed


def note_wholesale_failure(
    session: Session,
    backend: str,
    error_code: str,
    error: str | None,
    now: datetime,
    cfg: DispatchConfig,
    *,
    started_at: datetime | None = None,
) -> bool:
    """A whole batch failed with a backend-level error; returns True when this opened the circuit.

    `started_at` is when the failed request began (the outage starts at the first failure).
    """
    at = started_at or now
    state = locked_state(session, backend, now)
    if state.consecutive_failures == 0 or state.first_failure_at is None:
        state.first_failure_at = at
        state.first_failure_code = error_code
        state.first_failure_error = _clip(error)
    state.consecutive_failures += 1
    state.last_failure_at = now
    state.updated_at = now
    opened = False
    outage = open_outage(session, backend)
    if outage is not None:
        outage.failure_count += 1
        outage.last_error_code = error_code
        outage.last_error_at = now
        session.add(outage)
        if state.circuit == OPEN:
            state.next_probe_at = now + timedelta(seconds=probe_interval(cfg, state.circuit_kind))
    elif state.consecutive_failures >= cfg.outage_threshold:
        session.add(
            Outage(
                backend=backend,
                kind=TRANSIENT,
                started_at=state.first_failure_at,
                first_error_code=state.first_failure_code,
                first_error=state.first_failure_error,
                last_error_code=error_code,
                last_error_at=now,
                failure_count=state.consecutive_failures,
            )
        )
        _open(state, TRANSIENT, error_code, error, now, cfg)
        opened = True
    session.add(state)
    return opened


def note_account_error(
    session: Session,
    backend: str,
    error_code: str,
    error: str | None,
    now: datetime,
    cfg: DispatchConfig,
) -> bool:
    """The account is unusable: open the circuit and an account outage at once.

    Returns True when the circuit was closed before (a new incident, worth a log line).
    """
    state = locked_state(session, backend, now)
    was_open = state.circuit == OPEN
    state.last_failure_at = now
    state.updated_at = now
    outage = open_outage(session, backend)
    if outage is None:
        session.add(
            Outage(
                backend=backend,
                kind=ACCOUNT,
                started_at=now,
                first_error_code=error_code,
                first_error=_clip(error),
                last_error_code=error_code,
                last_error_at=now,
                failure_count=1,
            )
        )
    else:
        outage.kind = ACCOUNT
        outage.failure_count += 1
        outage.last_error_code = error_code
        outage.last_error_at = now
        session.add(outage)
    _open(state, ACCOUNT, error_code, error, now, cfg, keep_opened_at=was_open)
    session.add(state)
    return not was_open


def _open(
    state: BackendState,
    kind: str,
    error_code: str,
    error: str | None,
    now: datetime,
    cfg: DispatchConfig,
    *,
    keep_opened_at: bool = False,
) -> None:
    state.circuit = OPEN
    state.circuit_kind = kind
    state.circuit_error_code = error_code
    state.circuit_reason = _clip(error)
    if not (keep_opened_at and state.circuit_opened_at):
        state.circuit_opened_at = now
    state.next_probe_at = now + timedelta(seconds=probe_interval(cfg, kind))
