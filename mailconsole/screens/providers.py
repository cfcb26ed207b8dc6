"""Providers: the configured accounts (role, circuit, pause, credential source — never the
secret — health, quota), the outage history, and the per-account levers: pause/resume, reset the
circuit, and the global fallback switch. Every lever asks first and is audited by its service.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Static

from mailconsole.clock import format_duration
from mailconsole.context import AppContext
from mailconsole.sanitize import safe_text
from mailconsole.screens.base import MailconsoleScreen
from mailconsole.services import metrics, operations
from mailconsole.services import providers as provider_service
from mailconsole.services.metrics import OutageView, QueueStatus
from mailconsole.services.providers import ProviderView
from mailconsole.widgets.timefmt import ago, percent, stamp

OUTAGE_LIMIT = 50


@dataclass(frozen=True)
class ProvidersData:
    status: QueueStatus
    providers: list[ProviderView]
    outages: list[OutageView]


def load_providers(ctx: AppContext) -> ProvidersData:
    status = metrics.queue_status(ctx)
    return ProvidersData(
        status=status,
        providers=provider_service.providers(ctx, status=status),
        outages=provider_service.outage_history(ctx, limit=OUTAGE_LIMIT),
    )


def health_text(p: ProviderView, now: datetime) -> Text:
    if p.health_ok is None:
        return Text("unchecked", style="dim")
    if p.health_ok:
        return Text(f"ok {ago(p.health_checked_at, now)}")
    return Text("DOWN", style="bold")


def quota_text(p: ProviderView) -> Text:
    if p.quota_used is None or not p.quota_max:
        return Text("—", style="dim")
    return Text(f"{p.quota_used:,.0f}/{p.quota_max:,.0f} ({percent(p.quota_fraction, 0)})")


def circuit_text(p: ProviderView) -> Text:
    if p.circuit == "open":
        return Text(f"OPEN ({p.circuit_kind or '?'})", style="bold")
    return Text("closed")


def account_row(p: ProviderView, now: datetime) -> tuple[Text, ...]:
    return (
        safe_text(p.name),
        Text(p.role or "—"),
        circuit_text(p),
        Text("PAUSED", style="bold") if p.paused else Text("no"),
        health_text(p, now),
        Text(percent(p.failure_rate_24h)),
        Text(f"{p.backlog:,}", justify="right"),
        Text(p.credential.source, style="bold" if p.credential.source == "missing" else ""),
        safe_text(p.type),
        quota_text(p),
    )


def detail_text(p: ProviderView, now: datetime) -> Text:
    out = Text()
    out.append(safe_text(p.name, style="bold"))
    out.append(
        f"  {p.type}" + (f", {p.role}" if p.role else "") + ("" if p.enabled else ", DISABLED")
    )
    if p.from_addr:
        out.append("  from ")
        out.append(safe_text(p.from_addr))
    out.append("\ncredential: ")
    cred = p.credential
    if not cred.needed:
        out.append("not needed")
    else:
        out.append(f"{cred.source} (env {cred.env_var})")
    if p.circuit == "open":
        out.append(f"\ncircuit OPEN since {ago(p.circuit_opened_at, now)}: ", style="bold")
        out.append(safe_text(p.circuit_reason or "?"))
    if p.open_outage is not None:
        o = p.open_outage
        out.append(f"\noutage OPEN for {format_duration(o.duration_s)}: ", style="bold")
        out.append(safe_text(f"{o.first_error_code or '?'} {o.first_error or ''}".strip()))
    if p.health_ok is False and p.health_detail:
        out.append("\nhealth: ")
        out.append(safe_text(p.health_detail))
    return out


def outage_row(o: OutageView, now: datetime) -> tuple[Text, ...]:
    return (
        safe_text(o.backend),
        Text(stamp(o.started_at)),
        Text(ago(o.started_at, now)),
        Text(
            ("OPEN " if o.open else "") + format_duration(o.duration_s),
            style="bold" if o.open else "",
        ),
        safe_text(o.kind),
        safe_text(o.first_error_code or "—"),
        safe_text(o.first_error or "", max_len=60),
    )


class ProvidersScreen(MailconsoleScreen):
    """Accounts, circuits, credentials, outages; pause, reset circuit, fallback."""

    SCREEN_TITLE = "Providers"
    AUTO_REFRESH = True
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "toggle_pause", "Pause/Resume account", id="providers.pause_toggle"),
        Binding("o", "reset_circuit", "Reset circuit", id="providers.reset_circuit"),
        Binding("f", "toggle_fallback", "Fallback on/off", id="providers.fallback_toggle"),
        Binding("r", "reload", "Refresh", id="screen.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.data: ProvidersData | None = None

    def compose_body(self) -> Iterable[Widget]:
        yield Static(Text("loading…", style="dim"), id="providers-summary")
        with Vertical(id="providers-body"):
            accounts: DataTable[Text] = DataTable(id="accounts", cursor_type="row")
            accounts.border_title = "Accounts"
            yield accounts
            yield Static("", id="account-detail")
            outages: DataTable[Text] = DataTable(id="outages", cursor_type="row")
            outages.border_title = "Outage history"
            yield outages

    def on_mount(self) -> None:
        self.query_one("#accounts", DataTable).add_columns(
            "Account", "Role", "Circuit", "Paused", "Health", "Fail 24h", "Backlog", "Secret",
            "Type", "Quota",
        )  # fmt: skip
        self.query_one("#outages", DataTable).add_columns(
            "Account", "Started", "Ago", "Duration", "Kind", "First error", "Message"
        )

    def reload(self) -> None:
        self.load(load_providers, done=self.show_data)

    def show_data(self, data: ProvidersData) -> None:
        self.data = data
        now = self.ctx.clock.now()
        summary = Text(no_wrap=True, overflow="ellipsis")
        summary.append("Fallback ")
        summary.append("ON" if data.status.fallback_enabled else "off", style="bold")
        primary = self.ctx.config.primary_account
        fallback = self.ctx.config.fallback_for(primary) if primary else None
        summary.append(f" · primary {primary or '—'} · fallback account {fallback or 'none'}")
        if data.status.paused:
            summary.append("  DISPATCH PAUSED", style="bold reverse")
        self.query_one("#providers-summary", Static).update(summary)

        table = self.query_one("#accounts", DataTable)
        cursor = table.cursor_row
        table.clear()
        for p in data.providers:
            table.add_row(*account_row(p, now), key=p.name)
        if table.row_count:
            table.move_cursor(row=min(max(cursor, 0), table.row_count - 1))
        self._show_detail()

        outages = self.query_one("#outages", DataTable)
        outages.clear()
        for o in data.outages:
            outages.add_row(*outage_row(o, now))
        if not data.outages:
            outages.add_row(Text("no outages recorded", style="dim"), *([Text("")] * 6))

    @on(DataTable.RowHighlighted, "#accounts")
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        selected = self.selected()
        detail = self.query_one("#account-detail", Static)
        if selected is None:
            detail.update(Text("no account configured", style="dim"))
        else:
            detail.update(detail_text(selected, self.ctx.clock.now()))

    def selected(self) -> ProviderView | None:
        if self.data is None or not self.data.providers:
            return None
        row = self.query_one("#accounts", DataTable).cursor_row
        if 0 <= row < len(self.data.providers):
            return self.data.providers[row]
        return None

    # --- actions ------------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        p = self.selected()
        if p is None:
            return
        if p.paused:
            self.confirm_then(
                f"Resume {p.name}?",
                f"Messages routed to {p.name} are sent again at the next dispatch.",
                lambda: self._pause(p.name, False),
                confirm_label="Resume",
            )
        else:
            self.confirm_then(
                f"Pause {p.name}?",
                f"No message is sent through {p.name} until resumed; "
                f"{p.backlog:,} queued for it wait.",
                lambda: self._pause(p.name, True),
                danger=True,
                confirm_label="Pause",
            )

    def _pause(self, name: str, paused: bool) -> None:
        func = operations.pause if paused else operations.resume
        self.call_service(
            func,
            backend=name,
            done=lambda changed: self._done(f"{name} {'paused' if paused else 'resumed'}", changed),
            group="providers-action",
            description=f"{'Pause' if paused else 'Resume'} {name}",
        )

    def action_reset_circuit(self) -> None:
        p = self.selected()
        if p is None:
            return
        if p.circuit != "open":
            self.notify(f"The circuit of {p.name} is closed already", markup=False)
            return
        self.confirm_then(
            f"Reset the circuit of {p.name}?",
            "Do this after fixing the cause (a revoked token, a suspended account): dispatch "
            f"through {p.name} resumes at once. Reason on record: "
            f"{p.circuit_reason or 'unknown'}",
            self._reset_circuit,
            confirm_label="Reset",
        )

    def _reset_circuit(self) -> None:
        p = self.selected()
        if p is None:
            return
        self.call_service(
            operations.reset_circuit,
            p.name,
            done=lambda changed: self._done(f"{p.name} circuit reset", changed),
            group="providers-action",
            description=f"Reset circuit {p.name}",
        )

    def action_toggle_fallback(self) -> None:
        enabled = bool(self.data and self.data.status.fallback_enabled)
        primary = self.ctx.config.primary_account
        fallback = self.ctx.config.fallback_for(primary) if primary else None
        if enabled:
            self.confirm_then(
                "Disable fallback?",
                f"While {primary or 'the primary'} is in an outage, its messages wait in the "
                "queue instead of going through the fallback account.",
                lambda: self._fallback(False),
                danger=True,
                confirm_label="Disable",
            )
        else:
            self.confirm_then(
                "Enable fallback?",
                f"While {primary or 'the primary'} is in an outage, its messages are sent "
                f"through {fallback or '(no fallback configured)'}.",
                lambda: self._fallback(True),
                confirm_label="Enable",
            )

    def _fallback(self, enabled: bool) -> None:
        self.call_service(
            operations.set_fallback,
            enabled,
            done=lambda changed: self._done(
                f"Fallback {'enabled' if enabled else 'disabled'}", changed
            ),
            group="providers-action",
            description="Fallback",
        )

    def _done(self, what: str, changed: object) -> None:
        self.notify(what if changed else f"{what} (no change)", markup=False)
        self.reload()
