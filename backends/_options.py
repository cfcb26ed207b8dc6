"""Option parsing shared by the bundled backends.

Each backend validates its account table with a small pydantic model built on `BackendOptions`:
unknown keys are refused (a typo must not silently fall back to a default), and every failure
becomes one `ConfigError` line naming the key as `accounts.<name>.<key>`, so the user knows which
line of the config file to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mailconsole.errors import ConfigError

COMMON_KEYS = ("from", "batch_size", "max_connections", "rate_per_second", "fallback", "enabled")


class BackendOptions(BaseModel):
    """The keys every account may carry (read by the engine and routing, not by the backend)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_addr: str | None = Field(default=None, alias="from")
    batch_size: int | None = Field(default=None, ge=1, le=10_000)
    max_connections: int | None = Field(default=None, ge=1, le=256)
    rate_per_second: float | None = Field(default=None, gt=0)
    fallback: str | None = None
    enabled: bool = True


OptionsT = TypeVar("OptionsT", bound=BackendOptions)


def parse_options(
    model: type[OptionsT], account: str, kind: str, options: Mapping[str, Any]
) -> OptionsT:
    """Validate `options` with `model`; raise ConfigError naming the first bad key."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, model, account, kind)) from None


def _describe(exc: ValidationError, model: type[BackendOptions], account: str, kind: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(part) for part in err.get("loc", ()))
    where = f"accounts.{account}.{loc}" if loc else f"accounts.{account}"
    if err.get("type") == "extra_forbidden":
        known = sorted({f.alias or n for n, f in model.model_fields.items()})
        return f"{where}: unknown key for a {kind} account (known keys: {', '.join(known)})"
    if err.get("type") == "missing":
        return f"{where}: required for a {kind} account"
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{where}: {msg}{more}"
