"""`config check`: the effective configuration, validated, with anything secret masked.

Secrets never belong in the file, but people paste tokens into it anyway, and notifier URLs
(Slack incoming webhooks) carry their token in the path: every key that looks secret is masked,
URLs keep only their scheme and host, and each account shows where its secret comes from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mailconsole.backend_api import load_backend_class
from mailconsole.config import Config
from mailconsole.errors import MailconsoleError
from mailconsole.secrets import SecretStore
from mailconsole.services._readmodel import ReadModel
from mailconsole.store.db import redact_url

MASK = "********"
SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api_?key|credential|private|auth|signing)", re.IGNORECASE
)
URL_KEY = re.compile(r"(^|_)(url|webhook|endpoint|uri)$", re.IGNORECASE)


@dataclass(frozen=True)
class ConfigReport(ReadModel):
    source: str | None
    effective: dict[str, Any]  # masked
    credentials: dict[str, dict[str, Any]]  # account -> {source, env_var, detail}
    warnings: list[str]


def _mask_url(value: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        return MASK
    if not parts.scheme or not parts.hostname:
        return MASK
    tail = "/…" if parts.path not in ("", "/") or parts.query else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{tail}"


def mask(data: Any, key: str = "") -> Any:
    """A copy of `data` with secret-looking values masked (recursively)."""
    if isinstance(data, dict):
        return {k: mask(v, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [mask(v, key) for v in data]
    if isinstance(data, str) and data:
        if SECRET_KEY.search(key):
            return MASK
        if URL_KEY.search(key) and "://" in data:
            return _mask_url(data)
    elif data is not None and SECRET_KEY.search(key) and not isinstance(data, bool | int | float):
        return MASK
    return data


def config_report(config: Config, secrets: SecretStore) -> ConfigReport:
    """The effective config (defaults filled in), masked, with credentials and warnings."""
    data = config.model_dump(mode="json", by_alias=True)
    for name, acc in config.accounts.items():
        data["accounts"][name] = {"type": acc.type, **acc.backend_options()}
    effective = mask(data)
    effective["database_url"] = redact_url(config.effective_database_url())  # password hidden
    warnings: list[str] = []
    credentials: dict[str, dict[str, Any]] = {}
    for name, acc in config.accounts.items():
        needed = True
        try:
            needed = bool(getattr(load_backend_class(acc.type), "needs_secret", True))
        except MailconsoleError as exc:
            warnings.append(f"accounts.{name}: {exc}")
        status = secrets.status(name)
        source, detail = status.source.value, status.detail
        if source == "missing" and not needed:
            source, detail = "not needed", f"a {acc.type} account needs no secret"
        credentials[name] = {"source": source, "env_var": status.env_var, "detail": detail}
        if source == "missing" and acc.enabled:
            warnings.append(f"accounts.{name}: no secret ({status.detail})")
        for key in acc.backend_options():
            if SECRET_KEY.search(key):
                warnings.append(
                    f"accounts.{name}.{key} looks like a secret in the config file: move it to "
                    f"the keyring (`mailconsole secrets set {name}`) or ${status.env_var}"
                )
    if config.accounts and config.primary_account is None:
        warnings.append("no enabled account can be the primary: set routing.primary")
    return ConfigReport(
        source=config.source, effective=effective, credentials=credentials, warnings=warnings
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return (
            "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    return json.dumps(str(value), ensure_ascii=False)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def render_toml(data: dict[str, Any], prefix: str = "") -> str:
    """TOML for display (unset values shown as comments, since TOML has no null)."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            for sub, subvalue in value.items():
                tables.append((f"{prefix}{_toml_key(key)}.{_toml_key(sub)}", subvalue))
        elif isinstance(value, dict) and (value or not prefix):
            tables.append((f"{prefix}{_toml_key(key)}", value))
        elif value is None:
            lines.append(f"# {_toml_key(key)} = (unset)")
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    out = "\n".join(lines)
    for name, table in tables:
        body = render_toml(table, prefix=f"{name}.")
        out += f"\n\n[{name}]\n{body}" if out else f"[{name}]\n{body}"
    return out.strip("\n")


__all__ = ["MASK", "ConfigReport", "config_report", "mask", "render_toml"]
