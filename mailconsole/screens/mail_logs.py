"""Mail logs: every message, newest first, over any number of rows.

The table is a line-API widget over a sliding window of keyset pages (see
`widgets/message_table.py` for why not a DataTable): the screen fetches pages of `ui.page_size`
rows through `services.logs.page_messages` in workers when the table asks (`NeedPage`), and the
total count in another worker, so nothing blocks the UI at a million rows.

Selections are of two kinds that never mix: marked rows (ids), or "all matching", which is
stored as the filter itself, so a bulk retry acts on the database filter, never on rows on
screen. Every action calls a service; mutating ones go plan → confirm → apply (the services
refuse them in read-only mode and audit them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Static

from mailconsole.context import AppContext
from mailconsole.errors import ValidationError
from mailconsole.screens.base import MailconsoleScreen
from mailconsole.services import logs
from mailconsole.services.filters import MessageFilter, parse_filter
from mailconsole.widgets.export_dialog import ExportDialog, ExportRequest
from mailconsole.widgets.filter_bar import FilterBar
from mailconsole.widgets.message_detail import MessageDetailPane
from mailconsole.widgets.message_table import MessageTable
from mailconsole.widgets.resend_form import ResendForm, ResendRequest
from mailconsole.widgets.retry_dialogs import ProgressDialog, RetryPlanDialog

NARROW = 160  # below this width the detail pane goes under the table (the table keeps its width)
WINDOW_PAGES = 5  # pages kept in the table's window


class MailLogsScreen(MailconsoleScreen):
    """Filter, browse, mark, retry, resend and export messages."""

    SCREEN_TITLE = "Mail logs"
    CSS_PATH = "mail_logs.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", id="logs.filter"),
        Binding("r", "retry", "Retry", id="logs.retry"),
        Binding("R", "resend", "Resend", id="logs.resend"),
        Binding("e", "resend", "Resend", show=False, id="logs.resend_edit"),
        Binding("E", "export", "Export", id="logs.export"),
        Binding("m", "mark_visible", "Mark visible", id="logs.mark_visible"),
        Binding("M", "mark_matching", "Mark all matching", id="logs.mark_matching"),
        Binding("v", "mark_range", "Mark range", show=False, id="logs.mark_range"),
        Binding("escape", "clear_marks", "Clear marks", show=False, id="logs.clear_marks"),
        Binding("i", "toggle_detail", "Detail pane", id="logs.detail"),
        Binding("f5", "reload", "Refresh", id="logs.refresh"),
        Binding("ctrl+r", "reload", "Refresh", show=False, id="logs.refresh_ctrl"),
    ]

    def __init__(self, *, initial_filter: MessageFilter | None = None) -> None:
        super().__init__()
        self.flt = initial_filter or MessageFilter()
        self.total: int | None = None
        self.selection_filter: MessageFilter | None = None  # "all matching" (the filter itself)
        self._filter_gen = 0  # bumps when the filter changes: stale counts are dropped
        self._window_gen = 0  # bumps when the window is replaced: stale pages are dropped
        self._loaded = False
        self.detail_visible = False

    # --- set-up --------------------------------------------------------------------------------

    @property
    def page_size(self) -> int:
        return self.ctx.config.ui.page_size

    @property
    def table(self) -> MessageTable:
        return self.query_one("#logs-table", MessageTable)

    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one("#logs-filter", FilterBar)

    @property
    def detail(self) -> MessageDetailPane:
        return self.query_one("#logs-detail", MessageDetailPane)

    def compose_body(self) -> Iterable[Widget]:
        yield FilterBar(self.flt.describe(), id="logs-filter")
        yield Static("", id="logs-status")
        with Horizontal(id="logs-main"):
            yield MessageTable(
                max_rows=self.page_size * WINDOW_PAGES,
                edge_margin=max(20, self.page_size // 4),
                id="logs-table",
            )
            yield MessageDetailPane(id="logs-detail")

    def on_mount(self) -> None:
        self.table.focus()
        self.set_interval(30, self._tick, name="logs-age-refresh")

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")

    def on_shown(self) -> None:
        # Reload only the first time: coming back from a dialog must not lose the position.
        if not self._loaded:
            self._loaded = True
            self.reload()

    def _tick(self) -> None:
        """Ages are relative to the clock: redraw them now and then."""
        self.table.now = self.ctx.clock.now()
        self.table.refresh()

    # --- loading -------------------------------------------------------------------------------

    def reload(self) -> None:
        """The newest page of the current filter, and its count."""
        self._load_window("newest")
        self._count()

    def _count(self) -> None:
        self._filter_gen += 1
        gen = self._filter_gen
        self.total = None
        self._update_status()

        def done(total: int) -> None:
            if gen == self._filter_gen:
                self.total = total
                self._fix_offset()
                self._update_status()

        self.call_service(
            logs.count_messages, self.flt, done=done, group="logs-count", description="Count"
        )

    def _load_window(self, edge: str) -> None:
        """Replace the window with the newest or the oldest page."""
        self._window_gen += 1
        gen = self._window_gen
        table = self.table
        table.fetching = True
        table.refresh()

        def done(page: logs.Page) -> None:
            if gen != self._window_gen:
                return
            table.fetching = False
            table.now = self.ctx.clock.now()
            self.detail.message_id = None  # rows may have changed: the pane reloads too
            if edge == "oldest":
                offset = None if self.total is None else max(0, self.total - len(page.rows))
                table.load(
                    page.rows, has_older=False, has_newer=page.has_more, offset=offset,
                    cursor="last",
                )  # fmt: skip
            else:
                table.load(page.rows, has_older=page.has_more, has_newer=False, offset=0)
            self._update_status()

        def failed(_exc: BaseException) -> None:
            if gen == self._window_gen:
                table.fetching = False
                table.refresh()

        if edge == "oldest":
            self.call_service(
                logs.oldest_page, self.flt, self.page_size, done=done, failed=failed,
                group="logs-window", description="Load messages",
            )  # fmt: skip
        else:
            self.call_service(
                logs.page_messages, self.flt, limit=self.page_size, done=done, failed=failed,
                group="logs-window", description="Load messages",
            )  # fmt: skip

    def _fix_offset(self) -> None:
        """Once the count is known, a window that ends at the oldest row knows its position."""
        table = self.table
        if table.row_offset is None and not table.has_older and self.total is not None:
            table.row_offset = max(0, self.total - len(table.rows))

    @on(MessageTable.NeedPage)
    def _need_page(self, event: MessageTable.NeedPage) -> None:
        event.stop()
        if event.jump == "oldest":
            self._load_window("oldest")
            return
        if event.jump == "newest":
            self._load_window("newest")
            return
        table = self.table
        if not table.rows:
            table.page_failed(event.direction)
            return
        gen = self._window_gen
        direction = event.direction
        anchor = table.rows[-1] if direction == "older" else table.rows[0]

        def done(page: logs.Page) -> None:
            if gen != self._window_gen:
                return
            table.now = self.ctx.clock.now()
            if direction == "older":
                table.add_older(page.rows, has_more=page.has_more)
                self._fix_offset()
            else:
                table.add_newer(page.rows, has_more=page.has_more)
            self._update_status()

        def failed(_exc: BaseException) -> None:
            table.page_failed(direction)

        self.call_service(
            logs.page_messages, self.flt, cursor=logs.Cursor(anchor.created_at, anchor.id),
            direction=direction, limit=self.page_size, done=done, failed=failed,
            group=f"logs-page-{direction}", description="Load messages",
        )  # fmt: skip

    # --- status line ---------------------------------------------------------------------------

    def selection_text(self) -> str:
        """The selection as the status line says it: "N selected", "all N matching" or ""."""
        if self.selection_filter is not None:
            if self.total is None:
                return "all matching (counting…)"
            return f"all {self.total:,} matching"
        marked = len(self.table.marked)
        return f"{marked:,} selected" if marked else ""

    def status_text(self) -> str:
        table = self.table
        count = "counting…" if self.total is None else f"{self.total:,} matching"
        parts = [count]
        selection = self.selection_text()
        if selection:
            parts.append(selection)
        position = table.absolute_cursor
        if table.rows and position is not None:
            total = f" of {self.total:,}" if self.total is not None else ""
            parts.append(f"row {position + 1:,}{total}")
        return " · ".join(parts)

    def _update_status(self) -> None:
        # One fixed-size line: no layout pass on every cursor move.
        self.query_one("#logs-status", Static).update(Text(self.status_text()), layout=False)

    @on(MessageTable.MarksChanged)
    def _marks_changed(self, event: MessageTable.MarksChanged) -> None:
        event.stop()
        if not self.table.all_marked:
            self.selection_filter = None
        self._update_status()

    # --- filter --------------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        self.filter_bar.focus_input()

    @on(FilterBar.Submitted)
    def _filter_submitted(self, event: FilterBar.Submitted) -> None:
        event.stop()
        if self.apply_filter_text(event.expression):
            self.table.focus()

    def apply_filter_text(self, expression: str) -> bool:
        """Parse and apply a filter-bar expression; a bad one shows its error and changes
        nothing (also how other screens open Mail logs on a filter)."""
        try:
            flt = parse_filter(expression, self.ctx.clock.now())
        except ValidationError as exc:
            self.filter_bar.reject(str(exc))
            return False
        self._loaded = True
        self.filter_bar.accept(expression)
        self.apply_filter(flt)
        return True

    @on(FilterBar.Done)
    def _filter_done(self, event: FilterBar.Done) -> None:
        event.stop()
        self.table.focus()

    def apply_filter(self, flt: MessageFilter) -> None:
        """Show `flt` (marks are cleared: they belonged to the old view)."""
        self.flt = flt
        self.selection_filter = None
        self.table.set_marks((), all_marked=False)
        self.reload()

    def show_filter(self, flt: MessageFilter) -> None:
        """Open this screen on `flt` (from Dead letters): the bar shows it in the language."""
        self._loaded = True
        self.filter_bar.accept(flt.describe())
        self.apply_filter(flt)

    # --- marking -------------------------------------------------------------------------------

    def action_mark_visible(self) -> None:
        self.selection_filter = None
        self.table.action_mark_visible()

    def action_mark_range(self) -> None:
        self.selection_filter = None
        self.table.action_mark_range()

    def action_mark_matching(self) -> None:
        """Select every message matching the filter: stored as the filter, not as ids."""
        self.selection_filter = self.flt
        self.table.set_marks((), all_marked=True)
        self._update_status()

    def action_clear_marks(self) -> None:
        self.selection_filter = None
        self.table.action_clear_marks()
        self._update_status()

    # --- detail --------------------------------------------------------------------------------

    def action_toggle_detail(self) -> None:
        self.detail_visible = not self.detail_visible
        self.set_class(self.detail_visible, "-detail")
        if self.detail_visible:
            self._load_detail(self.table.cursor_row)

    @on(MessageTable.Selected)
    def _selected(self, event: MessageTable.Selected) -> None:
        event.stop()
        if not self.detail_visible:
            self.detail_visible = True
            self.add_class("-detail")
        self._load_detail(event.row)

    @on(MessageTable.Highlighted)
    def _highlighted(self, event: MessageTable.Highlighted) -> None:
        event.stop()
        self._update_status()
        if self.detail_visible:
            self._load_detail(event.row)

    def _load_detail(self, row: Any) -> None:
        if row is None:
            self.detail.show_placeholder("No message selected.")
            return
        if self.detail.message_id == row.id:
            return

        def done(detail: logs.MessageDetail) -> None:
            if self.table.cursor_row is not None and self.table.cursor_row.id == detail.row.id:
                self.detail.show(detail, self.ctx.clock.now())

        self.call_service(
            logs.message_detail, row.id, done=done, group="logs-detail", description="Detail"
        )

    # --- bulk retry ----------------------------------------------------------------------------

    def _selection(self) -> dict[str, Any] | None:
        """What a bulk action acts on: the stored filter, the marked ids, or the cursor row."""
        if self.selection_filter is not None:
            return {"flt": self.selection_filter}
        if self.table.marked:
            return {"ids": sorted(self.table.marked)}
        row = self.table.cursor_row
        return {"ids": [row.id]} if row is not None else None

    def action_retry(self) -> None:
        selection = self._selection()
        if selection is None:
            self.notify("No message to retry: mark some (space) or all matching (M)")
            return
        filter_text = None
        if "flt" in selection:
            if selection["flt"].is_empty():
                self.notify(
                    "Set a filter first (/, e.g. status:dead err:http_5): a bulk retry never "
                    "acts on every message",
                    severity="warning",
                    markup=False,
                )
                return
            filter_text = selection["flt"].describe()
        start_retry(self, selection, filter_text, after=self._retried)

    def _retried(self, count: int) -> None:
        self.selection_filter = None
        self.table.set_marks((), all_marked=False)
        self.reload()

    # --- resend --------------------------------------------------------------------------------

    def action_resend(self) -> None:
        row = self.table.cursor_row
        if row is None:
            self.notify("No message to resend")
            return
        backends = [name for name, acc in self.ctx.config.accounts.items() if acc.enabled]
        self.app.push_screen(ResendForm(row, backends), self._resend)

    def _resend(self, request: ResendRequest | None) -> None:
        if request is None:
            return
        from mailconsole.services import retry

        def done(new_id: int) -> None:
            self.notify(
                f"Message #{request.message_id} resent as #{new_id}", title="Resend", markup=False
            )
            self.reload()

        overrides: dict[str, Any] = {
            "to": request.to, "subject": request.subject, "backend": request.backend,
            "reason": request.reason,
        }  # fmt: skip
        self.call_service(
            retry.resend, request.message_id, done=done, group="logs-resend",
            description="Resend", **overrides,
        )  # fmt: skip

    # --- export --------------------------------------------------------------------------------

    def action_export(self) -> None:
        described = self.flt.describe() or "all messages"
        count = "" if self.total is None else f"{self.total:,} "
        dialog = ExportDialog(f"{count}messages: {described}", self.ctx.clock.now())
        self.app.push_screen(dialog, lambda req: self.start_export(req, self.flt, self.total))

    def start_export(
        self, request: ExportRequest | None, flt: MessageFilter, total: int | None
    ) -> None:
        """Run an export of `flt` to the requested file (also used by Dead letters)."""
        run_export(self, request, flt, total)


def start_retry(
    screen: MailconsoleScreen,
    selection: dict[str, Any],
    filter_text: str | None,
    *,
    after: Callable[[int], None] | None = None,
) -> None:
    """Bulk retry: the plan (a worker), the plan dialog and its confirm, then the run with a
    progress bar and a notification. `selection` is `{"flt": …}` or `{"ids": […]}`.

    In read-only mode there is nothing to confirm: the run is asked for at once, so the
    service refuses it (and audits the refusal) and the user reads why.
    """
    from mailconsole.services import retry

    def planned(plan: Any) -> None:
        if screen.ctx.is_read_only:
            _apply_retry(screen, plan, progress=False, after=after)
            return
        dialog = RetryPlanDialog(
            plan, typed_threshold=screen.ctx.config.ui.typed_confirm_threshold,
            filter_text=filter_text,
        )  # fmt: skip

        def answered(yes: bool | None) -> None:
            if yes:
                _apply_retry(screen, plan, progress=True, after=after)

        screen.app.push_screen(dialog, answered)

    screen.call_service(
        retry.retry_plan, done=planned, group="retry-plan", description="Retry plan", **selection
    )


def _apply_retry(
    screen: MailconsoleScreen, plan: Any, *, progress: bool, after: Callable[[int], None] | None
) -> None:
    from mailconsole.services import retry

    dialog = ProgressDialog("Re-queuing messages…", total=int(plan.retryable)) if progress else None
    if dialog is not None:
        screen.app.push_screen(dialog)

    def report(done: int, total: int) -> None:
        if dialog is not None:
            screen.app.call_from_thread(dialog.update_progress, done, total)

    def close() -> None:
        if dialog is not None and dialog.is_attached:
            dialog.dismiss()

    def done(count: int) -> None:
        close()
        noun = "message" if count == 1 else "messages"
        screen.notify(f"Re-queued {count:,} {noun} for delivery", title="Bulk retry")
        if after is not None:
            after(count)

    screen.call_service(
        retry.apply_retry, plan, progress=report, done=done, failed=lambda _e: close(),
        group="retry-apply", description="Bulk retry",
    )  # fmt: skip


def export_to_path(
    ctx: AppContext,
    flt: MessageFilter,
    fmt: str,
    path: Path,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, Path]:
    """Export to a new file (never overwrite); returns (rows, absolute path)."""
    from mailconsole.services.export import export_messages

    target = path if path.is_absolute() else Path.cwd() / path
    if target.exists():
        raise ValidationError(f"{target} already exists: choose another file name")
    if not target.parent.is_dir():
        raise ValidationError(f"{target.parent} is not a directory: choose another path")
    try:
        with target.open("x", encoding="utf-8", newline="") as fh:
            rows = export_messages(
                ctx,
                flt,
                fmt,
                fh,
                progress=progress,
                destination=str(target),  # type: ignore[arg-type]
            )
    except OSError as exc:
        raise ValidationError(f"cannot write {target}: {exc.strerror}") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return rows, target


def run_export(
    screen: MailconsoleScreen, request: ExportRequest | None, flt: MessageFilter, total: int | None
) -> None:
    """Export `flt` as asked, with a progress dialog and a notification at the end."""
    if request is None:
        return
    dialog = ProgressDialog(f"Exporting to {request.path}…", total=total)
    screen.app.push_screen(dialog)

    def report(lines: int) -> None:
        screen.app.call_from_thread(dialog.update_progress, lines, total)

    def close() -> None:
        if dialog.is_attached:
            dialog.dismiss()

    def done(result: tuple[int, Path]) -> None:
        close()
        rows, target = result
        screen.notify(
            f"Exported {rows:,} messages to {target}", title="Export", markup=False, timeout=10
        )

    screen.call_service(
        export_to_path, flt, request.fmt, request.path, report, done=done,
        failed=lambda _e: close(), group="export", description="Export",
    )  # fmt: skip


__all__ = ["MailLogsScreen", "export_to_path", "run_export", "start_retry"]
