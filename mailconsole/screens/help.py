"""`?`: the keys that work on the current screen, with their binding ids (for [ui.keymap])."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static


def binding_rows(screen: Screen[Any]) -> list[tuple[str, str, str, str]]:
    """(key, description, binding id, where) for every active binding with a description."""
    rows: list[tuple[str, str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    app = screen.app
    for active in screen.active_bindings.values():
        binding: Binding = active.binding
        if not binding.description or binding.system:
            continue
        ident = (binding.action, binding.description)
        if ident in seen:
            continue
        seen.add(ident)
        if active.node is app:
            where = "go to" if binding.action.startswith("switch_mode") else "app"
        elif active.node is screen:
            # Our screens' bindings all have ids; Textual's own (tab, copy) are general keys.
            where = "screen" if binding.id else "app"
        else:
            where = "widget"
        shown_key = binding.key_display or app.get_key_display(binding)
        rows.append((shown_key, binding.description, binding.id or "", where))
    rows.sort(key=lambda r: SECTIONS.index(r[3]))
    return rows


SECTIONS = ("screen", "go to", "app", "widget")
SECTION_TITLES = {
    "screen": "This screen",
    "go to": "Screens",
    "app": "Everywhere",
    "widget": "In the focused table or field",
}


class HelpScreen(ModalScreen[None]):
    """A modal list of the active bindings of the screen it was opened over."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 60%; }
    HelpScreen > Vertical {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-title { text-style: bold; margin-bottom: 1; }
    HelpScreen VerticalScroll { height: auto; max-height: 18; }
    HelpScreen #help-hint { color: $text-muted; margin-top: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close_key"),
    ]

    def __init__(self, target: Screen[Any]) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        title = getattr(self.target, "SCREEN_TITLE", "") or type(self.target).__name__
        table = Table(box=None, expand=True, show_edge=False, pad_edge=False)
        table.add_column("Key", no_wrap=True, style="bold", width=10, overflow="ellipsis")
        table.add_column("Action", ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column("Binding id", no_wrap=True, style="dim", min_width=24)
        section = None
        for key, description, ident, where in binding_rows(self.target):
            if where != section:
                section = where
                table.add_row(None, Text(SECTION_TITLES[where], style="bold underline"), None)
            table.add_row(Text(key), Text(description), Text(ident))
        with Vertical():
            yield Label(Text(f"Keys: {title}"), id="help-title")
            with VerticalScroll():
                yield Static(table)
            yield Label(
                Text('Remap in config: [ui.keymap] binding_id = "key". Esc closes.'),
                id="help-hint",
            )

    async def action_dismiss(self, result: Any = None) -> None:
        self.dismiss(None)
