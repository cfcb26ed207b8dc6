"""The Dashboard: the daily health review at a glance, refreshed on its own.

Collect → frozen snapshot → render: `services.metrics.dashboard_snapshot` collects everything in
one worker; pure functions below turn it into card contents; the next refresh is scheduled only
after the current one ends (so refreshes never pile up) and only while the Dashboard is the
active screen with no dialog over it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Label, Static

from mailconsole.clock import format_duration
from mailconsole.sanitize import safe_text
from mailconsole.screens import has_mode
from mailconsole.screens.base import MailconsoleScreen, describe_error
from mailconsole.services import metrics
from mailconsole.services.metrics import DashboardSnapshot
from mailconsole.widgets.health_card import LEVEL_WORDS, CardData, HealthCard
from mailconsole.widgets.sparkline import sparkline
from mailconsole.widgets.timefmt import ago, next_attempt_text, percent

CARDS: tuple[tuple[str, str, str], ...] = (
    # id, title, tooltip
    ("backlog", "Queue backlog", "Queued and sending messages (Enter: Queue)"),
    ("oldest_age", "Oldest queued", "Age of the oldest queued message (Enter: Queue)"),
    ("failure_rate", "Failure rate 24h", "Failed attempts / attempts (Enter: Trend)"),
    ("dead_letters", "Dead letters", "Messages that gave up (Enter: dead letters)"),
    ("outage", "Last API outage", "Latest provider outage (Enter: Providers)"),
    ("scheduler", "Scheduler", "Who runs the jobs, last and next dispatch (Enter: Queue)"),
)

# Where Enter on a card leads: the first registered mode of each list.
CARD_TARGETS: dict[str, tuple[str, ...]] = {
    "backlog": ("queue",),
    "oldest_age": ("queue",),
    "failure_rate": ("trend",),
    "dead_letters": ("dead", "logs"),
    "outage": ("providers",),
    "scheduler": ("queue",),
    "alerts": ("alerts",),
}
DEAD_LETTER_FILTER = "status:dead"


# --- pure rendering: snapshot → card contents ------------------------------------------------


def _dim(text: str) -> Text:
    return Text(text, style="dim", no_wrap=True, overflow="ellipsis")


def _line(*parts: str | Text) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    for part in parts:
        out.append(part if isinstance(part, Text) else Text(part))
    return out


def change_text(now: float, before: float) -> str:
    """The change of a rate in percentage points, with an arrow readable without colour."""
    delta = (now - before) * 100
    if abs(delta) < 0.05:
        return "= same as prev 24h"
    arrow = "▲" if delta > 0 else "▼"
    return f"{arrow} {delta:+.1f} pt vs prev 24h"


def build_cards(
    snap: DashboardSnapshot, now: datetime, own_owner: str | None = None
) -> dict[str, CardData]:
    """Card contents; `own_owner` is this console's scheduler id (to say "this console")."""
    s = snap.status
    lv = snap.levels
    cards: dict[str, CardData] = {}

    busiest = sorted((b for b in s.by_backend.values() if b.backlog), key=lambda b: -b.backlog)[:2]
    cards["backlog"] = CardData(
        value=Text(f"{s.queue_backlog:,} messages"),
        lines=(
            _dim(next_attempt_text(s.next_attempt_at, now)),
            _line(
                *(
                    [safe_text(f"{b.name} {b.backlog:,}  ") for b in busiest]
                    or [_dim("no backlog per account")]
                )
            ),
        ),
        level=lv.get("backlog", "ok"),
    )
    cards["oldest_age"] = CardData(
        value=Text(format_duration(s.oldest_queue_age_s) if s.oldest_queue_age_s else "—"),
        lines=(
            _dim(f"queued {ago(s.oldest_queued_at, now)}")
            if s.oldest_queued_at
            else _dim("queue empty"),
            _dim("dispatch PAUSED") if s.paused else _dim("dispatch running"),
        ),
        level=lv.get("oldest_age", "ok"),
    )
    rates = list(snap.sparkline)
    cards["failure_rate"] = CardData(
        value=Text(f"{percent(s.failure_rate_24h, 2)}  ({s.failed_24h:,}/{s.attempts_24h:,})"),
        lines=(
            _dim(change_text(s.failure_rate_24h, s.failure_rate_prev_24h)),
            Text(sparkline(rates), no_wrap=True, overflow="crop"),
        ),
        level=lv.get("failure_rate", "ok"),
    )
    cards["dead_letters"] = CardData(
        value=Text(f"{s.dead_letter_count:,} total"),
        lines=(_dim(f"+{s.dead_letters_new_24h:,} new in 24h"),),
        level=lv.get("dead_letters", "ok"),
    )
    out = snap.last_outage
    if out is None:
        cards["outage"] = CardData(value=Text("none recorded"), level="ok")
    else:
        state = "OPEN" if out.open else "ended"
        cards["outage"] = CardData(
            value=_line(safe_text(out.backend), f"  {state}"),
            lines=(
                _dim(f"{ago(out.started_at, now)} for {format_duration(out.duration_s)}"),
                _line(
                    safe_text(out.first_error_code or "?", style="bold"),
                    " ",
                    safe_text(out.first_error or "", style="dim"),
                ),
            ),
            level=lv.get("outage", "ok") if out.open else "ok",
        )
    leader = snap.leader
    if leader is None:
        who = Text("no leader")
        beat = _dim("no process runs the jobs")
    else:
        mine = own_owner is not None and leader.owner == own_owner
        who = _line(
            safe_text(leader.owner),
            " (stale)" if leader.stale else "",
            Text(" this console", style="dim") if mine else "",
        )
        beat = _dim(f"heartbeat {ago(leader.heartbeat_at, now)}")
    sched_level = lv.get("leader", "ok")
    if s.paused and sched_level == "ok":
        sched_level = "warning"
    cards["scheduler"] = CardData(
        value=who,
        lines=(
            beat,
            _dim(
                ("PAUSED · " if s.paused else "")
                + f"ran {ago(snap.last_dispatch, now)} · next {ago(snap.next_dispatch, now).removeprefix('in ')}"
            ),
        ),
        level=sched_level,
    )
    return cards


def provider_rows(snap: DashboardSnapshot, now: datetime) -> list[tuple[Text, ...]]:
    rows = []
    for p in snap.providers:
        if p.health_ok is None:
            health = Text("unchecked", style="dim")
        elif p.health_ok:
            health = Text(f"ok {ago(p.health_checked_at, now)}")
        else:
            health = safe_text(f"DOWN {p.health_detail or ''}".strip(), style="bold")
        quota = (
            Text(f"{p.quota_used:,.0f}/{p.quota_max:,.0f}")
            if p.quota_used is not None and p.quota_max
            else Text("—", style="dim")
        )
        circuit = Text("OPEN", style="bold") if p.circuit == "open" else Text("closed")
        if p.open_outage is not None:
            circuit.append(" outage", style="bold")
        if p.paused:
            circuit.append(" PAUSED", style="bold")
        rows.append(
            (
                safe_text(p.name),
                Text(p.role or "—"),
                circuit,
                health,
                Text(percent(p.failure_rate_24h)),
                Text(f"{p.backlog:,}"),
                quota,
            )
        )
    return rows


ALERT_WORDS = {"critical": "CRIT", "warning": "WARN", "acknowledged": "ACK", "silenced": "SILENCED"}


def alert_lines(alerts: Iterable[Any], now: datetime) -> list[Text]:
    """Active alerts, worst first, as the alerts service orders them; fields are read
    defensively (the alerts layer is optional)."""
    lines = []
    for alert in alerts:
        status = str(getattr(alert, "status", None) or getattr(alert, "level", None) or "critical")
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{ALERT_WORDS.get(status, status.upper()):<4} ", style="bold")
        line.append(safe_text(getattr(alert, "rule", "?"), style="bold"))
        value = getattr(alert, "value_text", None) or getattr(alert, "value", None)
        threshold = getattr(alert, "threshold_text", None) or getattr(alert, "threshold", None)
        if value is not None:
            line.append("  ")
            line.append(safe_text(value))
            if threshold is not None:
                line.append(" ≥ ")
                line.append(safe_text(threshold))
        since = getattr(alert, "since", None)
        if isinstance(since, datetime):
            line.append(f"  since {ago(since, now)}", style="dim")
        acked = getattr(alert, "acked_by", None)
        if acked:
            line.append("  acked by ", style="dim")
            line.append(safe_text(acked, style="dim"))
        lines.append(line)
    return lines


# --- the screen -------------------------------------------------------------------------------


class DashboardScreen(MailconsoleScreen):
    """Health cards, providers, active alerts and the scheduler, refreshed on their own."""

    SCREEN_TITLE = "Dashboard"
    AUTO_REFRESH = True
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Refresh", id="screen.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: DashboardSnapshot | None = None
        self._loading = False
        self._last_error: str | None = None

    def compose_body(self) -> Iterable[Widget]:
        with Grid(id="cards"):
            for card_id, title, tooltip in CARDS:
                yield HealthCard(title, id=card_id, tooltip=tooltip)
        yield Static(Text("loading…", style="dim"), id="dash-status")
        with Vertical(id="dash-lower"):
            table: DataTable[Text] = DataTable(
                id="providers-table", cursor_type="row", zebra_stripes=False
            )
            table.border_title = "Providers"
            yield table
            yield Label(Text("Active alerts"), id="alerts-title")
            yield Static(Text("—", style="dim"), id="alerts")

    def on_mount(self) -> None:
        table = self.query_one("#providers-table", DataTable)
        table.add_columns("Account", "Role", "Circuit", "Health", "Fail 24h", "Backlog", "Quota")

    # --- refresh loop ---------------------------------------------------------------------

    def reload(self) -> None:
        self.cancel_refresh()
        if self._loading:
            return
        self._loading = True
        self.call_service(
            metrics.dashboard_snapshot,
            done=self._loaded,
            failed=self._load_failed,
            group="dashboard",
            description="Dashboard refresh",
            notify=False,
        )

    def _schedule_next(self) -> None:
        self._loading = False
        self.loaded()

    def _load_failed(self, exc: BaseException) -> None:
        title, message, _ = describe_error(exc)
        status = self.query_one("#dash-status", Static)
        status.update(safe_text(f"Refresh failed: {message}", style="bold"))
        if message != self._last_error:
            self._last_error = message
            self.notify(message, title=f"Dashboard: {title}", severity="error", markup=False)
        self._schedule_next()

    def _loaded(self, snap: DashboardSnapshot) -> None:
        try:
            self.show_snapshot(snap)
        finally:
            self._schedule_next()

    def show_snapshot(self, snap: DashboardSnapshot) -> None:
        self.snapshot = snap
        self._last_error = None
        now = self.ctx.clock.now()
        scheduler = getattr(self.app, "scheduler", None)
        own = getattr(scheduler, "owner", None) if scheduler is not None else None
        for card_id, data in build_cards(snap, now, own).items():
            self.query_one(f"#{card_id}", HealthCard).data = data
        status = Text(no_wrap=True, overflow="ellipsis")
        status.append(
            f"as of {snap.generated_at:%H:%M:%S}Z" if snap.generated_at else "as of —",
            style="dim",
        )
        s = snap.status
        status.append(
            f" · sent 24h {s.sent_24h:,} · fallback {'ON' if s.fallback_enabled else 'off'}",
            style="dim",
        )
        if s.paused:
            status.append("  DISPATCH PAUSED", style="bold reverse")
        worst = [k for k, v in snap.levels.items() if v == "critical"]
        if worst:
            status.append(f"  {LEVEL_WORDS['critical']}: {', '.join(worst)}", style="bold")
        self.query_one("#dash-status", Static).update(status)

        table = self.query_one("#providers-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for name, row in zip(
            (p.name for p in snap.providers), provider_rows(snap, now), strict=True
        ):
            table.add_row(*row, key=name)
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
        lines = alert_lines(snap.alerts, now)
        alerts = self.query_one("#alerts", Static)
        alerts.update(Text("\n").join(lines) if lines else Text("No active alerts", style="dim"))

    # --- opening details ----------------------------------------------------------------------

    @on(HealthCard.Opened)
    async def _open_card(self, event: HealthCard.Opened) -> None:
        await self.open_detail(event.card_id)

    @on(events.Click, "#alerts, #alerts-title")
    async def _open_alerts(self) -> None:
        await self.open_detail("alerts")

    @on(DataTable.RowSelected, "#providers-table")
    async def _open_provider(self) -> None:
        await self.open_detail("outage")

    async def open_detail(self, card_id: str) -> None:
        """Switch to the screen that explains a card (the first registered of its targets)."""
        for mode in CARD_TARGETS.get(card_id, ()):
            if not has_mode(mode):
                continue
            await self.app.switch_mode(mode)
            if card_id == "dead_letters" and mode == "logs":
                apply = getattr(self.app.screen, "apply_filter_text", None)
                if callable(apply):
                    apply(DEAD_LETTER_FILTER)
            return
        self.notify("no screen for this card yet", severity="warning")
