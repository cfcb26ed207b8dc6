"""Alerts: every rule with its current value, threshold, state, last fired and cooldown left; the
notices sent; acknowledge (confirm) and silence (a duration and a reason), both audited by the
alerts service and refused there in read-only mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Label, Static

from mailconsole.alerts import service
from mailconsole.alerts.notifiers import DeliveryResult
from mailconsole.alerts.service import AlertView, EvaluationReport, NotificationView
from mailconsole.clock import format_duration, parse_duration
from mailconsole.context import AppContext
from mailconsole.sanitize import safe_text
from mailconsole.screens.base import MailconsoleScreen, describe_error
from mailconsole.widgets.timefmt import ago, stamp

HISTORY_LIMIT = 50


@dataclass(frozen=True)
class AlertsData:
    alerts: list[AlertView]
    history: list[NotificationView]
    problems: dict[str, str]
    now: datetime


def load_alerts(ctx: AppContext) -> AlertsData:
    return AlertsData(
        alerts=service.list_alerts(ctx),
        history=service.history(ctx, HISTORY_LIMIT),
        problems=service.notifier_problems(ctx),
        now=ctx.clock.now(),
    )


# --- rendering (pure: data in, renderables out) -----------------------------------------------


def state_text(a: AlertView, now: datetime) -> Text:
    """`CRITICAL`, `WARNING acked`, `ok silenced 1h 54m`: the state first, then what mutes it."""
    text = Text(no_wrap=True)
    if a.state == "firing":
        text.append((a.level or "critical").upper(), style="bold reverse")
    elif not a.enabled:
        text.append("disabled", style="dim")
    else:
        text.append("ok")
    if a.acked_by:
        text.append(" acked", style="bold")
    if a.status == "silenced":
        text.append(f" silenced {format_duration(_left(a.silenced_until, now))}", style="italic")
    return text


def _left(until: datetime | None, now: datetime) -> float:
    return max(0.0, (until - now).total_seconds()) if until else 0.0


def alert_row(a: AlertView, now: datetime) -> tuple[Text, ...]:
    watches = a.metric + (f" @{a.backend}" if a.backend else "")
    return (
        safe_text(a.rule),
        state_text(a, now),
        Text(a.value_text, justify="right", style="bold" if a.state == "firing" else ""),
        Text(a.threshold_text, justify="right"),
        Text(a.warning_text or "—", justify="right", style="" if a.warning_text else "dim"),
        Text(ago(a.last_fired, now)),
        Text(format_duration(a.cooldown_left_s) if a.cooldown_left_s is not None else "—"),
        safe_text(watches),
    )


def detail_text(a: AlertView, now: datetime) -> Text:
    out = Text()
    out.append(safe_text(a.rule, style="bold"))
    out.append("  ")
    out.append(safe_text(a.description))
    if a.detail:
        out.append("\nnow: ")
        out.append(safe_text(a.detail, max_len=200))
    out.append(f"\nnotify: {', '.join(a.notify) or 'nobody (no notifier configured)'}")
    out.append(f" · cooldown {format_duration(a.cooldown_s)}")
    if a.state == "firing":
        out.append(f" · firing since {ago(a.since, now)}")
        if a.suppressed_repeats:
            plural = "s" if a.suppressed_repeats != 1 else ""
            out.append(f" · {a.suppressed_repeats} repeat{plural} suppressed")
    if a.acked_by:
        out.append("\nacknowledged by ")
        out.append(safe_text(a.acked_by))
        out.append(f" {ago(a.acked_at, now)}")
    if a.silenced_until:
        out.append(f"\nsilenced until {stamp(a.silenced_until)} by ")
        out.append(safe_text(a.silenced_by or "?"))
    return out


def history_row(n: NotificationView, now: datetime) -> tuple[Text, ...]:
    kind = n.kind + (f" ({n.level})" if n.level and n.kind != "resolved" else "")
    return (
        Text(stamp(n.at)),
        safe_text(n.rule),
        Text(kind),
        safe_text(n.target),
        Text(n.status, style="bold" if n.status == "failed" else ""),
        Text(str(n.tries), justify="right"),
        safe_text(n.error or "", max_len=60),
    )


def summary_text(data: AlertsData, read_only: bool) -> Text:
    firing = [a for a in data.alerts if a.state == "firing"]
    crit = sum(1 for a in firing if a.level == "critical")
    silenced = sum(1 for a in data.alerts if a.status == "silenced")
    text = Text(no_wrap=True, overflow="ellipsis")
    if firing:
        text.append(f"{len(firing)} firing", style="bold")
        text.append(f" ({crit} critical, {len(firing) - crit} warning)")
    else:
        text.append("All clear")
    text.append(f" · {len(data.alerts)} rules")
    if silenced:
        text.append(f" · {silenced} silenced")
    evaluated = max((a.last_evaluated for a in data.alerts if a.last_evaluated), default=None)
    text.append(f" · evaluated {ago(evaluated, data.now) if evaluated else 'never'}")
    if data.problems:
        text.append(f" · {len(data.problems)} notifier problem(s)", style="bold")
    if read_only:
        text.append(" · read-only", style="italic")
    return text


# --- the silence dialog ------------------------------------------------------------------------


@dataclass(frozen=True)
class SilenceRequest:
    duration: timedelta
    reason: str | None


class SilenceDialog(ModalScreen[SilenceRequest | None]):
    """How long to silence a rule (and why); answers a SilenceRequest, or None when cancelled."""

    DEFAULT_CSS = """
    SilenceDialog {
        align: center middle;
        background: $background 60%;
    }
    SilenceDialog > Vertical {
        width: 60;
        max-width: 95%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 1 2;
    }
    SilenceDialog .dialog-title { text-style: bold; width: 100%; margin-bottom: 1; }
    SilenceDialog #silence-error { color: $error; height: auto; }
    SilenceDialog .dialog-buttons { height: auto; width: 100%; align-horizontal: right; margin-top: 1; }
    SilenceDialog Button { margin-left: 2; min-width: 10; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, rule: str, default: str = "1h") -> None:
        super().__init__()
        self.rule = rule
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe_text(f"Silence {self.rule}"), classes="dialog-title")
            yield Static(
                Text(
                    "No notices from this rule until the time is up; it is still evaluated "
                    "and shown here. Audited with the reason."
                )
            )
            yield Label(Text("For (e.g. 30m, 2h, 1d):"))
            yield Input(value=self.default, id="silence-for")
            yield Label(Text("Reason:"))
            yield Input(placeholder="maintenance window, known incident…", id="silence-reason")
            yield Static("", id="silence-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Silence", id="confirm", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#silence-for", Input).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted)
    def action_confirm(self) -> None:
        raw = self.query_one("#silence-for", Input).value
        try:
            duration = parse_duration(raw)
        except ValueError as exc:
            self.query_one("#silence-error", Static).update(safe_text(str(exc)))
            return
        if duration <= timedelta(0):
            self.query_one("#silence-error", Static).update(Text("give a duration above 0"))
            return
        reason = self.query_one("#silence-reason", Input).value.strip() or None
        self.dismiss(SilenceRequest(duration, reason))


# --- the screen ---------------------------------------------------------------------------------


class AlertsScreen(MailconsoleScreen):
    """Alert rules and their state; acknowledge, silence, test, evaluate now."""

    SCREEN_TITLE = "Alerts"
    AUTO_REFRESH = True
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "acknowledge", "Acknowledge", id="alerts.acknowledge"),
        Binding("s", "silence", "Silence", id="alerts.silence"),
        Binding("S", "unsilence", "Unsilence", id="alerts.unsilence"),
        Binding("T", "test", "Test notice", id="alerts.test"),
        Binding("e", "evaluate", "Evaluate now", id="alerts.evaluate"),
        Binding("r", "reload", "Refresh", id="screen.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.data: AlertsData | None = None

    def compose_body(self) -> Iterable[Widget]:
        yield Static(Text("loading…", style="dim"), id="alerts-summary")
        with Vertical(id="alerts-body"):
            rules: DataTable[Text] = DataTable(id="alert-rules", cursor_type="row")
            rules.border_title = "Rules"
            yield rules
            yield Static("", id="alert-detail")
            notices: DataTable[Text] = DataTable(id="alert-history", cursor_type="row")
            notices.border_title = "Notices"
            yield notices

    def on_mount(self) -> None:
        self.query_one("#alert-rules", DataTable).add_columns(
            "Rule", "State", "Value", "Threshold", "Warn", "Fired", "Cooldown", "Watches"
        )
        self.query_one("#alert-history", DataTable).add_columns(
            "At", "Rule", "Kind", "Target", "Status", "Tries", "Error"
        )

    # --- refresh ------------------------------------------------------------------------------

    def reload(self) -> None:
        self.load(load_alerts, done=self.show_data, failed=self._load_failed, description="Alerts")

    def _load_failed(self, exc: BaseException) -> None:
        _title, message, _ = describe_error(exc)
        self.query_one("#alerts-summary", Static).update(
            safe_text(f"Refresh failed: {message}", style="bold")
        )

    def show_data(self, data: AlertsData) -> None:
        self.data = data
        now = data.now
        self.query_one("#alerts-summary", Static).update(summary_text(data, self.ctx.is_read_only))
        table = self.query_one("#alert-rules", DataTable)
        cursor = table.cursor_row
        table.clear()
        for a in data.alerts:
            table.add_row(*alert_row(a, now), key=a.rule)
        if table.row_count:
            table.move_cursor(row=min(max(cursor, 0), table.row_count - 1))
        self._show_detail()
        history = self.query_one("#alert-history", DataTable)
        history.clear()
        for n in data.history:
            history.add_row(*history_row(n, now))
        if not data.history:
            history.add_row(Text("no notices yet", style="dim"), *([Text("")] * 6))

    @on(DataTable.RowHighlighted, "#alert-rules")
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#alert-detail", Static)
        selected = self.selected()
        if selected is None or self.data is None:
            detail.update(Text("no rules", style="dim"))
            return
        text = detail_text(selected, self.data.now)
        for name in selected.notify:
            if name in self.data.problems:
                text.append("\n")
                text.append(safe_text(self.data.problems[name], style="bold", max_len=160))
        detail.update(text)

    def selected(self) -> AlertView | None:
        if self.data is None or not self.data.alerts:
            return None
        row = self.query_one("#alert-rules", DataTable).cursor_row
        if 0 <= row < len(self.data.alerts):
            return self.data.alerts[row]
        return None

    # --- actions --------------------------------------------------------------------------------

    def action_acknowledge(self) -> None:
        a = self.selected()
        if a is None:
            return
        if a.state != "firing" and not self.ctx.is_read_only:
            self.notify(f"{a.rule} is not firing: nothing to acknowledge", markup=False)
            return
        self.confirm_then(
            f"Acknowledge {a.rule}?",
            f"{a.rule} is {a.value_text} (threshold {a.threshold_text}). No repeats until it "
            "resolves, or until it turns critical. Recorded in the audit log as "
            f"{self.ctx.actor.name}.",
            lambda: self._run(
                service.acknowledge,
                a.rule,
                action="Acknowledge",
                done_text=f"{a.rule} acknowledged",
            ),
            confirm_label="Acknowledge",
        )

    def action_silence(self) -> None:
        a = self.selected()
        if a is None:
            return
        if self.ctx.is_read_only:  # the service refuses and audits the refusal; say why
            self._run(service.silence, a.rule, timedelta(hours=1), action="Silence", done_text="")
            return

        def answered(request: SilenceRequest | None) -> None:
            if request is None:
                return
            self._run(
                service.silence,
                a.rule,
                request.duration,
                reason=request.reason,
                action="Silence",
                done_text=f"{a.rule} silenced for {format_duration(request.duration.total_seconds())}",
            )

        self.app.push_screen(SilenceDialog(a.rule), answered)

    def action_unsilence(self) -> None:
        a = self.selected()
        if a is None:
            return
        if a.status != "silenced" and not self.ctx.is_read_only:
            self.notify(f"{a.rule} is not silenced", markup=False)
            return
        self.confirm_then(
            f"End the silence of {a.rule}?",
            "Notices from this rule resume at the next evaluation.",
            lambda: self._run(
                service.unsilence, a.rule, action="Unsilence", done_text=f"{a.rule}: notices resume"
            ),
            confirm_label="Unsilence",
        )

    def action_test(self) -> None:
        a = self.selected()
        if a is None:
            return
        targets = ", ".join(a.notify) or "no notifier"
        self.confirm_then(
            f"Send a test notice of {a.rule}?",
            f"A notice marked TEST goes to {targets} with the current value; the rule's state "
            "does not change.",
            lambda: self.call_service(
                service.test_alert,
                a.rule,
                done=self._tested,
                group="alerts-action",
                description=f"Test {a.rule}",
            ),
            confirm_label="Send test",
        )

    def _tested(self, results: list[DeliveryResult]) -> None:
        parts = [f"{r.target}: {r.status}" + (f" ({r.error})" if r.error else "") for r in results]
        failed = any(r.status != "sent" for r in results)
        self.notify(
            "; ".join(parts) or "no notifier",
            title="Test notice",
            severity="warning" if failed else "information",
            markup=False,
        )
        self.reload()

    def action_evaluate(self) -> None:
        self.call_service(
            service.evaluate,
            done=self._evaluated,
            group="alerts-action",
            description="Evaluate alerts",
        )

    def _evaluated(self, report: EvaluationReport) -> None:
        changed = [f"{o.rule}: {o.notice}" for o in report.rules if o.notice]
        message = "; ".join(changed) if changed else "no change"
        if report.failed:
            message += f" · {report.failed} notice(s) failed"
        self.notify(message, title="Evaluated", markup=False)
        self.reload()

    def _run(
        self, func: Callable[..., Any], *args: Any, action: str, done_text: str, **kwargs: Any
    ) -> None:
        self.call_service(
            func,
            *args,
            done=lambda _view: self._done(done_text),
            group="alerts-action",
            description=action,
            **kwargs,
        )

    def _done(self, text: str) -> None:
        if text:
            self.notify(text, markup=False)
        self.reload()
