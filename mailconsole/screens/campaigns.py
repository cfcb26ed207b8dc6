"""Campaigns & approvals: Listmonk's campaigns with status, lists, audience, schedule, progress
and the approval state of their current version; a detail pane with the governance checklist;
approve/reject, consent check, test send, schedule, start (both gated by the service), pause and
cancel (never gated), and the scorecard. Every action asks first; every refusal (read-only, a
checklist that does not hold, a status that forbids the move) comes back as a notification in
the service's own words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Static

from mailconsole.campaigns import service
from mailconsole.campaigns.consent import ConsentResult
from mailconsole.campaigns.governance import OK, VOIDED, Governance
from mailconsole.campaigns.scorecard import Scorecard
from mailconsole.campaigns.service import CampaignActionResult, CampaignList, CampaignRow
from mailconsole.context import AppContext
from mailconsole.errors import ReadOnlyError
from mailconsole.sanitize import safe_text
from mailconsole.screens.base import MailconsoleScreen, describe_error
from mailconsole.widgets.campaign_dialogs import (
    ReviewDialog,
    ReviewRequest,
    ScheduleDialog,
    ScorecardDialog,
)
from mailconsole.widgets.export_dialog import ExportRequest
from mailconsole.widgets.timefmt import ago, stamp

STATUS_FILTERS: tuple[str | None, ...] = (
    None,
    "draft",
    "scheduled",
    "running",
    "paused",
    "finished",
    "cancelled",
)
MIN_REFRESH_SECONDS = 30.0  # every refresh reads every campaign page from Listmonk
MARK_STYLE = {OK: "bold", VOIDED: "italic", "rejected": "bold reverse", "failed": "bold reverse"}


def load_campaigns(ctx: AppContext, status: str | None) -> CampaignList:
    return service.list_campaigns(ctx, status=status)


# --- rendering (pure: data in, renderables out) -----------------------------------------------


def mark_text(gov: Governance, kind: str) -> Text:
    item = gov.item(kind)
    return Text(item.mark, style=MARK_STYLE.get(item.state, "dim"), justify="center")


def progress_text(row: CampaignRow) -> Text:
    if row.progress is None:
        return Text("—", style="dim")
    text = f"{row.progress * 100:.0f}%"
    if row.rate:
        text += f" {row.rate:g}/m"
    return Text(text, justify="right")


def status_text(row: CampaignRow) -> Text:
    style = {"running": "bold", "paused": "bold italic", "scheduled": "italic"}.get(row.status, "")
    return Text(row.status, style=style)


def campaign_row(row: CampaignRow, now: datetime) -> tuple[Text, ...]:
    gov = row.governance
    audience = f"~{row.audience:,}" if row.audience_estimated else f"{row.audience:,}"
    return (
        Text(str(row.id), justify="right"),
        status_text(row),
        safe_text(row.name, max_len=28),
        mark_text(gov, "legal"),
        mark_text(gov, "brand"),
        mark_text(gov, "consent"),
        mark_text(gov, "test_send"),
        Text(audience, justify="right"),
        Text(stamp(row.send_at) if row.send_at else "—", style="" if row.send_at else "dim"),
        progress_text(row),
        safe_text(", ".join(lst.name for lst in row.lists), max_len=40),
    )


def detail_text(row: CampaignRow, now: datetime) -> Text:
    """The governance checklist of the highlighted campaign."""
    gov = row.governance
    out = Text(no_wrap=True, overflow="ellipsis")  # one line per fact, even at 80 columns
    out.append(f"#{row.id} ", style="bold")
    out.append(safe_text(row.name, style="bold", max_len=50))
    out.append(f" · {row.status} · edited {ago(row.updated_at, now)}")
    if row.send_at:
        out.append(f" · sends {stamp(row.send_at)}")
    out.append("\nlists: ")
    if row.lists:
        for i, lst in enumerate(row.lists):
            if i:
                out.append(" · ")
            out.append(safe_text(lst.name, max_len=30))
            out.append(f" ({lst.type}, {lst.optin} opt-in, {lst.subscribers:,})")
    else:
        out.append("none", style="dim")
    for item in gov.items:
        out.append("\n")
        out.append(f"{item.mark:>4} ", style=MARK_STYLE.get(item.state, "dim"))
        out.append(f"{item.label:23} ")
        out.append(safe_text(item.summary(), max_len=160))
    out.append("\n")
    if gov.ready:
        out.append("Ready: the checklist holds for this version.", style="bold")
    else:
        out.append("Missing: ", style="bold")
        out.append(safe_text("; ".join(gov.missing()), max_len=300))
    return out


def summary_text(data: CampaignList, status: str | None, read_only: bool) -> Text:
    """What needs attention first (voided approvals, ready campaigns), then the counts."""
    counts = data.counts()
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{len(data.rows)} campaigns", style="bold")
    if status:
        text.append(f" ({status})")
    voided = sum(1 for r in data.rows if r.governance.voided)
    ready = sum(1 for r in data.rows if r.governance.ready)
    if voided:
        text.append(f" · {voided} voided by edit", style="bold")
    if ready:
        text.append(f" · {ready} ready")
    for key in ("running", "scheduled", "paused", "draft"):
        if counts.get(key):
            text.append(f" · {counts[key]} {key}")
    if read_only:
        text.append(" · read-only", style="italic")
    return text


def checklist_line(gov: Governance) -> Text:
    """One paragraph for a confirm dialog: does the checklist hold, as last loaded?"""
    if gov.ready:
        return Text(
            "The checklist holds for this version (approvals, consent check, test send). "
            "It is checked again, live, before Listmonk is asked."
        )
    text = Text("Not ready as last loaded: ", style="bold")
    text.append(safe_text("; ".join(gov.missing()), one_line=False))
    text.append(". The service checks again and will refuse with what is missing.")
    return text


# --- the screen ---------------------------------------------------------------------------------


class CampaignsScreen(MailconsoleScreen):
    """Listmonk campaigns and their governance: approvals, consent, test send, schedule."""

    SCREEN_TITLE = "Campaigns & approvals"
    AUTO_REFRESH = True
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("A", "approve", "Approve", id="campaigns.approve"),
        Binding("R", "reject", "Reject", id="campaigns.reject"),
        Binding("O", "consent", "Consent check", id="campaigns.consent"),
        Binding("T", "test_send", "Test send", id="campaigns.test_send"),
        Binding("S", "schedule", "Schedule", id="campaigns.schedule"),
        Binding("G", "start", "Start", id="campaigns.start"),
        Binding("P", "pause", "Pause", id="campaigns.pause"),
        Binding("C", "cancel_campaign", "Cancel", id="campaigns.cancel"),
        Binding("s", "scorecard", "Scorecard", id="campaigns.scorecard"),
        Binding("f", "filter", "Filter status", id="campaigns.filter"),
        Binding("r", "reload", "Refresh", id="screen.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.data: CampaignList | None = None
        self.status_filter: str | None = None

    def compose_body(self) -> Iterable[Widget]:
        yield Static(Text("loading campaigns from Listmonk…", style="dim"), id="campaigns-summary")
        with Vertical(id="campaigns-body"):
            table: DataTable[Text] = DataTable(id="campaigns-table", cursor_type="row")
            table.border_title = "Campaigns"
            yield table
            yield Static("", id="campaign-detail")

    def on_mount(self) -> None:
        self.query_one("#campaigns-table", DataTable).add_columns(
            "ID", "Status", "Name", "Legal", "Brand", "Consent", "Test", "Audience", "Send at",
            "Progress", "Lists",
        )  # fmt: skip

    # --- refresh ------------------------------------------------------------------------------

    def reload(self) -> None:
        self.load(
            load_campaigns,
            self.status_filter,
            done=self.show_data,
            failed=self._load_failed,
            description="Campaigns",
        )

    def _load_failed(self, exc: BaseException) -> None:
        _title, message, _ = describe_error(exc)
        self.query_one("#campaigns-summary", Static).update(
            safe_text(f"Listmonk: {message}", style="bold")
        )

    def refresh_interval(self) -> float:
        seconds = super().refresh_interval()
        return max(seconds, MIN_REFRESH_SECONDS) if seconds else 0.0

    def show_data(self, data: CampaignList) -> None:
        self.data = data
        now = data.generated_at
        self.query_one("#campaigns-summary", Static).update(
            summary_text(data, self.status_filter, self.ctx.is_read_only)
        )
        table = self.query_one("#campaigns-table", DataTable)
        selected = self.selected()
        keep = selected.id if selected is not None else None
        table.clear()
        for row in data.rows:
            table.add_row(*campaign_row(row, now), key=str(row.id))
        if table.row_count:
            index = next((i for i, r in enumerate(data.rows) if r.id == keep), 0)
            table.move_cursor(row=index)
        self._show_detail()

    @on(DataTable.RowHighlighted, "#campaigns-table")
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#campaign-detail", Static)
        row = self.selected()
        if row is None or self.data is None:
            detail.update(Text("no campaigns", style="dim"))
            return
        detail.update(detail_text(row, self.data.generated_at))

    def selected(self) -> CampaignRow | None:
        if self.data is None or not self.data.rows:
            return None
        table = self.query_one("#campaigns-table", DataTable)
        if not table.row_count:
            return None
        row = table.cursor_row
        if 0 <= row < len(self.data.rows):
            return self.data.rows[row]
        return None

    def action_filter(self) -> None:
        index = STATUS_FILTERS.index(self.status_filter)
        self.status_filter = STATUS_FILTERS[(index + 1) % len(STATUS_FILTERS)]
        self.reload()

    # --- approvals ------------------------------------------------------------------------------

    def action_approve(self) -> None:
        self._review(reject=False)

    def action_reject(self) -> None:
        self._review(reject=True)

    def _review(self, *, reject: bool) -> None:
        row = self.selected()
        if row is None:
            return
        func = service.reject if reject else service.approve
        verb = "Reject" if reject else "Approve"
        if self.ctx.is_read_only:  # the service refuses (and audits it); say why at once
            self._run(func, row.id, "legal", None, action=verb)
            return
        gov = row.governance
        role = "brand" if not reject and gov.item("legal").ok else "legal"
        version = f"version {gov.fingerprint[:12]}" if gov.fingerprint else ""

        def answered(request: ReviewRequest | None) -> None:
            if request is None:
                return
            self._run(
                func,
                row.id,
                request.role,
                request.note,
                action=verb,
                done=lambda _result: self._done(
                    f"campaign {row.id}: {request.role} {'rejected' if reject else 'approved'}"
                ),
            )

        self.app.push_screen(
            ReviewDialog(
                row.id, row.name, reject=reject, role=role, actor=self.ctx.actor.name,
                version=version,
            ),
            answered,
        )  # fmt: skip

    # --- checks ---------------------------------------------------------------------------------

    def action_consent(self) -> None:
        row = self.selected()
        if row is None:
            return
        self.confirm_then(
            f"Run the consent check of campaign {row.id}?",
            "Checks that every public target list is double opt-in and counts who would "
            f"receive it without {self.ctx.config.listmonk.marketing_attribute} = true. The "
            "result is recorded against this version.",
            lambda: self._run(
                service.consent_check, row.id, action="Consent check", done=self._consent_done
            ),
            confirm_label="Check",
        )

    def _consent_done(self, result: ConsentResult) -> None:
        if result.passed:
            self.notify(
                f"campaign {result.campaign_id}: consent check passed",
                title="Consent check",
                markup=False,
            )
        else:
            message = "; ".join(result.problems)
            if result.samples:
                message += " (e.g. " + ", ".join(result.samples) + ")"
            self.notify(
                message, title="Consent check FAILED", severity="warning", markup=False, timeout=12
            )
        self.reload()

    def action_test_send(self) -> None:
        row = self.selected()
        if row is None:
            return
        testers = self.ctx.config.listmonk.testers_list
        self.confirm_then(
            f"Send a test of campaign {row.id}?",
            f'The campaign as it is now goes to the subscribers of the "{testers}" list, and '
            "the test send is recorded against this version.",
            lambda: self._run(
                service.test_send,
                row.id,
                action="Test send",
                done=lambda r: self._done(
                    f"test of campaign {r.campaign_id} sent to {len(r.recipients)} tester(s): "
                    + ", ".join(r.recipients)
                ),
            ),
            confirm_label="Send test",
        )

    # --- status moves ---------------------------------------------------------------------------

    def action_schedule(self) -> None:
        row = self.selected()
        if row is None:
            return
        now = self.ctx.clock.now()
        if self.ctx.is_read_only:
            self._run(service.schedule, row.id, now + timedelta(hours=1), action="Schedule")
            return

        def answered(when: datetime | None) -> None:
            if when is not None:
                self._run(service.schedule, row.id, when, action="Schedule", done=self._moved)

        self.app.push_screen(
            ScheduleDialog(row.id, row.name, now, checklist_line(row.governance)), answered
        )

    def action_start(self) -> None:
        row = self.selected()
        if row is None:
            return
        body = Text(f"Listmonk starts sending to about {row.audience:,} subscribers now.\n")
        body.append(checklist_line(row.governance))
        self.confirm_then(
            f"Start campaign {row.id} now?",
            body,
            lambda: self._run(service.start, row.id, action="Start", done=self._moved),
            danger=True,
            confirm_label="Start",
        )

    def action_pause(self) -> None:
        row = self.selected()
        if row is None:
            return
        self.confirm_then(
            f"Pause campaign {row.id}?",
            "Listmonk stops sending at once; start it again later (the checklist is checked "
            "then). Pausing is never gated.",
            lambda: self._run(service.pause, row.id, action="Pause", done=self._moved),
            confirm_label="Pause",
        )

    def action_cancel_campaign(self) -> None:
        row = self.selected()
        if row is None:
            return
        if row.status == "scheduled":
            body = "It goes back to draft (unscheduled); nothing is sent."
        else:
            body = "A running or paused campaign is cancelled for good: it cannot be resumed."
        self.confirm_then(
            f"Cancel campaign {row.id}?",
            body,
            lambda: self._run(service.cancel, row.id, action="Cancel", done=self._moved),
            danger=True,
            confirm_label="Cancel campaign",
        )

    def _moved(self, result: CampaignActionResult) -> None:
        when = f" for {stamp(result.send_at)}" if result.status == "scheduled" else ""
        self._done(
            f"campaign {result.campaign_id}: {result.previous_status} → {result.status}{when}"
        )

    # --- scorecard ------------------------------------------------------------------------------

    def action_scorecard(self) -> None:
        row = self.selected()
        if row is None:
            return
        self._run(service.scorecard, row.id, action="Scorecard", done=self._show_scorecard)

    def _show_scorecard(self, card: Scorecard) -> None:
        def answered(request: ExportRequest | None) -> None:
            if request is None:
                return
            self._run(
                service.export_scorecards,
                [card.campaign_id],
                request.fmt,
                request.path,
                card.window_end,
                action="Export scorecard",
                done=lambda path: self.notify(
                    f"scorecard written to {path}", title="Export", markup=False
                ),
            )

        self.app.push_screen(ScorecardDialog(card, self.ctx.clock.now()), answered)

    # --- plumbing -------------------------------------------------------------------------------

    def _run(
        self,
        func: Callable[..., Any],
        *args: Any,
        action: str,
        done: Callable[[Any], Any] | None = None,
    ) -> None:
        self.call_service(
            func,
            *args,
            done=done or (lambda _result: self.reload()),
            failed=self._failed,
            group="campaigns-action",
            description=action,
        )

    def _failed(self, exc: BaseException) -> None:
        """A refusal may still have changed something (the gate records a consent check that
        no longer passes; the status moved underneath): show the campaigns as they are now.
        Read-only refusals change nothing."""
        if not isinstance(exc, ReadOnlyError):
            self.reload()

    def _done(self, text: str) -> None:
        self.notify(text, markup=False)
        self.reload()
