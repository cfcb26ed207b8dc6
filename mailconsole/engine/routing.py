"""Which backend carries which messages in this dispatch run.

A message's route is its requested `account`, or the primary (`routing.primary`) when it names
none. Per source account:
- global pause → nothing is claimed at all; a paused or disabled account → its messages wait;
- circuit closed → the account sends its own messages;
- circuit open → when fallback is switched on and the account's fallback is usable (enabled, not
  paused, its own circuit closed) its messages go to the fallback; otherwise they wait. Either
  way the account itself gets a probe (one message) when its `next_probe_at` has come, so it can
  prove it has recovered.

The plan is read in one short read transaction; the probe slot itself is taken atomically in the
claim transaction (`take_probe_slot`), so two dispatchers never both probe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, or_, update
from sqlmodel import Session, select

from mailconsole.config import Config
from mailconsole.engine.circuit import ACCOUNT, OPEN
from mailconsole.engine.switches import read_switches
from mailconsole.store.models import BackendState


@dataclass(frozen=True)
class Route:
    """One backend and the source accounts whose due messages it sends in this run."""

    backend: str
    sources: tuple[str, ...]
    include_unrouted: bool  # messages with no account: the primary's
    probe: bool = False  # at most one message, only if the probe slot is ours
    as_fallback_for: tuple[str, ...] = ()

    def describe(self) -> str:
        kind = "probe" if self.probe else "route"
        extra = f" (fallback for {', '.join(self.as_fallback_for)})" if self.as_fallback_for else ""
        return f"{kind} {'+'.join(self.sources)} → {self.backend}{extra}"


@dataclass(frozen=True)
class RoutingPlan:
    paused: bool
    fallback_enabled: bool
    primary: str | None
    routes: tuple[Route, ...]
    held: dict[str, str] = field(default_factory=dict)  # source → why its messages wait

    @property
    def probes(self) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.probe)

    @property
    def normal(self) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if not r.probe)


def plan_routes(session: Session, config: Config, now: datetime) -> RoutingPlan:
    switches = read_switches(session, config)
    primary = config.primary_account
    if switches.paused:
        return RoutingPlan(
            paused=True,
            fallback_enabled=switches.fallback_enabled,
            primary=primary,
            routes=(),
            held={name: "dispatch paused" for name in config.accounts},
        )
    states = {s.backend: s for s in session.exec(select(BackendState)).all()}

    def circuit_open(name: str) -> bool:
        st = states.get(name)
        return st is not None and st.circuit == OPEN

    def usable(name: str | None) -> bool:
        if not name or name not in config.accounts:
            return False
        acc = config.accounts[name]
        return acc.enabled and name not in switches.paused_backends and not circuit_open(name)

    targets: dict[str, list[str]] = {}
    fallback_of: dict[str, list[str]] = {}
    probes: list[Route] = []
    held: dict[str, str] = {}
    for name, account in config.accounts.items():
        if not account.enabled:
            held[name] = "account disabled in the config"
            continue
        if name in switches.paused_backends:
            held[name] = "account paused"
            continue
        if not circuit_open(name):
            targets.setdefault(name, []).append(name)
            continue
        st = states[name]
        reason = f"circuit open ({st.circuit_error_code or st.circuit_kind or 'error'})"
        if st.next_probe_at is None or st.next_probe_at <= now:
            probes.append(
                Route(backend=name, sources=(name,), include_unrouted=name == primary, probe=True)
            )
        fallback = config.fallback_for(name)
        if switches.fallback_enabled and usable(fallback):
            assert fallback is not None
            targets.setdefault(fallback, []).append(name)
            fallback_of.setdefault(fallback, []).append(name)
            held[name] = f"{reason}: traffic goes to fallback {fallback}"
        else:
            why = (
                "fallback disabled"
                if fallback and not switches.fallback_enabled
                else f"fallback {fallback} not usable"
                if fallback
                else "no fallback configured"
            )
            held[name] = f"{reason}, {why}: only probes"
    routes = [
        Route(
            backend=target,
            sources=tuple(sources),
            include_unrouted=primary in sources,
            as_fallback_for=tuple(fallback_of.get(target, ())),
        )
        for target, sources in targets.items()
    ]
    return RoutingPlan(
        paused=False,
        fallback_enabled=switches.fallback_enabled,
        primary=primary,
        routes=tuple(probes + routes),
        held=held,
    )


def take_probe_slot(
    session: Session,
    backend: str,
    now: datetime,
    probe_interval_s: float,
    account_probe_interval_s: float,
) -> bool:
    """Claim the right to probe `backend` now: moves `next_probe_at` on, atomically.

    False when the circuit has closed meanwhile or another dispatcher took this slot.
    """
    table = BackendState.__table__  # type: ignore[attr-defined]
    result = session.execute(
        update(table)
        .where(
            and_(
                table.c.backend == backend,
                table.c.circuit == OPEN,
                or_(table.c.next_probe_at == None, table.c.next_probe_at <= now),  # noqa: E711
            )
        )
        .values(
            next_probe_at=case(
                (
                    table.c.circuit_kind == ACCOUNT,
                    now + timedelta(seconds=account_probe_interval_s),
                ),
                else_=now + timedelta(seconds=probe_interval_s),
            ),
            updated_at=now,
        )
    )
    return result.rowcount == 1
