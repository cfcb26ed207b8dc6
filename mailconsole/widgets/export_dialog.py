"""Where to export the filtered view, and in which format.

The default path is `mailconsole-export-<UTC time>.<fmt>` in the current directory (the time
comes from the screen's clock, so tests and snapshots see a fixed name). Changing the format
changes the default extension until the user edits the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet

from mailconsole.sanitize import safe_text

Format = Literal["csv", "json", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "json", "jsonl")


def default_export_name(now: datetime, fmt: Format = "csv") -> str:
    return f"mailconsole-export-{now:%Y%m%dT%H%M%SZ}.{fmt}"


@dataclass(frozen=True)
class ExportRequest:
    path: Path
    fmt: Format


class ExportDialog(ModalScreen[ExportRequest | None]):
    """Path and format for an export of `description` (what is exported, e.g. the filter)."""

    DEFAULT_CSS = """
    ExportDialog {
        align: center middle;
        background: $background 60%;
    }
    ExportDialog > Vertical {
        width: 76;
        max-width: 96%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    ExportDialog .dialog-title { text-style: bold; width: 100%; }
    ExportDialog RadioSet { layout: horizontal; height: auto; width: auto; border: none; }
    ExportDialog .dialog-buttons { height: auto; width: 100%; align-horizontal: right; }
    ExportDialog Button { margin-left: 2; min-width: 10; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="export_dialog.cancel"),
    ]

    def __init__(self, description: str, now: datetime, *, fmt: Format = "csv") -> None:
        super().__init__()
        self.description = description
        self.now = now
        self.fmt: Format = fmt

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe_text(f"Export {self.description}"), classes="dialog-title")
            yield Label("File (relative to the current directory):")
            yield Input(value=default_export_name(self.now, self.fmt), id="export-path")
            with RadioSet(id="export-format"):
                for fmt in FORMATS:
                    yield RadioButton(fmt, value=fmt == self.fmt, name=fmt)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Export", id="export", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    @on(RadioSet.Changed, "#export-format")
    def _format(self, event: RadioSet.Changed) -> None:
        fmt = event.pressed.name
        if fmt not in FORMATS:
            return
        path_input = self.query_one("#export-path", Input)
        if path_input.value == default_export_name(self.now, self.fmt):
            path_input.value = default_export_name(self.now, fmt)  # type: ignore[arg-type]
        self.fmt = fmt  # type: ignore[assignment]

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export")
    def _export(self) -> None:
        value = self.query_one("#export-path", Input).value.strip()
        if not value:
            self.notify("Give a file name for the export", severity="warning")
            return
        self.dismiss(ExportRequest(path=Path(value).expanduser(), fmt=self.fmt))

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


__all__ = ["ExportDialog", "ExportRequest", "default_export_name"]
