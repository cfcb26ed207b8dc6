"""The Campaigns screen's dialogs: approve/reject (role and note), schedule (a send time), and
the scorecard (numbers, and an export). Each is the confirm step of its action: it answers a
request, or None when cancelled, and never calls a service itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from mailconsole.campaigns.scorecard import Scorecard
from mailconsole.campaigns.sendtime import parse_send_at
from mailconsole.errors import ValidationError
from mailconsole.sanitize import safe_text
from mailconsole.widgets.export_dialog import ExportRequest

DIALOG_CSS = """
{cls} {{
    align: center middle;
    background: $background 60%;
}}
{cls} > Vertical {{
    width: 72;
    max-width: 96%;
    height: auto;
    max-height: 96%;
    border: thick $primary;
    background: $surface;
    padding: 0 1;
}}
{cls}.-danger > Vertical {{ border: thick $error; }}
{cls} .dialog-title {{ text-style: bold; width: 100%; }}
{cls} .dialog-body {{ width: 100%; height: auto; margin-bottom: 1; }}
{cls} .dialog-error {{ color: $error; height: auto; }}
{cls} RadioSet {{ layout: horizontal; height: auto; width: auto; border: none; }}
{cls} .dialog-buttons {{ height: auto; width: 100%; align-horizontal: right; }}
{cls} Button {{ margin-left: 2; min-width: 10; }}
"""


def _title(verb: str, campaign_id: int, name: str) -> Text:
    text = Text(f"{verb} campaign {campaign_id} · ", style="bold", no_wrap=True, end="")
    text.append(safe_text(name, max_len=40))
    return text


# --- approve / reject ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRequest:
    role: str  # legal | brand
    note: str | None


class ReviewDialog(ModalScreen[ReviewRequest | None]):
    """Approve or reject the current version as legal/privacy or brand, with a note."""

    DEFAULT_CSS = DIALOG_CSS.format(cls="ReviewDialog")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(
        self,
        campaign_id: int,
        name: str,
        *,
        reject: bool = False,
        role: str = "legal",
        actor: str = "",
        version: str = "",
    ) -> None:
        super().__init__(classes="-danger" if reject else None)
        self.campaign_id = campaign_id
        self.campaign_name = name
        self.reject = reject
        self.role = role if role in ("legal", "brand") else "legal"
        self.actor = actor
        self.version = version

    def compose(self) -> ComposeResult:
        verb = "Reject" if self.reject else "Approve"
        with Vertical():
            yield Label(_title(verb, self.campaign_id, self.campaign_name), classes="dialog-title")
            body = (
                f"{'The rejection' if self.reject else 'The approval'} holds for this version "
                f"only ({self.version or 'as Listmonk has it now'}): any edit in Listmonk "
                f"voids it. Recorded as {self.actor or 'you'}."
            )
            yield Static(safe_text(body, one_line=False), classes="dialog-body")
            with RadioSet(id="review-role"):
                yield RadioButton(
                    "legal/privacy", value=self.role == "legal", name="legal", id="role-legal"
                )
                yield RadioButton(
                    "brand", value=self.role == "brand", name="brand", id="role-brand"
                )
            yield Label(Text("Note (what must change):" if self.reject else "Note:"))
            yield Input(placeholder="consent wording, unsubscribe link, logo…", id="review-note")
            yield Static("", id="review-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(verb, id="confirm", variant="error" if self.reject else "primary")

    def on_mount(self) -> None:
        self.query_one("#review-note", Input).focus()

    @on(RadioSet.Changed, "#review-role")
    def _role(self, event: RadioSet.Changed) -> None:
        if event.pressed.name in ("legal", "brand"):
            self.role = event.pressed.name

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted, "#review-note")
    def action_confirm(self) -> None:
        note = self.query_one("#review-note", Input).value.strip() or None
        if self.reject and not note:
            self.query_one("#review-error", Static).update(
                Text("A rejection needs a note that says what to change.")
            )
            return
        self.dismiss(ReviewRequest(self.role, note))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


# --- schedule ----------------------------------------------------------------------------------


class ScheduleDialog(ModalScreen[datetime | None]):
    """When to send (UTC, or +2h); the body says whether the checklist holds as last loaded."""

    DEFAULT_CSS = DIALOG_CSS.format(cls="ScheduleDialog")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, campaign_id: int, name: str, now: datetime, checklist: Text) -> None:
        super().__init__()
        self.campaign_id = campaign_id
        self.campaign_name = name
        self.now = now
        self.checklist = checklist

    def compose(self) -> ComposeResult:
        default = (self.now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
        with Vertical():
            yield Label(
                _title("Schedule", self.campaign_id, self.campaign_name), classes="dialog-title"
            )
            yield Static(self.checklist, classes="dialog-body")
            yield Label(Text("Send at (UTC: YYYY-MM-DD HH:MM, or +2h):"))
            yield Input(value=default, id="schedule-at")
            yield Static("", id="schedule-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Schedule", id="confirm", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#schedule-at", Input).focus()

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted, "#schedule-at")
    def action_confirm(self) -> None:
        error = self.query_one("#schedule-error", Static)
        try:
            when = parse_send_at(self.query_one("#schedule-at", Input).value, self.now)
        except ValidationError as exc:
            error.update(safe_text(str(exc)))
            return
        if when <= self.now:
            error.update(Text("That time is in the past: give a future time (UTC)."))
            return
        self.dismiss(when)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


# --- scorecard ---------------------------------------------------------------------------------


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def scorecard_text(card: Scorecard) -> Text:
    """The numbers, aligned, for the dialog (pure: a scorecard in, a renderable out)."""
    text = Text()
    text.append(f"{card.status} · window {card.window_start:%Y-%m-%d %H:%M} → ")
    text.append(f"{card.window_end:%Y-%m-%d %H:%M} UTC\n")
    text.append(f"{'sent':8} {card.sent:>9,}  of {card.to_send:,}\n")
    for label, count, rate in (
        ("views", card.views, card.view_rate),
        ("clicks", card.clicks, card.click_rate),
        ("bounces", card.bounces, card.bounce_rate),
    ):
        text.append(f"{label:8} {count:>9,}  {_pct(rate):>7}\n")
    if card.days:
        text.append("by day: ", style="dim")
        text.append(
            "  ".join(f"{d.day:%m-%d} {d.views}/{d.clicks}/{d.bounces}" for d in card.days[-5:]),
            style="dim",
        )
        text.append("  (views/clicks/bounces)", style="dim")
    return text


def default_scorecard_name(campaign_id: int, now: datetime, fmt: str) -> str:
    return f"mailconsole-scorecard-{campaign_id}-{now:%Y%m%dT%H%M%SZ}.{fmt}"


class ScorecardDialog(ModalScreen[ExportRequest | None]):
    """The scorecard; Export answers where to write it (CSV or JSON), Close answers None."""

    DEFAULT_CSS = DIALOG_CSS.format(cls="ScorecardDialog")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Close", id="dialog.cancel"),
    ]

    def __init__(self, card: Scorecard, now: datetime) -> None:
        super().__init__()
        self.card = card
        self.now = now
        self.fmt = "csv"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                _title("Scorecard of", self.card.campaign_id, self.card.campaign),
                classes="dialog-title",
            )
            yield Static(scorecard_text(self.card), classes="dialog-body", id="scorecard-numbers")
            yield Label(Text("Export to (relative to the current directory):"))
            yield Input(
                value=default_scorecard_name(self.card.campaign_id, self.now, "csv"),
                id="scorecard-path",
            )
            with RadioSet(id="scorecard-format"):
                yield RadioButton("csv", value=True, name="csv")
                yield RadioButton("json", name="json")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="cancel")
                yield Button("Export", id="export", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(RadioSet.Changed, "#scorecard-format")
    def _format(self, event: RadioSet.Changed) -> None:
        fmt = event.pressed.name or "csv"
        path = self.query_one("#scorecard-path", Input)
        if path.value == default_scorecard_name(self.card.campaign_id, self.now, self.fmt):
            path.value = default_scorecard_name(self.card.campaign_id, self.now, fmt)
        self.fmt = fmt

    @on(Button.Pressed, "#export")
    @on(Input.Submitted, "#scorecard-path")
    def _export(self) -> None:
        value = self.query_one("#scorecard-path", Input).value.strip()
        if not value:
            self.notify("Give a file name for the export", severity="warning")
            return
        self.dismiss(ExportRequest(path=Path(value).expanduser(), fmt=self.fmt))  # type: ignore[arg-type]

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


__all__ = [
    "ReviewDialog",
    "ReviewRequest",
    "ScheduleDialog",
    "ScorecardDialog",
    "scorecard_text",
]
