"""A table of messages drawn line by line over a sliding window of pages.

Why not a DataTable: it measures every cell of every row it holds (100,000 rows block the UI for
7–9 s), and it can only append rows, so paging backwards would mean rebuilding it. This widget
uses Textual's line API instead: it keeps a window of a few pages (`max_rows`), draws only the
lines on screen with fixed column widths computed from its own width (nothing is measured), and
asks for the next or previous page (`NeedPage`) when the cursor or the viewport comes near an
edge of the window. Rows added at the top shift the cursor and the scroll offset by the same
amount, so the view does not jump; rows falling out of the far side of the window are dropped.

The widget does no I/O: the screen answers `NeedPage` by fetching a page in a worker and calling
`add_older` / `add_newer` / `load`. Every untrusted cell goes through `sanitize.clean` (the gate
behind `safe_text`) and becomes a Segment directly: it is never parsed as markup. Rendered lines
are cached per row, cursor, mark and width, so scrolling redraws only what changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar, Literal, Protocol

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from mailconsole.clock import format_duration
from mailconsole.sanitize import clean

Direction = Literal["older", "newer"]
Edge = Literal["oldest", "newest"]


class RowLike(Protocol):
    """The fields of `services.logs.MessageRow` that the table shows."""

    id: int
    created_at: datetime
    status: str
    to_addrs: Any
    subject: str
    backend: str | None
    account: str | None
    attempts: int
    last_error_code: str | None


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int  # 0 = shares the remaining width
    share: int = 0
    justify: Literal["left", "right"] = "left"


def _addresses(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value).replace(",", ", ")


def age_text(created_at: datetime | None, now: datetime) -> str:
    """How long ago, compact (`45s`, `12m`, `3h 05m`, `2d 04h`); future times read `in …`."""
    if created_at is None:
        return ""
    seconds = (now - created_at).total_seconds()
    if seconds < 0:
        return "in " + format_duration(-seconds)
    return format_duration(seconds)


def columns_for(width: int) -> list[Column]:
    """Column widths for a table `width` cells wide; narrow terminals get narrower fixed columns."""
    narrow = width < 100
    return [
        Column("mark", "", 1),
        Column("time", "age", 7),
        Column("status", "status", 10),
        Column("to", "to", 0, share=2),
        Column("subject", "subject", 0, share=3),
        Column("backend", "backend", 9 if narrow else 14),
        Column("attempts", "att", 3, justify="right"),
        Column("error", "error", 9 if narrow else 13),
    ]


@lru_cache(maxsize=32)
def layout(width: int) -> list[tuple[Column, int]]:
    """Each column with its width in cells; one space separates columns."""
    cols = columns_for(width)
    fixed = sum(c.width for c in cols) + len(cols) - 1
    free = max(0, width - fixed)
    shares = sum(c.share for c in cols) or 1
    out: list[tuple[Column, int]] = []
    given = 0
    flex = [c for c in cols if c.share]
    for col in cols:
        if col.share:
            w = free * col.share // shares
            if col is flex[-1]:
                w = free - given
            given += w
            out.append((col, max(1, w)))
        else:
            out.append((col, col.width))
    return out


def cell_strings(row: RowLike, now: datetime) -> dict[str, str]:
    """The fields of one row as display strings; untrusted ones pass through `clean` (the
    sanitizer behind `safe_text`). They become Segments directly, never parsed as markup."""
    return {
        "time": age_text(row.created_at, now),
        "status": clean(row.status, one_line=True),
        "to": clean(_addresses(row.to_addrs), one_line=True),
        "subject": clean(row.subject, one_line=True),
        "backend": clean(row.backend or row.account or "", one_line=True),
        "attempts": str(row.attempts),
        "error": clean(row.last_error_code or "", one_line=True),
    }


def fit(text: str, width: int, justify: Literal["left", "right"] = "left") -> str:
    """`text` in exactly `width` cells: cut with an ellipsis, or padded."""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
    pad = " " * (width - length)
    return pad + text if justify == "right" else text + pad


class MessageTable(ScrollView, can_focus=True):
    """Messages, newest first, one line each; a window of pages over any number of rows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False, id="message_table.up"),
        Binding("down", "cursor_down", "Down", show=False, id="message_table.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="message_table.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="message_table.page_down"),
        Binding("home", "first", "Newest", show=False, id="message_table.first"),
        Binding("end", "last", "Oldest", show=False, id="message_table.last"),
        Binding("enter", "select", "Detail", id="message_table.select"),
        Binding("space", "toggle_mark", "Mark", id="message_table.mark"),
        Binding(
            "shift+down", "mark_down", "Mark range down", show=False, id="message_table.mark_down"
        ),
        Binding("shift+up", "mark_up", "Mark range up", show=False, id="message_table.mark_up"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "message-table--header",
        "message-table--cursor",
        "message-table--marked",
        "message-table--status-bad",
        "message-table--status-warn",
        "message-table--status-good",
        "message-table--status-pending",
        "message-table--empty",
    }

    DEFAULT_CSS = """
    MessageTable {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        background: $surface;
    }
    MessageTable > .message-table--header {
        text-style: bold;
        background: $panel;
        color: $foreground;
    }
    MessageTable > .message-table--cursor {
        background: $block-cursor-blurred-background;
    }
    MessageTable:focus > .message-table--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: bold;
    }
    MessageTable > .message-table--marked {
        background: $accent-muted;
        text-style: bold;
    }
    MessageTable > .message-table--status-bad { color: $text-error; }
    MessageTable > .message-table--status-warn { color: $text-warning; }
    MessageTable > .message-table--status-good { color: $text-success; }
    MessageTable > .message-table--status-pending { color: $text-accent; }
    MessageTable > .message-table--empty { color: $text-muted; text-style: italic; }
    """

    STATUS_CLASS: ClassVar[dict[str, str]] = {
        "dead": "bad",
        "bounced": "bad",
        "complained": "bad",
        "suppressed": "warn",
        "cancelled": "warn",
        "sent": "good",
        "delivered": "good",
        "queued": "pending",
        "sending": "pending",
    }

    # --- messages ------------------------------------------------------------------------------

    class Highlighted(Message):
        """The cursor moved to another row."""

        def __init__(self, table: MessageTable, row: RowLike | None) -> None:
            super().__init__()
            self.table = table
            self.row = row

    class Selected(Message):
        """Enter (or a click on the cursor row): show this row's detail."""

        def __init__(self, table: MessageTable, row: RowLike) -> None:
            super().__init__()
            self.table = table
            self.row = row

    class NeedPage(Message):
        """The cursor or viewport is near an edge of the window: fetch the next page that way.

        `direction` is "older" (below the window) or "newer" (above it); `jump` asks for the
        very oldest or newest page instead (End / Home past the window).
        """

        def __init__(
            self, table: MessageTable, direction: Direction, jump: Edge | None = None
        ) -> None:
            super().__init__()
            self.table = table
            self.direction = direction
            self.jump = jump

    class MarksChanged(Message):
        """The set of marked rows changed (or the screen should leave 'all matching')."""

        def __init__(self, table: MessageTable) -> None:
            super().__init__()
            self.table = table

    # --- state ---------------------------------------------------------------------------------

    def __init__(
        self,
        *,
        max_rows: int = 1000,
        edge_margin: int = 50,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_rows = max_rows
        self.edge_margin = edge_margin
        self.now: datetime = datetime(1970, 1, 1, tzinfo=UTC)
        self.rows: list[RowLike] = []
        self.cursor: int = 0
        self.has_older = False
        self.has_newer = False
        self.row_offset: int | None = 0  # absolute index of rows[0] in the result, when known
        self.marked: set[int] = set()
        self.all_marked = False  # the screen's "all matching" mode: every row shows as marked
        self.empty_text = "No messages match."
        self.fetching = False
        self._anchor: int | None = None
        self._pending: set[Direction] = set()
        self._line_cache: LRUCache[tuple[Any, ...], Strip] = LRUCache(2000)

    # --- data in -------------------------------------------------------------------------------

    def load(
        self,
        rows: Sequence[RowLike],
        *,
        has_older: bool,
        has_newer: bool,
        offset: int | None,
        cursor: Literal["first", "last"] = "first",
    ) -> None:
        """Replace the window (a new filter, or a jump to the newest / oldest page)."""
        self.rows = list(rows)
        self.has_older, self.has_newer = has_older, has_newer
        self.row_offset = offset
        self._pending.clear()
        self._anchor = None
        self._update_virtual_size()
        if cursor == "last" and self.rows:
            self.cursor = len(self.rows) - 1
            self._set_scroll(max(0, len(self.rows) - self._visible_rows()))
        else:
            self.cursor = 0
            self._set_scroll(0)
        self.refresh()
        self._post_highlighted()

    def add_older(self, rows: Sequence[RowLike], *, has_more: bool) -> None:
        """Append the page below the window; drop rows above it beyond `max_rows`."""
        self._pending.discard("older")
        known = {r.id for r in self.rows[-len(rows) :]} if rows else set()
        rows = [r for r in rows if r.id not in known]
        self.has_older = has_more and bool(rows)
        if not rows:
            self.refresh()
            return
        self.rows.extend(rows)
        excess = len(self.rows) - self.max_rows
        scroll = self.scroll_y
        if excess > 0:
            del self.rows[:excess]
            self.cursor = max(0, self.cursor - excess)
            scroll = max(0, scroll - excess)
            if self._anchor is not None:
                self._anchor -= excess
            self.has_newer = True
            if self.row_offset is not None:
                self.row_offset += excess
        self._update_virtual_size()
        self._set_scroll(scroll)
        self.refresh()

    def add_newer(self, rows: Sequence[RowLike], *, has_more: bool) -> None:
        """Prepend the page above the window; drop rows below it beyond `max_rows`."""
        self._pending.discard("newer")
        known = {r.id for r in self.rows[: len(rows)]} if rows else set()
        rows = [r for r in rows if r.id not in known]
        self.has_newer = has_more and bool(rows)
        if not rows:
            if self.row_offset is None:
                self.row_offset = 0
            self.refresh()
            return
        added = len(rows)
        self.rows[:0] = rows
        self.cursor += added
        if self._anchor is not None:
            self._anchor += added
        if self.row_offset is not None:
            self.row_offset = max(0, self.row_offset - added)
        if not self.has_newer:
            self.row_offset = 0
        excess = len(self.rows) - self.max_rows
        if excess > 0:
            del self.rows[-excess:]
            self.has_older = True
        scroll = self.scroll_y + added
        self._update_virtual_size()
        self._set_scroll(scroll)
        self.refresh()

    def page_failed(self, direction: Direction) -> None:
        """A fetch failed: allow asking again later."""
        self._pending.discard(direction)

    def set_marks(self, marked: Iterable[int], *, all_marked: bool = False) -> None:
        self.marked = set(marked)
        self.all_marked = all_marked
        self.refresh()

    def replace_rows(self, rows: Sequence[RowLike]) -> None:
        """Swap rows in place by id (after a retry changed their status); order is unchanged."""
        by_id = {r.id: r for r in rows}
        self.rows = [by_id.get(r.id, r) for r in self.rows]
        self.refresh()

    # --- data out ------------------------------------------------------------------------------

    @property
    def cursor_row(self) -> RowLike | None:
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor]
        return None

    def visible_rows(self) -> list[RowLike]:
        """The rows currently on screen."""
        start = int(self.scroll_y)
        return self.rows[start : start + self._visible_rows()]

    @property
    def absolute_cursor(self) -> int | None:
        """The cursor's position in the whole result (0-based), when it is known."""
        return None if self.row_offset is None else self.row_offset + self.cursor

    # --- geometry ------------------------------------------------------------------------------

    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.rows) + 1)

    def _set_scroll(self, y: float) -> None:
        self.scroll_to(y=y, animate=False, force=True, immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        self._update_virtual_size()
        self._scroll_cursor_into_view()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._check_edges(int(new_value), int(new_value) + self._visible_rows())

    # --- cursor --------------------------------------------------------------------------------

    def move_cursor(self, index: int) -> None:
        if not self.rows:
            return
        index = max(0, min(len(self.rows) - 1, index))
        changed = index != self.cursor
        self.cursor = index
        self._scroll_cursor_into_view()
        self.refresh()
        if changed:
            self._post_highlighted()
        self._check_edges(self.cursor, self.cursor + 1)

    def _scroll_cursor_into_view(self) -> None:
        visible = self._visible_rows()
        top = int(self.scroll_y)
        if self.cursor < top:
            self._set_scroll(self.cursor)
        elif self.cursor >= top + visible:
            self._set_scroll(self.cursor - visible + 1)

    def _post_highlighted(self) -> None:
        self.post_message(self.Highlighted(self, self.cursor_row))

    def _check_edges(self, first: int, last: int) -> None:
        """Ask for a page when rows within `edge_margin` of an end of the window are in play."""
        if not self.rows:
            return
        if self.has_older and last >= len(self.rows) - self.edge_margin:
            self._request("older")
        if self.has_newer and first <= self.edge_margin:
            self._request("newer")

    def _request(self, direction: Direction, jump: Edge | None = None) -> None:
        if direction in self._pending and jump is None:
            return
        self._pending.add(direction)
        self.post_message(self.NeedPage(self, direction, jump))

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor + 1)

    def action_page_up(self) -> None:
        step = self._visible_rows()
        self._set_scroll(max(0, self.scroll_y - step))
        self.move_cursor(self.cursor - step)

    def action_page_down(self) -> None:
        step = self._visible_rows()
        self._set_scroll(self.scroll_y + step)
        self.move_cursor(self.cursor + step)

    def action_first(self) -> None:
        if self.has_newer:
            self._request("newer", jump="newest")
        else:
            self.move_cursor(0)

    def action_last(self) -> None:
        if self.has_older:
            self._request("older", jump="oldest")
        else:
            self.move_cursor(len(self.rows) - 1)

    def action_select(self) -> None:
        row = self.cursor_row
        if row is not None:
            self.post_message(self.Selected(self, row))

    # --- marking -------------------------------------------------------------------------------

    def _leave_all_marked(self) -> None:
        """Marking single rows ends 'all matching' (the two kinds of selection never mix)."""
        if self.all_marked:
            self.all_marked = False
            self.marked.clear()

    def action_toggle_mark(self) -> None:
        row = self.cursor_row
        if row is None:
            return
        self._leave_all_marked()
        if row.id in self.marked:
            self.marked.discard(row.id)
        else:
            self.marked.add(row.id)
        self._anchor = self.cursor
        self.refresh()
        self.post_message(self.MarksChanged(self))
        self.move_cursor(self.cursor + 1)

    def _mark_step(self, step: int) -> None:
        row = self.cursor_row
        if row is None:
            return
        self._leave_all_marked()
        self.marked.add(row.id)
        self.move_cursor(self.cursor + step)
        row = self.cursor_row
        if row is not None:
            self.marked.add(row.id)
        self._anchor = self.cursor
        self.refresh()
        self.post_message(self.MarksChanged(self))

    def action_mark_down(self) -> None:
        self._mark_step(1)

    def action_mark_up(self) -> None:
        self._mark_step(-1)

    def action_mark_range(self) -> None:
        """Mark every row between the last marked row (the anchor) and the cursor."""
        if self.cursor_row is None:
            return
        self._leave_all_marked()
        anchor = self._anchor if self._anchor is not None else self.cursor
        anchor = max(0, min(len(self.rows) - 1, anchor))
        lo, hi = sorted((anchor, self.cursor))
        self.marked.update(r.id for r in self.rows[lo : hi + 1])
        self._anchor = self.cursor
        self.refresh()
        self.post_message(self.MarksChanged(self))

    def action_mark_visible(self) -> None:
        self._leave_all_marked()
        self.marked.update(r.id for r in self.visible_rows())
        self.refresh()
        self.post_message(self.MarksChanged(self))

    def action_clear_marks(self) -> None:
        if not self.marked and not self.all_marked:
            return
        self.all_marked = False
        self.marked.clear()
        self._anchor = None
        self.refresh()
        self.post_message(self.MarksChanged(self))

    # --- mouse ---------------------------------------------------------------------------------

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = int(self.scroll_y) + offset.y - 1
        if index >= len(self.rows):
            return
        if index == self.cursor and event.chain >= 2:
            self.action_select()
        self.move_cursor(index)

    # --- rendering -----------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"message-table--{name}", partial=True)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._line_cache.clear()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            return self._header_line(width, base)
        index = int(self.scroll_y) + y - 1
        if index >= len(self.rows):
            if not self.rows and y == 1:
                text = "Loading…" if self.fetching else self.empty_text
                style = base + self._style("empty")
                return Strip([Segment(fit(" " + text, width), style)], width)
            return Strip.blank(width, base)
        row = self.rows[index]
        marked = self.all_marked or row.id in self.marked
        is_cursor = index == self.cursor
        key = (id(row), row.id, marked, is_cursor, width, self.has_focus, self.now, base)
        strip = self._line_cache.get(key)
        if strip is None:
            strip = self._row_line(row, marked, is_cursor, width, base)
            self._line_cache[key] = strip
        return strip

    def _header_line(self, width: int, base: Style) -> Strip:
        style = base + self._style("header")
        text = " ".join(fit(col.label, w, col.justify) for col, w in layout(width))
        return Strip([Segment(fit(text, width), style)], width)

    def _row_line(
        self, row: RowLike, marked: bool, is_cursor: bool, width: int, base: Style
    ) -> Strip:
        style = base
        if marked:
            style = style + self._style("marked")
        if is_cursor:
            style = style + self._style("cursor")
            if self.app.no_color:  # without colour the cursor row must still stand out
                style = style + Style(reverse=True)
        cells = cell_strings(row, self.now)
        status_cls = self.STATUS_CLASS.get(row.status)
        status_style = style + self._style(f"status-{status_cls}") if status_cls else style
        segments: list[Segment] = []
        pending: list[str] = []
        for n, (col, w) in enumerate(layout(width)):
            if n:
                pending.append(" ")
            if col.key == "mark":
                pending.append("●" if marked else " ")
            elif col.key == "status":
                segments.append(Segment("".join(pending), style))
                segments.append(Segment(fit(cells["status"], w), status_style))
                pending = []
            else:
                pending.append(fit(cells[col.key], w, col.justify))
        segments.append(Segment("".join(pending), style))
        return Strip(segments).adjust_cell_length(width, style)


__all__ = [
    "Column",
    "MessageTable",
    "RowLike",
    "age_text",
    "cell_strings",
    "columns_for",
    "fit",
    "layout",
]
