"""The one-line header of every screen: clickable screen tabs and the read-only badge.

No clock (snapshots stay stable; times on screen are relative to the injected clock).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Static

from mailconsole import screens


def tabs_markup(current: str | None) -> str:
    """Tabs as Textual markup with click actions (labels come from our registry, not users)."""
    parts: list[str] = []
    for spec in screens.ordered():
        label = spec.tab_label
        index = label.lower().find(spec.key.lower()) if len(spec.key) == 1 else -1
        if index >= 0:
            shown = f"{label[:index]}[u]{label[index]}[/u]{label[index + 1 :]}"
        else:
            shown = label
        style = "reverse bold" if spec.mode == current else ""
        action = f"@click=app.switch_mode('{spec.mode}')"
        parts.append(f"[{action}{' ' + style if style else ''}]{shown}[/]")
    return " ".join(parts)


class AppHeader(Horizontal):
    """Screen tabs on the left; READ-ONLY (a word, readable without colour) on the right."""

    DEFAULT_CSS = """
    AppHeader {
        dock: top;
        height: 1;
        width: 100%;
        background: $panel;
        color: $foreground;
    }
    AppHeader #tabs { width: 1fr; height: 1; padding: 0 1; }
    AppHeader #read-only-badge {
        width: auto;
        height: 1;
        padding: 0 1;
        background: $error;
        color: $text;
        text-style: bold;
        display: none;
    }
    AppHeader.-read-only #read-only-badge { display: block; }
    """

    def __init__(self, title: str = "") -> None:
        super().__init__()
        self.title_text = title

    def compose(self) -> ComposeResult:
        yield Static("", id="tabs")
        yield Label(Text("READ-ONLY"), id="read-only-badge")

    def on_mount(self) -> None:
        ctx = getattr(self.app, "ctx", None)
        self.set_class(bool(ctx is not None and ctx.is_read_only), "-read-only")
        current = getattr(self.screen, "mc_mode", None)
        self.query_one("#tabs", Static).update(tabs_markup(current))
