"""Queue: the backlog by recipient domain × age (like Postfix `qshape`), the oldest queued
messages with their next attempt, and the queue's two levers: Process now and Pause/Resume.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Static

from mailconsole.clock import format_duration
from mailconsole.context import AppContext
from mailconsole.sanitize import safe_text
from mailconsole.screens.base import MailconsoleScreen
from mailconsole.services import logs, metrics, operations
from mailconsole.services.filters import MessageFilter
from mailconsole.services.metrics import QShape, QueueStatus
from mailconsole.widgets.timefmt import ago, next_attempt_text

OLDEST_LIMIT = 20


@dataclass(frozen=True)
class QueueView:
    """Everything the Queue screen shows, collected in one worker."""

    status: QueueStatus
    shape: QShape
    oldest: list[logs.MessageRow]


def load_queue(ctx: AppContext) -> QueueView:
    return QueueView(
        status=metrics.queue_status(ctx),
        shape=metrics.qshape(ctx),
        oldest=logs.oldest_page(ctx, MessageFilter(statuses=("queued",)), limit=OLDEST_LIMIT).rows,
    )


def summary_text(status: QueueStatus, now: datetime) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"Backlog {status.queue_backlog:,}", style="bold")
    out.append(f" · oldest {format_duration(status.oldest_queue_age_s)}")
    out.append(f" · {next_attempt_text(status.next_attempt_at, now)}")
    if status.paused:
        out.append("  DISPATCH PAUSED", style="bold reverse")
    else:
        out.append("  dispatch running")
    return out


def _count(n: int) -> Text:
    return Text(f"{n:,}", style="dim" if n == 0 else "", justify="right")


def dispatch_report_text(report: Any) -> str:
    """One line from the engine's DispatchReport (fields read defensively)."""
    summary = getattr(report, "summary", None)
    if callable(summary):
        return str(summary())
    parts = []
    for name in ("sent", "retried", "dead", "deferred", "suppressed"):
        value = getattr(report, name, None)
        if value is not None:
            parts.append(f"{value} {name}")
    duration = getattr(report, "duration_s", None)
    text = ", ".join(parts) or "nothing to send"
    if duration is not None:
        text += f" in {duration:.1f}s"
    codes = getattr(report, "by_error_code", None) or {}
    if codes:
        top = sorted(codes.items(), key=lambda kv: -kv[1])[:3]
        text += " (" + ", ".join(f"{c} {n}" for c, n in top) + ")"
    return text


class QueueScreen(MailconsoleScreen):
    """The backlog by domain and age; process the queue now; pause or resume dispatch."""

    SCREEN_TITLE = "Queue"
    AUTO_REFRESH = True
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "process_now", "Process now", id="queue.process_now"),
        Binding("s", "toggle_pause", "Pause/Resume", id="queue.pause_toggle"),
        Binding("r", "reload", "Refresh", id="screen.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: QueueView | None = None

    def compose_body(self) -> Iterable[Widget]:
        yield Static(Text("loading…", style="dim"), id="queue-summary")
        with Vertical(id="queue-body"):
            shape: DataTable[Text] = DataTable(id="qshape", cursor_type="row")
            shape.border_title = "Backlog by domain × age (minutes)"
            yield shape
            oldest: DataTable[Text] = DataTable(id="oldest", cursor_type="row")
            oldest.border_title = "Oldest queued: next attempts"
            yield oldest

    def on_mount(self) -> None:
        self.query_one("#oldest", DataTable).add_columns(
            "Id", "Age", "Tries", "Next", "Domain", "Last error"
        )

    def reload(self) -> None:
        self.load(load_queue, done=self.show_view)

    def show_view(self, view: QueueView) -> None:
        self.view = view
        now = self.ctx.clock.now()
        self.query_one("#queue-summary", Static).update(summary_text(view.status, now))
        table = self.query_one("#qshape", DataTable)
        shape_cursor = table.cursor_row
        table.clear(columns=True)
        table.add_column("Domain", key="domain")
        table.add_column(Text("Total", justify="right"), key="total")
        for label in view.shape.labels:
            table.add_column(Text(label.removesuffix("m"), justify="right"), key=label)
        for row in [*view.shape.rows, view.shape.totals]:
            is_total = row is view.shape.totals
            name = Text("TOTAL", style="bold") if is_total else safe_text(row.domain, max_len=24)
            total = _count(row.total)
            if is_total:
                total.stylize("bold")
            table.add_row(name, total, *(_count(c) for c in row.counts))
        if view.shape.other_domains:
            table.add_row(
                Text(f"+{view.shape.other_domains} more domains", style="dim"),
                *([Text("")] * (len(view.shape.labels) + 1)),
            )
        oldest = self.query_one("#oldest", DataTable)
        oldest_cursor = oldest.cursor_row
        oldest.clear()
        for msg in reversed(view.oldest):  # the page lists newest first: oldest on top
            oldest.add_row(
                Text(str(msg.id)),
                Text(format_duration((now - msg.created_at).total_seconds())),
                Text(str(msg.attempts), justify="right"),
                Text(
                    ago(msg.next_attempt_at, now)
                    if msg.next_attempt_at and msg.next_attempt_at > now
                    else "due"
                ),
                safe_text(msg.recipient_domain, max_len=24),
                safe_text(msg.last_error_code or "—"),
            )
        # An auto-refresh keeps the user's place in both tables.
        for widget, row in ((table, shape_cursor), (oldest, oldest_cursor)):
            if widget.row_count:
                widget.move_cursor(row=min(max(row, 0), widget.row_count - 1), animate=False)

    # --- actions ------------------------------------------------------------------------------

    def action_process_now(self) -> None:
        backlog = self.view.status.queue_backlog if self.view else None
        body = "Run one dispatch now, through the same path as the scheduler"
        body += f": up to {backlog:,} queued message(s) that are due." if backlog else "."
        self.confirm_then(
            "Process the queue now?", body, self._process_now, confirm_label="Process"
        )

    def _process_now(self) -> None:
        self.notify("Dispatching…", timeout=2)
        self.call_service(
            operations.process_now,
            done=self._processed,
            group="queue-action",
            description="Process now",
        )

    def _processed(self, report: Any) -> None:
        self.notify(dispatch_report_text(report), title="Processed", markup=False)
        self.reload()

    def action_toggle_pause(self) -> None:
        paused = bool(self.view and self.view.status.paused)
        if paused:
            self.confirm_then(
                "Resume dispatch?",
                "Every worker on this database starts sending again at its next run.",
                lambda: self._set_paused(False),
                confirm_label="Resume",
            )
        else:
            backlog = self.view.status.queue_backlog if self.view else 0
            self.confirm_then(
                "Pause all dispatch?",
                f"No message is sent by any process on this database until resumed; "
                f"{backlog:,} queued message(s) wait. The pause is audited.",
                lambda: self._set_paused(True),
                danger=True,
                confirm_label="Pause",
            )

    def _set_paused(self, paused: bool) -> None:
        func = operations.pause if paused else operations.resume
        self.call_service(
            func,
            done=lambda changed: self._switched(paused, changed),
            group="queue-action",
            description="Pause" if paused else "Resume",
        )

    def _switched(self, paused: bool, changed: bool) -> None:
        word = "paused" if paused else "resumed"
        self.notify(f"Dispatch {word}" if changed else f"Dispatch was already {word}")
        self.reload()
