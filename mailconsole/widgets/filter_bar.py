"""The filter bar: one input in the filter language, and one line for what is wrong with it.

The bar does not parse: it posts `Submitted(expression)` and the screen parses it (with its
clock, for `since:2h`), then calls `accept(expression)` or `reject(message)`. A rejected filter
leaves the applied one in place, so a typo never empties the table.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Static

from mailconsole.sanitize import safe_text

HINT = "status:dead domain:gmail.com err:http_5 backend:NAME since:2h until:30m tag:T id:1,2  text"


class FilterBar(Vertical):
    """`/` focuses it (the screen's binding); Enter applies; Escape restores the applied filter."""

    DEFAULT_CSS = """
    FilterBar {
        height: auto;
        padding: 0 1;
    }
    FilterBar > Horizontal {
        height: 1;
    }
    FilterBar .filter-bar--prompt {
        width: auto;
        color: $text-muted;
        padding-right: 1;
    }
    FilterBar Input {
        height: 1;
        border: none;
        padding: 0;
        width: 1fr;
        background: $boost;
    }
    FilterBar Input:focus {
        border: none;
        background: $boost;
    }
    FilterBar .filter-bar--error {
        height: 1;
        color: $text-error;
        display: none;
    }
    FilterBar.-error .filter-bar--error {
        display: block;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "restore", "Restore filter", show=False, id="filter_bar.restore"),
    ]

    class Submitted(Message):
        """The user pressed Enter on an expression (empty = no filter)."""

        def __init__(self, bar: FilterBar, expression: str) -> None:
            super().__init__()
            self.bar = bar
            self.expression = expression

        @property
        def control(self) -> FilterBar:
            return self.bar

    class Done(Message):
        """The user left the bar (Enter or Escape): the screen moves focus back to the table."""

    def __init__(self, expression: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.applied = expression
        self.error_message = ""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("/ filter", classes="filter-bar--prompt")
            yield Input(
                value=self.applied, placeholder=HINT, id="filter-input", select_on_focus=False
            )
        yield Static("", classes="filter-bar--error", id="filter-error")

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    @property
    def value(self) -> str:
        return self.input.value

    def focus_input(self) -> None:
        self.input.focus()
        self.input.cursor_position = len(self.input.value)

    def accept(self, expression: str) -> None:
        """The screen applied this expression: show it and clear any error."""
        self.applied = expression
        self.input.value = expression
        self.error_message = ""
        self.remove_class("-error")
        self.query_one("#filter-error", Static).update("")

    def reject(self, message: str) -> None:
        """Show why the expression is not valid (one line); the applied filter stays."""
        self.error_message = message
        self.add_class("-error")
        self.query_one("#filter-error", Static).update(
            Text("✗ ", style="bold") + safe_text(message)
        )

    @on(Input.Submitted, "#filter-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Submitted(self, event.value.strip()))

    def action_restore(self) -> None:
        self.input.value = self.applied
        self.error_message = ""
        self.remove_class("-error")
        self.post_message(self.Done())


__all__ = ["FilterBar"]
