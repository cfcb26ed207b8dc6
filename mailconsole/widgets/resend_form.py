"""The resend form: send one message again as a new message, with optional overrides.

The form only collects what the user wants; the screen calls `services.retry.resend`, which
never mutates the source and records `replay_of` on the new message. Only fields the user
changed become overrides (None means "as the original"), so the audit shows what differed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from mailconsole.sanitize import clean, safe_text


@dataclass(frozen=True)
class ResendRequest:
    message_id: int
    to: str | None
    subject: str | None
    backend: str | None
    reason: str | None


class ResendForm(ModalScreen[ResendRequest | None]):
    """To, subject, backend (a configured account) and reason; Ctrl+S or the button sends."""

    DEFAULT_CSS = """
    ResendForm {
        align: center middle;
        background: $background 60%;
    }
    ResendForm > Vertical {
        width: 80;
        max-width: 96%;
        height: auto;
        max-height: 96%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    ResendForm .dialog-title { text-style: bold; width: 100%; margin-bottom: 1; }
    ResendForm Grid {
        grid-size: 2;
        grid-columns: 10 1fr;
        grid-rows: 3;
        height: auto;
    }
    ResendForm Grid > Label { padding-top: 1; }
    ResendForm .dialog-buttons { height: auto; width: 100%; align-horizontal: right; }
    ResendForm Button { margin-left: 2; min-width: 10; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="resend_form.cancel"),
        Binding("ctrl+s", "send", "Resend", id="resend_form.send"),
    ]

    def __init__(self, row: Any, backends: Sequence[str]) -> None:
        super().__init__()
        self.row = row
        self.backends = list(backends)
        self._to = clean(_addresses(row.to_addrs), one_line=True)
        self._subject = clean(row.subject, one_line=True)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                safe_text(f"Resend message #{self.row.id} as a new message"), classes="dialog-title"
            )
            with Grid():
                yield Label("To")
                yield Input(value=self._to, id="resend-to")
                yield Label("Subject")
                yield Input(value=self._subject, id="resend-subject")
                yield Label("Backend")
                yield Select(
                    [(name, name) for name in self.backends],
                    prompt="as routed (default)",
                    allow_blank=True,
                    id="resend-backend",
                )
                yield Label("Reason")
                yield Input(placeholder="why (for the audit trail)", id="resend-reason")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Resend", id="send", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#resend-to", Input).focus()

    def request(self) -> ResendRequest:
        to = self.query_one("#resend-to", Input).value.strip()
        subject = self.query_one("#resend-subject", Input).value.strip()
        backend = self.query_one("#resend-backend", Select).value
        reason = self.query_one("#resend-reason", Input).value.strip()
        return ResendRequest(
            message_id=self.row.id,
            to=to if to and to != self._to else None,
            subject=subject if subject and subject != self._subject else None,
            backend=backend if isinstance(backend, str) and backend else None,
            reason=reason or None,
        )

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_send()

    @on(Button.Pressed, "#send")
    def _send(self) -> None:
        self.action_send()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_send(self) -> None:
        self.dismiss(self.request())

    def action_cancel(self) -> None:
        self.dismiss(None)


def _addresses(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(value)
    return str(value or "").replace(",", ", ").replace(",  ", ", ")


__all__ = ["ResendForm", "ResendRequest"]
