"""The state machine alone (no database): ack, silence, escalation, cooldown arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailconsole.alerts.rules import Measurement, Rule
from mailconsole.alerts.state import transition
from mailconsole.store.models import AlertState

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RULE = Rule("backlog", "queue_backlog", threshold=100, warning=50, cooldown_seconds=600)


def run(row: AlertState, values: list[float | None], *, step: float = 60) -> list[str | None]:
    """Evaluate once per value, `step` seconds apart from T0; the notices decided."""
    out = []
    for i, value in enumerate(values):
        kind, _ = transition(row, RULE, Measurement(value), T0 + timedelta(seconds=i * step))
        out.append(kind)
    return out


def test_below_the_warning_nothing_happens() -> None:
    row = AlertState(rule="backlog")
    assert run(row, [0, 10, 49]) == [None, None, None]
    assert row.state == "ok" and row.level is None


def test_an_acknowledged_rule_stays_quiet_until_it_resolves_then_fires_anew() -> None:
    row = AlertState(rule="backlog")
    assert run(row, [150]) == ["firing"]
    row.acked_by, row.acked_at = "ana", T0
    kinds = [
        transition(row, RULE, Measurement(150), T0 + timedelta(minutes=m))[0] for m in range(1, 40)
    ]
    assert kinds == [None] * 39  # past two cooldowns, no repeat
    assert row.suppressed_repeats == 39
    assert transition(row, RULE, Measurement(0), T0 + timedelta(minutes=41)) == ("resolved", 39)
    assert row.acked_by is None
    assert transition(row, RULE, Measurement(150), T0 + timedelta(minutes=42)) == ("firing", 0)


def test_a_silenced_rule_tracks_state_but_sends_nothing() -> None:
    row = AlertState(rule="backlog", silenced_until=T0 + timedelta(minutes=30))
    assert run(row, [150, 150, 0, 150]) == [None, None, None, None]
    assert row.state == "firing"  # still tracked
    assert row.last_fired_at == T0 + timedelta(minutes=3)


def test_a_rule_that_began_firing_in_a_silence_announces_itself_when_the_silence_ends() -> None:
    row = AlertState(rule="backlog", silenced_until=T0 + timedelta(minutes=5))
    assert run(row, [150] * 5) == [None] * 5
    kind, carried = transition(row, RULE, Measurement(150), T0 + timedelta(minutes=5))
    assert (kind, carried) == ("firing", 5)


def test_a_rule_that_fired_and_resolved_inside_a_silence_never_speaks() -> None:
    row = AlertState(rule="backlog", silenced_until=T0 + timedelta(minutes=5))
    assert run(row, [150, 150, 0]) == [None, None, None]
    assert transition(row, RULE, Measurement(0), T0 + timedelta(minutes=10)) == (None, 0)
    assert row.state == "ok"


def test_escalation_to_critical_notifies_at_once_and_voids_an_ack() -> None:
    row = AlertState(rule="backlog")
    assert run(row, [60]) == ["firing"]
    assert row.level == "warning"
    row.acked_by = "ana"
    assert transition(row, RULE, Measurement(120), T0 + timedelta(seconds=30)) == ("escalated", 0)
    assert row.acked_by is None and row.level == "critical"
    # Back down to warning: still firing, no notice (the cooldown still runs).
    assert transition(row, RULE, Measurement(60), T0 + timedelta(seconds=60)) == (None, 0)
    assert row.level == "warning"


def test_no_data_changes_nothing() -> None:
    row = AlertState(rule="backlog")
    run(row, [150])
    assert transition(row, RULE, Measurement(None, "db down"), T0 + timedelta(hours=2)) == (None, 0)
    assert row.state == "firing" and row.last_value == 150 and row.detail == "db down"


def test_repeat_is_due_exactly_at_the_cooldown() -> None:
    row = AlertState(rule="backlog")
    kinds = run(row, [150] * 12, step=60)  # cooldown 600 s
    assert kinds == ["firing"] + [None] * 9 + ["repeat", None]
