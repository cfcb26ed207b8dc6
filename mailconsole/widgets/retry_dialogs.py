"""The bulk-retry dialogs: the plan with its confirm, and the progress while it runs.

`RetryPlanDialog` shows what the retry service planned (`services.retry.RetryPlan`): how many
matched, how many will be re-queued, what is not retryable and why (by status), the counts by
error code, domain and backend, and the time span. Its confirm names the selection: "Retry N
selected messages" or "Retry all N messages matching <filter>". Above the typed-confirm
threshold the user types N before the button works. It answers True only on an explicit yes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static

from mailconsole.sanitize import safe_text

TOP = 5


def _pairs(value: Any) -> list[tuple[str, int]]:
    """A count breakdown as (key, count) pairs, largest first (dicts or lists of pairs)."""
    if not value:
        return []
    items: Iterable[Any] = value.items() if isinstance(value, Mapping) else value
    pairs: list[tuple[str, int]] = []
    for item in items:
        if isinstance(item, tuple | list) and len(item) == 2:
            key, count = item
        else:  # a read model with key/count fields
            key = getattr(item, "key", None) or getattr(item, "name", None)
            count = getattr(item, "count", 0)
        pairs.append(("(none)" if key in (None, "") else str(key), int(count)))
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return pairs


def breakdown(value: Any, top: int = TOP) -> Text:
    pairs = _pairs(value)
    if not pairs:
        return Text("—", style="dim")
    parts = [safe_text(key) + Text(f" {count:,}", style="bold") for key, count in pairs[:top]]
    out = Text(" · ").join(parts)
    if len(pairs) > top:
        rest = sum(c for _, c in pairs[top:])
        out.append(f" · +{len(pairs) - top} more ({rest:,})", style="dim")
    return out


def _time(value: datetime | None) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d %H:%M}Z"


def selection_phrase(plan: Any, filter_text: str | None = None) -> str:
    """The confirm sentence, naming what the retry acts on."""
    n = int(plan.retryable)
    noun = "message" if n == 1 else "messages"
    if getattr(plan, "selection", "ids") == "filter":
        described = filter_text if filter_text is not None else _describe_filter(plan)
        return f"Retry all {n:,} {noun} matching {described or 'no filter (every message)'}"
    return f"Retry {n:,} selected {noun}"


def _describe_filter(plan: Any) -> str:
    flt = getattr(plan, "filter", None) or getattr(plan, "flt", None)
    describe = getattr(flt, "describe", None)
    return describe() if callable(describe) else ""


def plan_table(plan: Any) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    matched, retryable = int(plan.matched), int(plan.retryable)
    grid.add_row("Matched", Text(f"{matched:,}"))
    grid.add_row("Retryable", Text(f"{retryable:,}", style="bold"))
    not_retryable = _pairs(getattr(plan, "not_retryable", None))
    skipped = sum(c for _, c in not_retryable)
    if skipped:
        grid.add_row(
            "Not retryable",
            Text(f"{skipped:,} ") + Text("(") + breakdown(not_retryable) + Text(")"),
        )
    else:
        grid.add_row("Not retryable", Text("0"))
    grid.add_row("By error code", breakdown(getattr(plan, "by_error_code", None)))
    grid.add_row("By domain", breakdown(getattr(plan, "by_domain", None)))
    grid.add_row("By backend", breakdown(getattr(plan, "by_backend", None)))
    grid.add_row(
        "Created",
        Text(f"{_time(getattr(plan, 'oldest', None))} … {_time(getattr(plan, 'newest', None))}"),
    )
    return grid


class RetryPlanDialog(ModalScreen[bool]):
    """The plan, then "Retry N …?"; typed confirmation of N above `typed_threshold`."""

    DEFAULT_CSS = """
    RetryPlanDialog {
        align: center middle;
        background: $background 60%;
    }
    RetryPlanDialog > Vertical {
        width: 90;
        max-width: 96%;
        height: auto;
        max-height: 96%;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    RetryPlanDialog .dialog-title { text-style: bold; width: 100%; }
    RetryPlanDialog VerticalScroll { height: auto; max-height: 14; }
    RetryPlanDialog .retry-question { text-style: bold; width: 100%; margin-top: 1; }
    RetryPlanDialog Input { margin-top: 0; }
    RetryPlanDialog .dialog-buttons { height: auto; width: 100%; align-horizontal: right; }
    RetryPlanDialog Button { margin-left: 2; min-width: 10; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="retry_dialog.cancel"),
    ]

    def __init__(self, plan: Any, *, typed_threshold: int, filter_text: str | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.count = int(plan.retryable)
        self.typed = self.count > typed_threshold
        self.question = selection_phrase(plan, filter_text)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Bulk retry: plan", classes="dialog-title")
            with VerticalScroll():
                yield Static(plan_table(self.plan), id="retry-plan")
            if self.count == 0:
                yield Label("Nothing here can be retried.", classes="retry-question")
            else:
                yield Label(
                    safe_text(self.question + "?"), classes="retry-question", id="retry-question"
                )
                if self.typed:
                    yield Label(Text(f"Type {self.count} to confirm:"))
                    yield Input(placeholder=str(self.count), id="typed")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                label = f"Retry {self.count:,}" if self.count else "Retry"
                yield Button(label, id="confirm", variant="warning")

    def on_mount(self) -> None:
        confirm = self.query_one("#confirm", Button)
        confirm.disabled = self.count == 0 or self.typed
        if self.typed:
            self.query_one("#typed", Input).focus()
        elif self.count == 0:
            self.query_one("#cancel", Button).focus()
        else:
            confirm.focus()

    def _matches(self, value: str) -> bool:
        return value.strip().replace(",", "").replace("_", "") == str(self.count)

    @on(Input.Changed, "#typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = not self._matches(event.value)

    @on(Input.Submitted, "#typed")
    def _typed_submit(self, event: Input.Submitted) -> None:
        if self._matches(event.value):
            self.dismiss(True)
        else:
            self.notify(f"Type {self.count} exactly, or press Escape", severity="warning")

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        if self.count and (not self.typed or self._matches(self.query_one("#typed", Input).value)):
            self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)


class ProgressDialog(ModalScreen[None]):
    """A progress bar for a long operation; the caller updates it and dismisses it."""

    DEFAULT_CSS = """
    ProgressDialog {
        align: center middle;
        background: $background 60%;
    }
    ProgressDialog > Vertical {
        width: 60;
        max-width: 95%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 1 2;
    }
    ProgressDialog ProgressBar { width: 100%; margin-top: 1; }
    """

    def __init__(self, title: str, total: int | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.total = total

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe_text(self.title_text), id="progress-title")
            yield ProgressBar(total=self.total, show_eta=False, id="progress-bar")

    def update_progress(self, done: int, total: int | None) -> None:
        bar = self.query_one("#progress-bar", ProgressBar)
        bar.update(total=total, progress=done)


__all__ = ["ProgressDialog", "RetryPlanDialog", "breakdown", "plan_table", "selection_phrase"]
