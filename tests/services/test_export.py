"""Exports: formula cells neutralised, unicode intact, valid JSON/JSONL, audited."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from mailconsole.clock import FakeClock
from mailconsole.context import AppContext
from mailconsole.services.audit import audit_log
from mailconsole.services.export import export_messages, neutralize_cell
from mailconsole.services.filters import MessageFilter
from mailconsole.services.logs import ROW_FIELDS, iter_messages
from mailconsole.store.db import Database
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


def _csv_as_before(ctx: AppContext, flt: MessageFilter) -> str:
    """The CSV export as it was written before the SQL fast path: one `MessageRow` per row
    through `neutralize_cell`; the output format the fast path must keep byte for byte."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(ROW_FIELDS)
    for row in iter_messages(ctx, flt):
        writer.writerow([neutralize_cell(getattr(row, name)) for name in ROW_FIELDS])
    return out.getvalue()


def test_csv_export_across_chunks_is_byte_identical_to_the_row_by_row_format(
    ctx: AppContext, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mailconsole.services.export.CSV_CHUNK", 2)
    base = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    same = base + timedelta(minutes=5)  # ties on created_at: the keyset must not skip any
    for i in range(3):
        add_message(ctx, status="dead", created_at=same, subject=f"tie {i}", error="-ERR x")
    nul = "\0" if ctx.db.is_sqlite else ""  # PostgreSQL text cannot hold a NUL
    add_message(ctx, status="sent", created_at=base, subject=nul + 'n"ul', to="+a@b.example")
    add_message(ctx, status="sent", created_at=base, subject='say "hi"', error='=x("y")')
    add_message(
        ctx,
        status="dead",
        created_at=base + timedelta(seconds=1, microseconds=123456),
        updated_at=base + timedelta(days=1, microseconds=1),
        next_attempt_at=base + timedelta(hours=2),
        subject="Größe 日本語 ✉ 🚀",
        error_code="http_503",
        error="@everyone\ttab",
        provider_message_id="=cmd",
        tag="\rtag",
        attempts=7,
    )
    add_message(ctx, status="queued", created_at=base - timedelta(days=400), subject="", tag="")
    for flt in (MessageFilter(), MessageFilter(statuses=("dead",)), MessageFilter(search="tie")):
        out = io.StringIO()
        count = export_messages(ctx, flt, "csv", out)
        expected = _csv_as_before(ctx, flt)
        assert out.getvalue() == expected
        assert count == len(list(csv.reader(io.StringIO(expected)))) - 1
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["subject"] for r in rows] == ["tie 2", "tie 1", "tie 0"]
    assert rows[0]["created_at"] == "2026-03-01T12:05:00+00:00"


def test_csv_export_writes_times_and_neutralised_text_exactly(ctx: AppContext) -> None:
    when = datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)
    nul = "\0" if ctx.db.is_sqlite else "-"  # PostgreSQL text cannot hold a NUL
    add_message(ctx, status="dead", created_at=when, subject=nul + "nul", error="=1+1")
    out = io.StringIO()
    export_messages(ctx, MessageFilter(), "csv", out)
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert row["created_at"] == "2026-03-01T12:00:00.000005+00:00"
    assert row["subject"] == "'" + nul + "nul" and row["last_error"] == "'=1+1"
    assert row["sent_at"] == "" and row["attempts"] == "0"


def test_csv_export_on_sqlite_reads_a_time_stored_in_another_layout(
    sqlite_db: Database, clock: FakeClock
) -> None:
    ctx = make_ctx(sqlite_db, clock)
    msg_id = add_message(ctx, status="dead")
    with sqlite_db.writing() as s:
        s.execute(
            text(
                "UPDATE message SET created_at = '2026-01-02 03:04:05', "
                "sent_at = '2026-01-02T03:04:05.250+00:00' WHERE id = :id"
            ),
            {"id": msg_id},
        )
    out = io.StringIO()
    export_messages(ctx, MessageFilter(), "csv", out)
    assert out.getvalue() == _csv_as_before(ctx, MessageFilter())
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert row["created_at"] == "2026-01-02T03:04:05+00:00"
    assert row["sent_at"] == "2026-01-02T03:04:05.250000+00:00"
