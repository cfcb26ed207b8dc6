"""Dead letters: the messages that gave up, grouped by what killed them.

One row per error code (or per error code and recipient domain, `g` toggles), with the count,
when the first and last of them died, how many backends, and a sample provider error. Each
group acts as a unit through its filter (`status:dead err:<code> [domain:<d>]`): retry it (plan
→ confirm → run, as in Mail logs), open it in Mail logs, or export it. The groups come from one
GROUP BY in `services.dead_letters`, so the screen is as fast at millions of dead letters as at ten.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable, Static

from mailconsole.sanitize import safe_text
from mailconsole.screens import has_mode
from mailconsole.screens.base import MailconsoleScreen
from mailconsole.screens.mail_logs import MailLogsScreen, run_export, start_retry
from mailconsole.services.dead_letters import (
    BY_CODE,
    BY_CODE_AND_DOMAIN,
    DeadLetterGroup,
    dead_letter_groups,
)
from mailconsole.widgets.export_dialog import ExportDialog, ExportRequest
from mailconsole.widgets.timefmt import ago

SAMPLE_CHARS = 120


def group_cells(group: DeadLetterGroup, now: Any, by_domain: bool) -> list[Text]:
    """One group as table cells (untrusted text through `safe_text`)."""

    def age(at: Any) -> Text:
        return Text(ago(at, now))

    cells = [safe_text(group.error_code or "(none)", style="bold")]
    if by_domain:
        cells.append(safe_text(group.domain or ""))
    cells.extend(
        [
            Text(f"{group.count:,}", justify="right"),
            age(group.oldest),
            age(group.newest),
            Text(str(group.backends), justify="right"),
            safe_text(group.sample_error or "", max_len=SAMPLE_CHARS),
        ]
    )
    return cells


class DeadLettersScreen(MailconsoleScreen):
    """Dead letters by error code (and domain), with retry / open / export per group."""

    SCREEN_TITLE = "Dead letters"
    CSS_PATH = "dead_letters.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry_group", "Retry group", id="dead.retry"),
        Binding("o", "open_logs", "Open in Mail logs", id="dead.open"),
        Binding("enter", "open_logs", "Open in Mail logs", show=False, id="dead.open_enter"),
        Binding("E", "export_group", "Export group", id="dead.export"),
        Binding("g", "toggle_grouping", "By domain", id="dead.grouping"),
        Binding("f5", "reload", "Refresh", id="dead.refresh"),
        Binding("ctrl+r", "reload", "Refresh", show=False, id="dead.refresh_ctrl"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.by_domain = False
        self.groups: list[DeadLetterGroup] = []
        self.loaded = False

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#dead-table", DataTable)

    def compose_body(self) -> Iterable[Widget]:
        yield Static(Text("loading…", style="dim"), id="dead-status")
        yield DataTable(id="dead-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.table.focus()

    # --- loading -------------------------------------------------------------------------------

    def reload(self) -> None:
        self.call_service(
            dead_letter_groups,
            BY_CODE_AND_DOMAIN if self.by_domain else BY_CODE,
            done=self._show,
            group="dead-groups",
            description="Dead letters",
        )

    def _show(self, groups: list[DeadLetterGroup]) -> None:
        self.groups = groups
        self.loaded = True
        table = self.table
        keep = table.cursor_row
        table.clear(columns=True)
        labels = ["Error code", *(["Domain"] if self.by_domain else []), "Count", "Oldest",
                  "Newest", "Backends", "Sample error"]  # fmt: skip
        now = self.ctx.clock.now()
        rows = [group_cells(group, now, self.by_domain) for group in groups]
        # Widths measured here, once: a handful of rows, and no deferred re-measuring.
        for n, label in enumerate(labels):
            width = max([len(label), *(cell.cell_len for cell in (r[n] for r in rows))])
            table.add_column(label, width=width)
        for index, cells in enumerate(rows):
            table.add_row(*cells, key=str(index))
        if groups:
            table.move_cursor(row=min(keep, len(groups) - 1))
        self.query_one("#dead-status", Static).update(Text(self.status_text()))

    def status_text(self) -> str:
        total = sum(g.count for g in self.groups)
        grouping = "error code and domain" if self.by_domain else "error code"
        noun = "group" if len(self.groups) == 1 else "groups"
        return f"{total:,} dead letters in {len(self.groups):,} {noun} · by {grouping}"

    def action_toggle_grouping(self) -> None:
        self.by_domain = not self.by_domain
        self.reload()

    # --- group actions -------------------------------------------------------------------------

    def current_group(self) -> DeadLetterGroup | None:
        if not self.groups:
            return None
        row = self.table.cursor_row
        return self.groups[row] if 0 <= row < len(self.groups) else None

    def _group_filter(self) -> tuple[DeadLetterGroup, Any] | None:
        group = self.current_group()
        if group is None:
            self.notify("No dead letters")
            return None
        flt = group.filter
        if flt is None:
            self.notify(
                "Messages without an error code cannot be selected by filter: "
                "open Mail logs with status:dead and mark them",
                severity="warning",
                markup=False,
            )
            return None
        return group, flt

    def action_retry_group(self) -> None:
        found = self._group_filter()
        if found is None:
            return
        _group, flt = found
        start_retry(self, {"flt": flt}, flt.describe(), after=lambda _n: self.reload())

    async def action_open_logs(self) -> None:
        found = self._group_filter()
        if found is None:
            return
        _group, flt = found
        if has_mode("logs"):
            await self.app.switch_mode("logs")
            screen = self.app.screen
            if isinstance(screen, MailLogsScreen):
                screen.show_filter(flt)
                return
        await self.app.push_screen(MailLogsScreen(initial_filter=flt))

    def action_export_group(self) -> None:
        found = self._group_filter()
        if found is None:
            return
        group, flt = found
        dialog = ExportDialog(
            f"{group.count:,} dead letters: {flt.describe()}", self.ctx.clock.now()
        )

        def chosen(request: ExportRequest | None) -> None:
            run_export(self, request, flt, group.count)

        self.app.push_screen(dialog, chosen)

    @on(DataTable.RowSelected, "#dead-table")
    async def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        await self.action_open_logs()


__all__ = ["DeadLettersScreen", "group_cells"]
