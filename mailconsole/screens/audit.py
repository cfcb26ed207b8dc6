"""Audit log: who did what, when, to what, how many, why, and how it ended — newest first,
filterable by actor, action (a prefix), outcome and time."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from mailconsole.context import AppContext
from mailconsole.errors import ValidationError
from mailconsole.sanitize import safe_text
from mailconsole.screens.base import MailconsoleScreen, notify_error
from mailconsole.services import audit
from mailconsole.services.filters import parse_time
from mailconsole.widgets.timefmt import ago, stamp

AUDIT_LIMIT = 500
FILTER_KEYS = ("actor", "action", "outcome", "since", "until")


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def parse_audit_filter(text: str, now: datetime) -> AuditFilter:
    """`actor:alice action:pause outcome:refused since:2h`; a bare word is an action prefix."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise ValidationError(f"bad filter: {exc}") from None
    values: dict[str, Any] = {}
    for token in tokens:
        key, sep, value = token.partition(":")
        if not sep:
            key, value = "action", token
        key = key.lower()
        if key not in FILTER_KEYS:
            raise ValidationError(f"unknown filter key {key!r}: use {', '.join(FILTER_KEYS)}")
        if not value:
            raise ValidationError(f"filter term {token!r} has no value")
        values[key] = parse_time(value, now) if key in ("since", "until") else value
    return AuditFilter(**values)


def load_audit(ctx: AppContext, flt: AuditFilter) -> list[audit.AuditView]:
    return audit.audit_log(
        ctx,
        since=flt.since,
        actor=flt.actor,
        action=flt.action,
        limit=AUDIT_LIMIT,
        until=flt.until,
        outcome=flt.outcome,
    )


def target_text(target: dict[str, Any] | None) -> str:
    if not target:
        return "—"
    return json.dumps(target, ensure_ascii=False, separators=(",", ":"), default=str)


def audit_row(row: audit.AuditView, now: datetime) -> tuple[Text, ...]:
    outcome_style = "" if row.outcome == "ok" else "bold"
    return (
        Text(stamp(row.at)),
        safe_text(row.actor, max_len=16),
        safe_text(row.action, max_len=20),
        safe_text(row.outcome, style=outcome_style),
        Text("—" if row.count is None else f"{row.count:,}", justify="right"),
        safe_text(target_text(row.target), max_len=36),
        safe_text(row.reason or "", max_len=40),
    )


def detail_text(row: audit.AuditView, now: datetime) -> Text:
    out = Text()
    out.append(f"#{row.id} {stamp(row.at)} ({ago(row.at, now)}) by ", style="dim")
    out.append(safe_text(row.actor, style="bold"))
    out.append(
        safe_text(f" via {row.interface}" + (f" from {row.ssh_client}" if row.ssh_client else ""))
    )
    out.append("\n")
    out.append(safe_text(row.action, style="bold"))
    out.append(" → ")
    out.append(safe_text(row.outcome))
    if row.count is not None:
        out.append(f", count {row.count:,}")
    out.append("\ntarget: ")
    out.append(safe_text(target_text(row.target), one_line=False))
    if row.reason:
        out.append("\nreason: ")
        out.append(safe_text(row.reason, one_line=False))
    if row.detail:
        out.append("\ndetail: ")
        out.append(safe_text(row.detail, one_line=False))
    return out


class AuditScreen(MailconsoleScreen):
    """The audit trail, newest first, with a filter bar."""

    SCREEN_TITLE = "Audit log"
    AUTO_FOCUS = "#audit-table"
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", id="audit.filter"),
        Binding("escape", "clear_filter", "Clear filter", id="audit.clear_filter"),
        Binding("r", "reload", "Refresh", id="screen.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = AuditFilter()
        self.rows: list[audit.AuditView] = []

    def compose_body(self) -> Iterable[Widget]:
        yield Input(
            placeholder="/ filter: actor:alice action:pause outcome:refused since:24h",
            id="audit-filter",
        )
        with Vertical(id="audit-body"):
            table: DataTable[Text] = DataTable(id="audit-table", cursor_type="row")
            yield table
            yield Static("", id="audit-detail")

    def on_mount(self) -> None:
        self.query_one("#audit-table", DataTable).add_columns(
            "When (UTC)", "Actor", "Action", "Outcome", "Count", "Target", "Reason"
        )

    def reload(self) -> None:
        self.load(load_audit, self.filter, done=self.show_rows)

    def show_rows(self, rows: list[audit.AuditView]) -> None:
        self.rows = rows
        now = self.ctx.clock.now()
        table = self.query_one("#audit-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*audit_row(row, now), key=str(row.id))
        table.border_title = f"{len(rows):,} row(s)" + (
            f" (newest {AUDIT_LIMIT})" if len(rows) >= AUDIT_LIMIT else ""
        )
        if rows:
            table.move_cursor(row=min(max(cursor, 0), len(rows) - 1))
        self._show_detail()

    @on(DataTable.RowHighlighted, "#audit-table")
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#audit-detail", Static)
        row = self.query_one("#audit-table", DataTable).cursor_row
        if not self.rows:
            detail.update(Text("no audit rows match", style="dim"))
        elif 0 <= row < len(self.rows):
            detail.update(detail_text(self.rows[row], self.ctx.clock.now()))

    def action_focus_filter(self) -> None:
        self.query_one("#audit-filter", Input).focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#audit-filter", Input)
        if field.value or self.filter != AuditFilter():
            field.value = ""
            self.filter = AuditFilter()
            self.reload()
        self.query_one("#audit-table", DataTable).focus()

    @on(Input.Submitted, "#audit-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        try:
            self.filter = parse_audit_filter(event.value, self.ctx.clock.now())
        except ValidationError as exc:
            notify_error(self, exc, "Filter")
            return
        self.reload()
        self.query_one("#audit-table", DataTable).focus()
