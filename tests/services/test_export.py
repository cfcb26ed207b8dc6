"""Exports: formula cells neutralised, unicode intact, valid JSON/JSONL, audited."""

from __future__ import annotations

import csv
import io
import json

import pytest

from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.services.audit import audit_log
from mailconsole.services.export import export_messages, neutralize_cell
from mailconsole.services.filters import MessageFilter
from tests.services.factory import add_message, make_ctx

HOSTILE = {
    "=1+1": "'=1+1",
    "+tag@x.example": "'+tag@x.example",
    "-err": "'-err",
    "@x": "'@x",
    "\tcmd": "'\tcmd",
    "\rcmd": "'\rcmd",
    "plain": "plain",
}


@pytest.mark.parametrize(("raw", "expected"), HOSTILE.items())
def test_neutralize_cell_prefixes_formula_starters(raw: str, expected: str) -> None:
    assert neutralize_cell(raw) == expected


def test_csv_export_neutralises_formulas_keeps_unicode_and_quotes_every_field(
    ctx: AppContext,
) -> None:
    add_message(
        ctx,
        status="dead",
        subject='=HYPERLINK("http://evil")',
        to="+tag@x.example",
        error="-ERR mailbox unavailable",
        error_code="smtp_550",
    )
    add_message(
        ctx,
        status="dead",
        subject="Größe 日本語 ✉ 🚀",
        to="zoë@exämple.org",
        error="@everyone\ttab",
        error_code="http_503",
    )
    add_message(ctx, status="sent", subject="\rcarriage")
    out = io.StringIO()
    assert export_messages(ctx, MessageFilter(), "csv", out) == 3
    text = out.getvalue()
    assert all(line.startswith('"') for line in text.split("\n") if line)
    rows = list(csv.DictReader(io.StringIO(text)))
    by_subject = {r["subject"]: r for r in rows}
    hostile = by_subject['\'=HYPERLINK("http://evil")']
    assert hostile["to_addrs"] == "'+tag@x.example"
    assert hostile["last_error"] == "'-ERR mailbox unavailable"
    uni = by_subject["Größe 日本語 ✉ 🚀"]
    assert uni["to_addrs"] == "zoë@exämple.org" and uni["last_error"] == "'@everyone\ttab"
    assert "'\rcarriage" in by_subject
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_exports_are_valid_and_keep_unicode(ctx: AppContext, fmt: str) -> None:
    ids = {add_message(ctx, subject=f"Grüße {i} ✉", status="dead") for i in range(3)}
    out = io.StringIO()
    assert export_messages(ctx, MessageFilter(statuses=("dead",)), fmt, out) == 3  # type: ignore[arg-type]
    text = out.getvalue()
    items = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
    assert {i["id"] for i in items} == ids
    assert "Grüße" in text  # not escaped to \\u sequences
    assert all("text_body" not in i and "html_body" not in i for i in items)


def test_empty_json_export_is_an_empty_array(ctx: AppContext) -> None:
    out = io.StringIO()
    assert export_messages(ctx, MessageFilter(), "json", out) == 0
    assert json.loads(out.getvalue()) == []


def test_export_runs_in_read_only_mode_and_is_audited(ctx: AppContext, clock: FakeClock) -> None:
    add_message(ctx, status="dead", error_code="http_503")
    ro = make_ctx(ctx.db, clock, ctx.config, read_only=True)
    out = io.StringIO()
    assert export_messages(ro, MessageFilter(search="http_5"), "jsonl", out) == 1
    (row,) = audit_log(ctx)
    assert (row.action, row.outcome, row.count) == ("export", "ok", 1)
    assert row.target == {"filter": {"search": "http_5"}, "format": "jsonl", "destination": None}
