"""Exporting the filtered mail log as CSV, JSON or JSON lines, in constant memory.

Rows stream from keyset chunks (`iter_messages`) straight to the output: a million rows never sit
in memory at once. CSV is for spreadsheets, so every text cell that a spreadsheet would run as a
formula (`=`, `+`, `-`, `@`, tab, CR, NUL first) gets a leading `'`, and every field is quoted.
Real mail data trips this: `+tag@` addresses, provider errors that start with `-`.
The CSV path is the one that meets a million rows, so it reads plain Core rows (no `MessageRow`
per row) and, on SQLite, lets the SELECT itself format the times and neutralise the text: Python
then only hands tuples to `csv.writer`.
An export changes nothing, so it runs in read-only mode, but it is audited (data left the store).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from sqlalchemy import Integer, String, literal_column, select, tuple_

from mailconsole.context import AppContext
from mailconsole.errors import ValidationError
from mailconsole.services.audit import AuditRecord, record
from mailconsole.services.filters import MessageFilter, conditions
from mailconsole.services.logs import (
    KEY,
    NEWEST_FIRST,
    ROW_COLUMNS,
    ROW_FIELDS,
    MessageRow,
    iter_messages,
)
from mailconsole.store.models import Message
from mailconsole.store.types import UTCDateTime

log = logging.getLogger(__name__)
ExportFormat = Literal["csv", "json", "jsonl"]
FORMATS = ("csv", "json", "jsonl")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\0")
_FORMULA_FIRST = frozenset(FORMULA_PREFIXES)
# Rows per keyset read of a CSV export; it divides the 10,000 of the progress callback.
CSV_CHUNK = 5000
_SQLITE_ISO_FN = "mailconsole_iso_utc"


def neutralize_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _iso_utc(value: datetime) -> str:
    """How every export writes a time: ISO 8601 in UTC, as `MessageRow.to_dict()` does."""
    return value.astimezone(UTC).isoformat()


def _sqlite_iso(raw: str | None) -> str | None:
    """The SELECT's fallback for a stored time not in the usual naive microsecond layout."""
    if raw is None:
        return None
    value = datetime.fromisoformat(raw)
    return _iso_utc(value if value.tzinfo else value.replace(tzinfo=UTC))


def _sqlite_cell(name: str) -> str:
    """SQL for the quoted CSV field of `message.<name>`, as `csv.writer` (QUOTE_ALL) writes
    `neutralize_cell`'s value: between double quotes, inner quotes doubled, NULL as `""`.

    Times are stored naive UTC as `YYYY-MM-DD HH:MM:SS.ffffff`; `datetime.isoformat()` writes
    them with a `T`, `+00:00`, and no fraction when it is zero (`.000000` can only be the
    fraction in that layout). Any other stored layout goes to the Python fallback. Text that
    starts at or after `A` needs no look (every formula starter sorts before it); the rest is
    tested as bytes, so a leading NUL is seen too (SQLite's text functions stop at a NUL).
    """
    col = f"message.{name}"
    column = Message.__table__.c[name]  # type: ignore[attr-defined]
    if isinstance(column.type, UTCDateTime):
        value = (
            f"CASE WHEN {col} IS NULL THEN ''"
            f" WHEN length({col}) = 26 AND substr({col}, 20, 1) = '.'"
            f" THEN replace(replace({col}, '.000000', ''), ' ', 'T') || '+00:00'"
            f" ELSE {_SQLITE_ISO_FN}({col}) END"
        )
    elif isinstance(column.type, Integer):
        value = f"coalesce({col}, '')"
    else:  # every other listed column is text (Text, or SQLModel's AutoString)
        text = (
            f"CASE WHEN {col} >= 'A' THEN {col}"
            f" WHEN substr(CAST({col} AS BLOB), 1, 1)"
            " IN (x'3D', x'2B', x'2D', x'40', x'09', x'0D', x'00')"
            f" THEN '''' || {col} ELSE coalesce({col}, '') END"
        )
        # Few cells hold a quote: looking for one is cheaper than a replace() on every cell.
        value = f"CASE WHEN instr({col}, '\"') THEN replace({text}, '\"', '\"\"') ELSE {text} END"
    return value


def _sqlite_csv_line() -> Any:
    """One CSV line per row, built by SQLite: Python only joins the lines of a chunk."""
    fields = " || '\",\"' || ".join(_sqlite_cell(n) for n in ROW_FIELDS)
    return literal_column(f"'\"' || {fields} || '\"'", String)


def _portable_cells(row: Sequence[Any]) -> list[Any]:
    """`neutralize_cell` over a row of Python values, the common types first."""
    cells: list[Any] = []
    for v in row:
        if type(v) is str:
            cells.append("'" + v if v[:1] in _FORMULA_FIRST else v)
        elif v is None or type(v) is int:
            cells.append(v)  # csv writes None as "" and an int as str(int)
        else:
            cells.append(neutralize_cell(v))
    return cells


def _csv_chunks(ctx: AppContext, flt: MessageFilter) -> Iterator[tuple[int, str]]:
    """(rows, CSV text) per keyset chunk, newest first, each chunk its own short read.

    Same keyset as `iter_messages`, so the same rows in the same order. On SQLite each row
    arrives as its finished line and the cursor is read back from the chunk's last line (its
    first two fields, an id and a time, hold no quote); elsewhere `csv.writer` writes the
    cells of plain Core rows.
    """
    sqlite = ctx.db.is_sqlite
    cells = [_sqlite_csv_line()] if sqlite else list(ROW_COLUMNS)
    base = select(*cells).select_from(Message.__table__).where(*conditions(flt))  # type: ignore[attr-defined]
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    created, ident = ROW_FIELDS.index("created_at"), ROW_FIELDS.index("id")
    cursor: tuple[datetime, int] | None = None
    while True:
        stmt = base if cursor is None else base.where(tuple_(*cursor) > KEY)
        stmt = stmt.order_by(*NEWEST_FIRST).limit(CSV_CHUNK)
        with ctx.db.reading() as session:
            if sqlite:
                raw = session.connection().connection.driver_connection
                raw.create_function(_SQLITE_ISO_FN, 1, _sqlite_iso, deterministic=True)  # type: ignore[union-attr]
                lines: Sequence[str] = session.connection().execute(stmt).scalars().all()
            else:
                rows = [_portable_cells(r) for r in session.connection().execute(stmt)]
        if sqlite:
            n = len(lines)
            if n:
                yield n, "\n".join(lines) + "\n"
                first, second = lines[-1][1:].split('","', 2)[:2]
                cursor = (datetime.fromisoformat(second), int(first))
        else:
            n = len(rows)
            if n:
                buffer.seek(0)
                buffer.truncate()
                writer.writerows(rows)
                yield n, buffer.getvalue()
                last = rows[-1]
                cursor = (datetime.fromisoformat(last[created]), int(last[ident]))
        if n < CSV_CHUNK:
            return


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
            for n, text in _csv_chunks(ctx, flt):
                out.write(text)
                before, count = count, count + n
                if progress and count // 10_000 > before // 10_000:
                    progress(count // 10_000 * 10_000)
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
