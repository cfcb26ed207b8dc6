"""What the read models share: a JSON-safe `to_dict()`.

Read models are frozen dataclasses; `to_dict()` turns them (recursively) into what
`--format=json` prints and what the console may cache, with times as ISO 8601 UTC strings.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any


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
