"""Exporting the filtered mail log as CSV, JSON or JSON lines, in constant memory.

Rows stream from keyset chunks (`iter_messages`) straight to the output: a million rows never sit
in memory at once. CSV is for spreadsheets, so every text cell that a spreadsheet would run as a
formula (`=`, `+`, `-`, `@`, tab, CR, NUL first) gets a leading `'`, and every field is quoted.
Real mail data trips this: `+tag@` addresses, provider errors that start with `-`.
An export changes nothing, so it runs in read-only mode, but it is audited (data left the store).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TextIO

from mailconsole.context import AppContext
from mailconsole.errors import ValidationError
from mailconsole.services.audit import AuditRecord, record
from mailconsole.services.filters import MessageFilter
from mailconsole.services.logs import ROW_FIELDS, MessageRow, iter_messages

log = logging.getLogger(__name__)
ExportFormat = Literal["csv", "json", "jsonl"]
FORMATS = ("csv", "json", "jsonl")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\0")


def neutralize_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _json_row(row: MessageRow) -> str:
    return json.dumps(row.to_dict(), ensure_ascii=False)


def export_messages(
    ctx: AppContext,
    flt: MessageFilter,
    fmt: ExportFormat,
    out: TextIO,
    *,
    progress: Callable[[int], None] | None = None,
    destination: str | None = None,
) -> int:
    """Write every message matching `flt` to `out`; returns the number of rows written."""
    if fmt not in FORMATS:
        raise ValidationError(f"export format {fmt!r}: use csv, json or jsonl")
    count = 0
    rec = AuditRecord(
        action="export",
        target={"filter": flt.to_dict(), "format": fmt, "destination": destination},
    )
    try:
        if fmt == "csv":
            writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
            writer.writerow(ROW_FIELDS)
            for row in iter_messages(ctx, flt):
                writer.writerow([neutralize_cell(getattr(row, name)) for name in ROW_FIELDS])
                count += 1
                if progress and count % 10_000 == 0:
                    progress(count)
        elif fmt == "json":
            out.write("[")
            for row in iter_messages(ctx, flt):
                out.write(("\n" if count == 0 else ",\n") + _json_row(row))
                count += 1
                if progress and count % 10_000 == 0:
                    progress(count)
            out.write("\n]\n" if count else "]\n")
        else:
            for row in iter_messages(ctx, flt):
                out.write(_json_row(row) + "\n")
                count += 1
                if progress and count % 10_000 == 0:
                    progress(count)
        out.flush()
    except BaseException as exc:
        rec.count, rec.outcome, rec.detail = count, "failed", f"{type(exc).__name__}: {exc}"
        _record_quietly(ctx, rec)
        raise
    rec.count = count
    _record_quietly(ctx, rec)
    return count


def _record_quietly(ctx: AppContext, rec: AuditRecord) -> None:
    """The rows are already out: an audit row that cannot be written (a read-only database
    file, say) is logged, and does not turn a finished export into an error."""
    try:
        record(ctx, rec)
    except Exception:
        log.warning("could not write the audit row for an export", exc_info=True)


__all__ = ["FORMATS", "ExportFormat", "export_messages", "neutralize_cell"]
