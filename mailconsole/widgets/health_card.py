"""One Dashboard figure: a titled, focusable card coloured by its threshold level.

The level is also written as a word (OK / WARN / CRIT), so the card reads the same with
NO_COLOR. Enter or a click posts `HealthCard.Opened`; the screen decides where that leads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

LEVEL_WORDS = {"ok": "OK", "warning": "WARN", "critical": "CRIT", "unknown": "…"}


@dataclass(frozen=True)
class CardData:
    """What a card shows; built by a pure function from a snapshot."""

    value: Text
    lines: tuple[Text, ...] = field(default_factory=tuple)
    level: str = "ok"  # ok | warning | critical | unknown


class HealthCard(Widget, can_focus=True):
    """A card; `data` is set by the screen after each refresh."""

    DEFAULT_CSS = """
    HealthCard {
        height: 5;
        border: round $panel-lighten-2;
        border-title-style: bold;
        padding: 0 1;
    }
    HealthCard.-ok { border: round $success; }
    HealthCard.-warning { border: round $warning; }
    HealthCard.-critical { border: round $error; }
    HealthCard:focus { border: double $accent; background: $boost; }
    HealthCard.-ok:focus { border: double $success; }
    HealthCard.-warning:focus { border: double $warning; }
    HealthCard.-critical:focus { border: double $error; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", id="card.open"),
    ]

    data: reactive[CardData | None] = reactive(None)
    """The figure to show; None while the first snapshot loads."""

    class Opened(Message):
        """The user asked for this card's detail."""

        def __init__(self, card: HealthCard) -> None:
            super().__init__()
            self.card = card

        @property
        def card_id(self) -> str:
            return self.card.id or ""

    def __init__(self, title: str, *, id: str | None = None, tooltip: str | None = None) -> None:
        super().__init__(id=id)
        self.card_title = title
        self.border_title = title
        if tooltip:
            self.tooltip = tooltip

    def watch_data(self, data: CardData | None) -> None:
        level = data.level if data else "unknown"
        for name in ("ok", "warning", "critical", "unknown"):
            self.set_class(name == level, f"-{name}")
        self.border_subtitle = LEVEL_WORDS.get(level, level.upper())

    def render(self) -> RenderableType:
        if self.data is None:
            return Text("loading…", style="dim")
        value = self.data.value.copy()
        value.stylize("bold")
        return Group(value, *self.data.lines)

    def action_open(self) -> None:
        self.post_message(self.Opened(self))

    def on_click(self) -> None:
        self.focus()
        self.post_message(self.Opened(self))
