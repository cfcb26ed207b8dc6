"""Confirm dialogs: every mutating action asks in one of these before it calls its service.

Both are `ModalScreen[bool]`: push one with a callback (`app.push_screen(dialog, callback)`) or
await `app.push_screen_wait(dialog)` from a worker; the answer is True only on an explicit yes.
Bodies are shown literally (never parsed as markup), so a body may quote untrusted text.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from mailconsole.sanitize import safe_text


def _literal(body: str | Text) -> Text:
    return body if isinstance(body, Text) else safe_text(body, one_line=False)


class ConfirmDialog(ModalScreen[bool]):
    """Yes or no. With `danger`, the confirm button is red and Cancel has the focus."""

    DEFAULT_CSS = """
    ConfirmDialog {
        align: center middle;
        background: $background 60%;
    }
    ConfirmDialog > Vertical {
        width: 64;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 1 2;
    }
    ConfirmDialog.-danger > Vertical { border: thick $error; }
    ConfirmDialog .dialog-title { text-style: bold; width: 100%; margin-bottom: 1; }
    ConfirmDialog .dialog-body { width: 100%; height: auto; max-height: 16; overflow-y: auto; }
    ConfirmDialog Input { margin-top: 1; }
    ConfirmDialog .dialog-buttons { height: auto; width: 100%; align-horizontal: right; margin-top: 1; }
    ConfirmDialog Button { margin-left: 2; min-width: 10; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("y", "confirm", "Yes", id="dialog.confirm"),
        Binding("n", "cancel", "No", show=False, id="dialog.no"),
    ]

    def __init__(
        self,
        title: str,
        body: str | Text,
        *,
        danger: bool = False,
        confirm_label: str = "Confirm",
        cancel_label: str = "Cancel",
    ) -> None:
        super().__init__(classes="-danger" if danger else None)
        self.title_text = title
        self.body = _literal(body)
        self.danger = danger
        self.confirm_label = confirm_label
        self.cancel_label = cancel_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe_text(self.title_text), classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            yield from self.compose_extra()
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.cancel_label, id="cancel")
                yield Button(
                    self.confirm_label, id="confirm", variant="error" if self.danger else "primary"
                )

    def compose_extra(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.prepare()

    def prepare(self) -> None:
        """Set the initial focus (a hook: Textual runs every class's `on_mount`)."""
        self.query_one("#cancel" if self.danger else "#confirm", Button).focus()

    @on(Button.Pressed, "#confirm")
    def _pressed_confirm(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _pressed_cancel(self) -> None:
        self.action_cancel()

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class TypedConfirmDialog(ConfirmDialog):
    """For large counts: the user types `expected_text` (e.g. the count) to confirm."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(
        self,
        title: str,
        body: str | Text,
        expected_text: str,
        *,
        confirm_label: str = "Confirm",
    ) -> None:
        super().__init__(title, body, danger=True, confirm_label=confirm_label)
        self.expected_text = expected_text

    def compose_extra(self) -> ComposeResult:
        yield Label(Text(f"Type {self.expected_text} to confirm:"), classes="dialog-prompt")
        yield Input(placeholder=self.expected_text, id="typed")

    def prepare(self) -> None:
        self.query_one("#confirm", Button).disabled = True
        self.query_one("#typed", Input).focus()

    @on(Input.Changed, "#typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = not self._matches(event.value)

    @on(Input.Submitted, "#typed")
    def _submitted(self, event: Input.Submitted) -> None:
        if self._matches(event.value):
            self.dismiss(True)
        else:
            self.notify(f"Type {self.expected_text} exactly, or press Escape", severity="warning")

    def _matches(self, value: str) -> bool:
        return value.strip().replace(",", "") == self.expected_text.replace(",", "")

    def action_confirm(self) -> None:
        if self._matches(self.query_one("#typed", Input).value):
            self.dismiss(True)


__all__ = ["ConfirmDialog", "TypedConfirmDialog"]
