"""`mailconsole campaigns …`: the campaign lifecycle from the runbook, through the same services
as the Campaigns & approvals screen.

list · show · approve/reject (legal, brand) · consent · test · schedule · start (gated) ·
pause · cancel (never gated) · scorecard · bounces · import.
Exit codes: 0 done; 1 refused or failed (one line on stderr); 3 schedule/start refused by the
governance checklist (the line names every missing item); 77 read-only mode.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from mailconsole.campaigns import service, subscribers
from mailconsole.campaigns.consent import ConsentResult
from mailconsole.campaigns.governance import Governance, utc_minute
from mailconsole.campaigns.scorecard import Scorecard, write_csv, write_json
from mailconsole.cli.common import (
    app_context,
    confirm_or_abort,
    echo_json,
    echo_table,
    format_option,
    handle_errors,
)
from mailconsole.cli.options import cell, echo_pairs, reason_option, yes_option
from mailconsole.context import AppContext
from mailconsole.listmonk import ImportStatus

ROLE_OPTION = click.option(
    "--role",
    type=click.Choice(["legal", "brand"]),
    required=True,
    help="legal (legal/privacy: consent, unsubscribe) or brand.",
)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _progress(row: service.CampaignRow) -> str:
    if row.progress is None:
        return "—"
    text = f"{row.sent}/{row.to_send} ({row.progress * 100:.0f}%)"
    if row.rate:
        text += f" {row.rate:g}/min"
    return text


def _schedule(row: service.CampaignRow) -> str:
    if row.send_at is None:
        return "—"
    return row.send_at.strftime("%Y-%m-%d %H:%M")


def _audience(row: service.CampaignRow) -> str:
    return f"~{row.audience}" if row.audience_estimated else str(row.audience)


def _echo_checklist(gov: Governance) -> None:
    click.echo("Governance" + (" (ready to schedule or start)" if gov.ready else ""))
    for item in gov.items:
        click.echo(f"  {item.mark:4}  {item.label:23}  {cell(item.summary())}")
    if not gov.ready:
        click.echo(f"  missing: {cell('; '.join(gov.missing()))}")


@click.group(
    "campaigns",
    epilog="""\b
The lifecycle: approve (legal, brand) → consent → test → schedule or start.
Approvals, the consent check and the test send hold for one version of the
campaign: any edit in Listmonk voids them.
Examples:
  mailconsole campaigns list --status draft,scheduled
  mailconsole campaigns show 12
  mailconsole campaigns approve 12 --role legal --note "unsubscribe link ok"
  mailconsole campaigns consent 12
  mailconsole campaigns test 12
  mailconsole campaigns schedule 12 --at "2026-11-21 09:00" --yes
  mailconsole campaigns pause 12 --reason "wrong price in the subject"
  mailconsole campaigns scorecard 12 --format=csv > scorecard.csv""",
)
def campaigns_group() -> None:
    """Listmonk campaigns with approvals, consent check, test send and scorecard."""


@campaigns_group.command(
    "list",
    epilog="""\b
Approvals: ✓ holds for the current version, ✗ rejected/failed, — missing,
void = recorded for an older version (voided by an edit).
Examples:
  mailconsole campaigns list
  mailconsole campaigns list --status running --format=json
  mailconsole campaigns list --tag promo""",
)
@click.option("--status", multiple=True, metavar="STATUS[,STATUS]", help="draft, scheduled, running, paused, cancelled, finished.")  # fmt: skip
@click.option("--tag", metavar="TAG", help="Only campaigns with this tag.")
@format_option("table", "json")
@handle_errors
def list_cmd(status: tuple[str, ...], tag: str | None, fmt: str) -> None:
    """Every campaign: status, lists, audience, schedule, progress and approval state."""
    ctx = app_context()
    result = service.list_campaigns(ctx, status=status or None, tag=tag)
    if fmt == "json":
        echo_json(result.to_dict())
        return
    echo_table(
        ["id", "status", "name", "lists", "audience", "send at (UTC)", "progress", "approvals"],
        [
            [
                row.id,
                row.status,
                cell(row.name),
                cell(", ".join(lst.name for lst in row.lists)),
                _audience(row),
                _schedule(row),
                _progress(row),
                row.approval_state,
            ]
            for row in result.rows
        ],
    )


@campaigns_group.command(
    "show",
    epilog="""\b
Examples:
  mailconsole campaigns show 12
  mailconsole campaigns show 12 --format=json""",
)
@click.argument("campaign_id", type=int)
@format_option("text", "json", default="text")
@handle_errors
def show_cmd(campaign_id: int, fmt: str) -> None:
    """One campaign, its governance checklist and its review history."""
    ctx = app_context()
    detail = service.show_campaign(ctx, campaign_id)
    if fmt == "json":
        echo_json(detail.to_dict())
        return
    row = detail.row
    lists = ", ".join(f"{lst.name} ({lst.type}, {lst.optin} opt-in)" for lst in row.lists)
    echo_pairs(
        [
            ("Campaign", f"{row.id} {cell(row.name)}"),
            ("Status", row.status),
            ("Subject", cell(row.subject)),
            ("From", cell(detail.from_email)),
            ("Lists", cell(lists) or "—"),
            ("Audience", _audience(row)),
            ("Send at", _schedule(row) + (" UTC" if row.send_at else "")),
            ("Progress", _progress(row)),
            ("Content", f"{detail.content_type}, body {detail.body_chars} chars, template "
                        f"{detail.template_id if detail.template_id is not None else '—'}"),
            ("Edited", utc_minute(row.updated_at)),
            ("Fingerprint", detail.fingerprint[:12]),
        ]
    )  # fmt: skip
    click.echo()
    _echo_checklist(detail.governance)
    if detail.reviews:
        click.echo()
        click.echo("History (newest first)")
        for r in detail.reviews:
            version = "this version" if r.fingerprint == detail.fingerprint else "older version"
            note = f": {cell(r.note)}" if r.note else ""
            click.echo(
                f"  {utc_minute(r.at)}  {r.kind:9} {r.decision:8} {cell(r.actor)} ({version}){note}"
            )


def _review_cmd(decision: str, campaign_id: int, role: str, note: str | None, fmt: str) -> None:
    ctx = app_context()
    func = service.approve if decision == "approved" else service.reject
    result = func(ctx, campaign_id, role, note)
    if fmt == "json":
        echo_json(result.to_dict())
        return
    click.echo(
        f"campaign {campaign_id} ({cell(result.campaign_name)}): {role} {decision} by "
        f"{cell(result.review.actor)} for version {result.review.fingerprint[:12]}"
    )
    _echo_checklist(result.governance)


@campaigns_group.command(
    "approve",
    epilog="""\b
The approval holds for the campaign as it is now; an edit in Listmonk voids it.
Examples:
  mailconsole campaigns approve 12 --role legal --note "consent and unsubscribe ok"
  mailconsole campaigns approve 12 --role brand""",
)
@click.argument("campaign_id", type=int)
@ROLE_OPTION
@click.option("--note", metavar="TEXT", help="What you checked (kept with the approval).")
@format_option("text", "json", default="text")
@handle_errors
def approve_cmd(campaign_id: int, role: str, note: str | None, fmt: str) -> None:
    """Approve the current version of a campaign as legal/privacy or brand."""
    _review_cmd("approved", campaign_id, role, note, fmt)


@campaigns_group.command(
    "reject",
    epilog="""\b
Example:
  mailconsole campaigns reject 12 --role brand --note "old logo in the header\"""",
)
@click.argument("campaign_id", type=int)
@ROLE_OPTION
@click.option("--note", metavar="TEXT", required=True, help="What must change.")
@format_option("text", "json", default="text")
@handle_errors
def reject_cmd(campaign_id: int, role: str, note: str, fmt: str) -> None:
    """Reject the current version of a campaign, saying what must change."""
    _review_cmd("rejected", campaign_id, role, note, fmt)


def _echo_consent(result: ConsentResult) -> None:
    verdict = "PASSED" if result.passed else "FAILED"
    click.echo(
        f"consent check {verdict} for campaign {result.campaign_id} "
        f"({cell(result.campaign_name)}), version {result.fingerprint[:12]}"
    )
    for lst in result.lists:
        rule = "ok" if lst.optin_ok else "public list must be double opt-in"
        click.echo(
            f"  {cell(lst.name)}: {lst.type}, {lst.optin} opt-in ({rule}); "
            f"{lst.without_attribute} without {result.attribute} = true"
        )
    for problem in result.problems:
        click.echo(f"  ✗ {cell(problem)}")
    if result.samples:
        more = result.without_attribute - len(result.samples)
        click.echo(
            "  e.g. "
            + ", ".join(cell(s) for s in result.samples)
            + (f" (+{more})" if more > 0 else "")
        )


@campaigns_group.command(
    "consent",
    epilog="""\b
Exit code 0 when the check passes, 1 when it fails (what fails is listed).
Examples:
  mailconsole campaigns consent 12
  mailconsole campaigns consent 12 --format=json""",
)
@click.argument("campaign_id", type=int)
@format_option("text", "json", default="text")
@handle_errors
def consent_cmd(campaign_id: int, fmt: str) -> None:
    """Check the target lists' opt-in and the audience's marketing attribute; record it."""
    ctx = app_context()
    result = service.consent_check(ctx, campaign_id)
    if fmt == "json":
        echo_json(result.to_dict())
    else:
        _echo_consent(result)
    if not result.passed:
        sys.exit(1)


@campaigns_group.command(
    "test",
    epilog="""\b
Sends to the subscribers of [listmonk] testers_list (default mailing-testers).
Example:
  mailconsole campaigns test 12""",
)
@click.argument("campaign_id", type=int)
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def test_cmd(campaign_id: int, reason: str | None, fmt: str) -> None:
    """Send the current version to the testers' list, and record it."""
    ctx = app_context()
    result = service.test_send(ctx, campaign_id, reason=reason)
    if fmt == "json":
        echo_json(result.to_dict())
        return
    click.echo(
        f"test send of campaign {campaign_id} ({cell(result.campaign_name)}) to "
        f"{len(result.recipients)} tester(s) on {cell(result.testers_list)}: "
        + ", ".join(cell(r) for r in result.recipients)
    )


def _ask_if_ready(ctx: AppContext, campaign_id: int, prompt: str, yes: bool) -> None:
    """Confirm a gated move, but only when it can succeed: a campaign that is not ready is
    refused by the service at once (with every missing item) without a question first."""
    if yes or ctx.is_read_only:
        return
    if not service.readiness(ctx, campaign_id).ready:
        return
    confirm_or_abort(prompt, yes=yes)


def _echo_move(result: service.CampaignActionResult, fmt: str) -> None:
    if fmt == "json":
        echo_json(result.to_dict())
        return
    when = f" for {utc_minute(result.send_at)}" if result.status == "scheduled" else ""
    click.echo(
        f"campaign {result.campaign_id} ({cell(result.campaign_name)}): "
        f"{result.previous_status} → {result.status}{when}"
    )


@campaigns_group.command(
    "schedule",
    epilog="""\b
Refused (exit 3) unless legal and brand approvals, a passing consent check and a
test send hold for the current version; the message names what is missing.
Examples:
  mailconsole campaigns schedule 12 --at "2026-11-21 09:00"      (UTC)
  mailconsole campaigns schedule 12 --at +2h --yes""",
)
@click.argument("campaign_id", type=int)
@click.option("--at", "when", required=True, metavar="WHEN", help="YYYY-MM-DD HH:MM (UTC), ISO with a zone, or +2h.")  # fmt: skip
@reason_option
@yes_option
@format_option("text", "json", default="text")
@handle_errors
def schedule_cmd(campaign_id: int, when: str, reason: str | None, yes: bool, fmt: str) -> None:
    """Schedule a campaign, if its governance checklist holds."""
    ctx = app_context()
    send_at = service.parse_send_at(when, ctx.clock.now())
    _ask_if_ready(ctx, campaign_id, f"Schedule campaign {campaign_id} for {utc_minute(send_at)}?", yes)  # fmt: skip
    _echo_move(service.schedule(ctx, campaign_id, send_at, reason=reason), fmt)


@campaigns_group.command(
    "start",
    epilog="""\b
Refused (exit 3) unless the governance checklist holds for the current version.
Examples:
  mailconsole campaigns start 12
  mailconsole campaigns start 12 --yes --reason "resume after the fix\"""",
)
@click.argument("campaign_id", type=int)
@reason_option
@yes_option
@format_option("text", "json", default="text")
@handle_errors
def start_cmd(campaign_id: int, reason: str | None, yes: bool, fmt: str) -> None:
    """Start sending now (a draft), or resume a paused campaign, if its checklist holds."""
    ctx = app_context()
    _ask_if_ready(ctx, campaign_id, f"Start sending campaign {campaign_id} now?", yes)
    _echo_move(service.start(ctx, campaign_id, reason=reason), fmt)


@campaigns_group.command(
    "pause",
    epilog="""\b
Never gated. Example:
  mailconsole campaigns pause 12 --reason "wrong link in the body\"""",
)
@click.argument("campaign_id", type=int)
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def pause_cmd(campaign_id: int, reason: str | None, fmt: str) -> None:
    """Pause a running campaign at once."""
    _echo_move(service.pause(app_context(), campaign_id, reason=reason), fmt)


@campaigns_group.command(
    "cancel",
    epilog="""\b
Never gated. A running or paused campaign is cancelled for good; a scheduled
one goes back to draft (unscheduled).
Example:
  mailconsole campaigns cancel 12 --reason "superseded" --yes""",
)
@click.argument("campaign_id", type=int)
@reason_option
@yes_option
@format_option("text", "json", default="text")
@handle_errors
def cancel_cmd(campaign_id: int, reason: str | None, yes: bool, fmt: str) -> None:
    """Cancel a running or paused campaign, or unschedule a scheduled one."""
    ctx = app_context()
    if not ctx.is_read_only:
        confirm_or_abort(f"Cancel campaign {campaign_id}?", yes=yes)
    _echo_move(service.cancel(ctx, campaign_id, reason=reason), fmt)


@campaigns_group.command(
    "scorecard",
    epilog="""\b
The window runs from the campaign's start to --until (default now); views,
clicks and bounces are Listmonk's daily counts; rates are over sent.
Examples:
  mailconsole campaigns scorecard 12
  mailconsole campaigns scorecard 12 13 14 --format=csv > scorecards.csv
  mailconsole campaigns scorecard 12 --until 2026-11-28 --format=json""",
)
@click.argument("campaign_ids", type=int, nargs=-1, required=True)
@click.option("--until", metavar="WHEN", help="End of the window: a UTC date-time (default now).")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), help="Write to this file.")
@format_option("table", "json", "csv")
@handle_errors
def scorecard_cmd(campaign_ids: tuple[int, ...], until: str | None, output: Any, fmt: str) -> None:
    """Sent, views, clicks, bounces and rates over the campaign's window."""
    ctx = app_context()
    end = service.parse_send_at(until, ctx.clock.now()) if until else None
    cards = [service.scorecard(ctx, cid, until=end) for cid in campaign_ids]
    out = output or sys.stdout
    if fmt == "csv":
        write_csv(cards, out)
    elif fmt == "json":
        write_json(cards, out)
    else:
        _echo_scorecards(cards, out)


def _echo_scorecards(cards: list[Scorecard], out: Any) -> None:
    for card in cards:
        click.echo(
            f"campaign {card.campaign_id} ({cell(card.campaign)}), {card.status}: "
            f"{utc_minute(card.window_start)} → {utc_minute(card.window_end)}",
            file=out,
        )
        click.echo(f"  sent     {card.sent}", file=out)
        click.echo(f"  views    {card.views:<8} {_pct(card.view_rate)}", file=out)
        click.echo(f"  clicks   {card.clicks:<8} {_pct(card.click_rate)}", file=out)
        click.echo(f"  bounces  {card.bounces:<8} {_pct(card.bounce_rate)}", file=out)


@campaigns_group.command(
    "bounces",
    epilog="""\b
Examples:
  mailconsole campaigns bounces ana@example.org
  mailconsole campaigns bounces ana@example.org --clear --reason "Postmark incident 11-20\"""",
)
@click.argument("email")
@click.option("--clear", is_flag=True, help="Delete the subscriber's bounces (audited).")
@reason_option
@format_option("table", "json")
@handle_errors
def bounces_cmd(email: str, clear: bool, reason: str | None, fmt: str) -> None:
    """List a subscriber's bounces in Listmonk, or clear them."""
    ctx = app_context()
    if clear:
        count = subscribers.clear_bounces(ctx, email, reason=reason)
        if fmt == "json":
            echo_json({"email": email.strip().lower(), "cleared": count})
        else:
            click.echo(f"{cell(email.strip().lower())}: {count} bounce(s) cleared")
        return
    result = subscribers.subscriber_bounces(ctx, email)
    if fmt == "json":
        echo_json(result.to_dict())
        return
    click.echo(
        f"{cell(result.email)} (subscriber {result.subscriber_id}, {result.status}): "
        f"{len(result.bounces)} bounce(s)"
    )
    if result.bounces:
        echo_table(
            ["id", "at (UTC)", "type", "source", "campaign"],
            [
                [b.id, utc_minute(b.created_at).removesuffix(" UTC"), b.type, cell(b.source),
                 cell(b.campaign or "—")]
                for b in result.bounces
            ],
        )  # fmt: skip


@campaigns_group.command(
    "import",
    epilog="""\b
The CSV is Listmonk's format: email, name, attributes (JSON).
Examples:
  mailconsole campaigns import subscribers.csv --list Newsletter
  mailconsole campaigns import blocked.csv --mode blocklist""",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--list", "lists", multiple=True, metavar="NAME", help="Target list (repeat for several).")  # fmt: skip
@click.option("--mode", type=click.Choice(["subscribe", "blocklist"]), default="subscribe", show_default=True)  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Update names and attributes of existing subscribers.")  # fmt: skip
@click.option("--delimiter", default=",", show_default=True, help="CSV delimiter.")
@click.option("--poll-seconds", type=click.FloatRange(min=0.01), default=1.0, show_default=True, help="How often to ask Listmonk for the progress.")  # fmt: skip
@reason_option
@format_option("text", "json", default="text")
@handle_errors
def import_cmd(
    file: str,
    lists: tuple[str, ...],
    mode: str,
    overwrite: bool,
    delimiter: str,
    poll_seconds: float,
    reason: str | None,
    fmt: str,
) -> None:
    """Import subscribers from a CSV through Listmonk's import API, showing its progress."""
    ctx = app_context()

    def progress(status: ImportStatus) -> None:
        click.echo(f"import {status.status}: {status.imported}/{status.total}", err=True)

    result = subscribers.import_subscribers(
        ctx,
        file,
        lists,
        mode,
        progress,
        overwrite=overwrite,
        delimiter=delimiter,
        poll_seconds=poll_seconds,
        reason=reason,
    )
    if fmt == "json":
        echo_json(result.to_dict())
        return
    click.echo(
        f"imported {result.imported} of {result.total} records from {cell(result.file)} into "
        f"{cell(', '.join(result.lists)) or '(no list)'} ({result.mode})"
    )


def register(group: click.Group) -> None:
    group.add_command(campaigns_group)
