"""What the read models share: a JSON-safe `to_dict()` and a few SQL helpers per dialect.

Read models are frozen dataclasses; `to_dict()` turns them (recursively) into what
`--format=json` prints and what the console may cache, with times as ISO 8601 UTC strings.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, extract, func, literal_column

from mailconsole.store.db import Database


def jsonable(value: Any) -> Any:
    """A dataclass, datetime, enum, mapping or sequence as plain JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


class ReadModel:
    """Mixin for frozen dataclasses that leave the service layer."""

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)


def epoch_bucket(db: Database, column: Any, start: datetime, width_s: int) -> ColumnElement[int]:
    """The bucket number of a timestamp column: floor((t - start) / width), computed in SQL.

    Constants are inlined (they are integers we computed), so the same expression can appear in
    SELECT and GROUP BY without PostgreSQL seeing two different bound parameters.
    """
    start_epoch = int(start.timestamp())
    if db.is_sqlite:
        # Stored naive UTC; strftime('%s') reads it as UTC. Rows are filtered to t >= start, so
        # integer division (truncation) is the floor.
        seconds = cast(func.strftime(literal_column("'%s'"), column), Integer)
        # A plain `/` between integers is integer division in SQLite (SQLAlchemy's own `/` would
        # add `+ 0.0`, `//` would need FLOOR(), which not every SQLite build has).
        return (
            (seconds - literal_column(str(start_epoch)))
            .self_group()
            .op("/")(literal_column(str(width_s)))
        )
    seconds = extract("epoch", column)
    return cast(
        func.floor((seconds - literal_column(str(start_epoch))) / literal_column(str(width_s))),
        Integer,
    )
