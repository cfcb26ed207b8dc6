"""`mailconsole send` and `mailconsole enqueue --jsonl`: put mail on the queue."""

from __future__ import annotations

import sys
from typing import Any

import click

from mailconsole.cli.common import app_context, echo_json, fail, format_option, handle_errors
from mailconsole.engine.enqueue import enqueue, enqueue_many, read_jsonl


@click.command(
    "send",
    epilog="""\b
Example:
  mailconsole send --to ana@example.com --subject "Reset your password" \\
      --text "Your code is 123456" --header "X-Ticket: 42" --tag password-reset""",
)
@click.option(
    "--to", "to", multiple=True, required=True, help="Recipient (repeat or comma-separate)."
)
@click.option("--subject", required=True)
@click.option("--text", help="Plain-text body.")
@click.option("--html", help="HTML body.")
@click.option("--from", "from_", help="Sender (default: the account's configured `from`).")
@click.option("--cc", multiple=True)
@click.option("--bcc", multiple=True)
@click.option("--reply-to")
@click.option(
    "--header", "headers", multiple=True, help="Extra header as 'Name: value' (repeatable)."
)
@click.option("--tag")
@click.option("--backend", help="Account to send through (default: routing).")
@click.option("--stream", help="Provider message stream (e.g. Postmark 'outbound').")
@format_option("text", "json", default="text")
@handle_errors
def send(to: tuple[str, ...], subject: str, text: str | None, html: str | None, from_: str | None,
         cc: tuple[str, ...], bcc: tuple[str, ...], reply_to: str | None, headers: tuple[str, ...],
         tag: str | None, backend: str | None, stream: str | None, fmt: str) -> None:  # fmt: skip
    """Queue one message; the dispatcher sends it."""
    ctx = app_context()
    data: dict[str, Any] = {
        "to": [a for item in to for a in item.split(",")],
        "subject": subject, "text": text, "html": html, "from": from_,
        "cc": [a for item in cc for a in item.split(",")],
        "bcc": [a for item in bcc for a in item.split(",")],
        "reply_to": reply_to, "headers": list(headers), "tag": tag, "backend": backend, "stream": stream,
    }  # fmt: skip
    message_id = enqueue(ctx, {k: v for k, v in data.items() if v not in (None, [], "")})
    if fmt == "json":
        echo_json({"id": message_id, "status": "queued"})
    else:
        click.echo(f"queued message {message_id}")


@click.command(
    "enqueue",
    epilog="""\b
Each line is one JSON object with the same fields as `send`:
  {"to": "ana@example.com", "subject": "Hi", "text": "…", "tag": "welcome"}
Example:
  mailconsole enqueue --jsonl messages.jsonl
  producer | mailconsole enqueue --jsonl - --atomic""",
)
@click.option(
    "--jsonl",
    "source",
    required=True,
    type=click.File("r", encoding="utf-8"),
    help="File of JSON lines, or - for stdin.",
)
@click.option("--atomic", is_flag=True, help="Load nothing if any line is bad.")
@format_option("text", "json", default="text")
@handle_errors
def enqueue_cmd(source: Any, atomic: bool, fmt: str) -> None:
    """Queue many messages from JSON lines (bad lines are reported by number)."""
    ctx = app_context()
    report = enqueue_many(ctx, read_jsonl(source), atomic=atomic)
    if fmt == "json":
        echo_json({"accepted": report.accepted, "rejected": report.rejected,
                   "errors": [{"line": n, "error": e} for n, e in report.errors]})  # fmt: skip
    else:
        for lineno, error in report.errors[:50]:
            click.echo(f"line {lineno}: {error}", err=True)
        if report.rejected > 50:
            click.echo(f"… and {report.rejected - 50} more bad lines", err=True)
        if atomic and report.errors:
            click.echo(f"nothing queued: {report.rejected} bad line(s) and --atomic", err=True)
        else:
            click.echo(f"queued {report.accepted} message(s), rejected {report.rejected}")
    if report.errors:
        sys.exit(1 if not atomic else 65)
    if report.accepted == 0 and not report.errors:
        fail("no messages in the input", 65)


def register(group: click.Group) -> None:
    group.add_command(send)
    group.add_command(enqueue_cmd)
