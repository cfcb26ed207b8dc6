"""The detail pane: one message's headers, its timeline (attempts and provider events in time
order), its replays, and its body when the body was kept.

`render_detail` is a pure function from the service's `MessageDetail` to a renderable, so the
pane, a test or a snapshot draw exactly the same thing. Every field is untrusted and goes
through `safe_text`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from mailconsole.sanitize import safe_text
from mailconsole.widgets.message_table import age_text

BODY_PREVIEW_CHARS = 4000


def when(at: datetime | None, now: datetime) -> Text:
    if at is None:
        return Text("—")
    return Text(f"{at:%m-%d %H:%M:%S}", style="dim") + Text(f" ({age_text(at, now)} ago)")


def _addresses(value: Any) -> str:
    if not value:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(value)
    return str(value).replace(",", ", ")


def _headers_table(detail: Any, now: datetime) -> Table:
    row = detail.row
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("Status", safe_text(f"{row.status} · {row.attempts} attempt(s)"))
    grid.add_row("Created", when(row.created_at, now))
    if row.status == "queued" and row.next_attempt_at is not None:
        grid.add_row("Next try", when(row.next_attempt_at, now))
    grid.add_row("From", safe_text(row.from_addr, one_line=True))
    grid.add_row("To", safe_text(_addresses(row.to_addrs)))
    if getattr(detail, "cc_addrs", None):
        grid.add_row("Cc", safe_text(_addresses(detail.cc_addrs)))
    if getattr(detail, "reply_to", None):
        grid.add_row("Reply-To", safe_text(detail.reply_to))
    grid.add_row("Subject", safe_text(row.subject))
    grid.add_row("Backend", safe_text(row.backend or row.account or "(routing)"))
    ids = [f"#{row.id}"]
    if row.provider_message_id:
        ids.append(f"provider {row.provider_message_id}")
    if row.tag:
        ids.append(f"tag {row.tag}")
    if getattr(detail, "stream", None):
        ids.append(f"stream {detail.stream}")
    grid.add_row("Ids", safe_text(" · ".join(ids)))
    if row.last_error_code or row.last_error:
        code = " ".join(c for c in (row.last_error_code, row.last_provider_code) if c)
        grid.add_row("Error", safe_text(code, style="bold"))
        if row.last_error:
            grid.add_row("", safe_text(row.last_error))
    replays = _replays(detail)
    if replays is not None:
        grid.add_row("Replays", replays)
    return grid


def _replays(detail: Any) -> Text | None:
    parts: list[str] = []
    source = getattr(detail, "replay_source", None)
    if source is not None:
        parts.append(f"this message replays #{source.id} ({source.status})")
    elif detail.row.replay_of is not None:
        parts.append(f"this message replays #{detail.row.replay_of}")
    replays = getattr(detail, "replays", None) or []
    if replays:
        listed = ", ".join(f"#{r.id} ({r.status})" for r in replays[:10])
        more = f" +{len(replays) - 10} more" if len(replays) > 10 else ""
        parts.append(f"replayed by {listed}{more}")
    return safe_text(" / ".join(parts)) if parts else None


def _timeline(detail: Any, now: datetime) -> Table:
    """Attempts and provider events merged in time order."""
    items: list[tuple[datetime, int, list[Text]]] = []
    for a in detail.attempts:
        code = " ".join(c for c in (a.error_code, a.provider_code) if c)
        outcome_style = (
            "green" if a.outcome == "sent" else "red" if a.outcome != "transient" else "yellow"
        )
        line = (
            Text(f"attempt {a.attempt_no} ")
            + safe_text(a.backend)
            + Text(" ")
            + safe_text(a.outcome, style=f"bold {outcome_style}")
            + (Text(" ") + safe_text(code) if code else Text(""))
            + Text(f" {a.duration_ms:.0f} ms", style="dim")
        )
        lines = [line]
        if a.error_message:
            lines.append(Text("  ") + safe_text(a.error_message, max_len=300))
        items.append((a.at, 0, lines))
    for e in detail.events:
        line = Text("event ") + safe_text(e.type, style="bold")
        if e.recipient:
            line += Text(" ") + safe_text(e.recipient)
        lines = [line]
        if e.detail:
            lines.append(Text("  ") + safe_text(e.detail, max_len=300))
        items.append((e.at, 1, lines))
    items.sort(key=lambda item: (item[0], item[1]))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="dim")
    grid.add_column(overflow="fold")
    if not items:
        grid.add_row("", Text("no attempts yet", style="italic"))
    for at, _kind, lines in items:
        grid.add_row(f"{at:%m-%d %H:%M:%S}", Text("\n").join(lines))
    return grid


def _block(text: Text) -> Text:
    """`safe_text` ends without a newline (for cells); a block in a Group needs one."""
    text.end = "\n"
    return text


def _body(detail: Any) -> RenderableType:
    body = getattr(detail, "body", None)
    if body is None or (not body.text and not body.html and not body.headers):
        return Text("Body not kept (log detail: metadata only).", style="italic dim")
    parts: list[RenderableType] = []
    if body.headers:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for name, value in body.headers.items():
            grid.add_row(safe_text(name), safe_text(value))
        parts.append(grid)
    if body.text:
        parts.append(_block(safe_text(body.text, one_line=False, max_len=BODY_PREVIEW_CHARS)))
    elif body.html:
        parts.append(Text("(HTML only)", style="dim"))
        parts.append(_block(safe_text(body.html, one_line=False, max_len=BODY_PREVIEW_CHARS)))
    return Group(*parts)


def render_detail(detail: Any, now: datetime) -> RenderableType:
    """The whole pane for one `services.logs.MessageDetail`."""
    title = Text(f"Message #{detail.row.id}", style="bold")
    return Group(
        title,
        _headers_table(detail, now),
        Text(""),
        Text("Timeline", style="bold underline"),
        _timeline(detail, now),
        Text(""),
        Text("Body", style="bold underline"),
        _body(detail),
    )


class MessageDetailPane(VerticalScroll):
    """Shows one message's detail; `show(detail, now)` or `show_placeholder(text)`."""

    DEFAULT_CSS = """
    MessageDetailPane {
        border-left: tall $primary 50%;
        padding: 0 1;
        background: $surface;
    }
    MessageDetailPane > Static { width: 100%; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.message_id: int | None = None

    def compose(self) -> Any:
        yield Static(
            Text("Select a message (Enter) to see its timeline.", style="italic"), id="detail-body"
        )

    def show(self, detail: Any, now: datetime) -> None:
        self.message_id = detail.row.id
        self.query_one("#detail-body", Static).update(render_detail(detail, now))
        self.scroll_home(animate=False)

    def show_placeholder(self, text: str) -> None:
        self.message_id = None
        self.query_one("#detail-body", Static).update(Text(text, style="italic"))


__all__ = ["MessageDetailPane", "render_detail"]
