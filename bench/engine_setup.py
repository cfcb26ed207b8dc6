"""Building the engine the way `mailconsole worker` does, around a benchmark database.

The in-process figures (dispatch, dashboard, mail log, bulk retry) use a real `AppContext` with a
validated config, the system clock and the secrets in the environment (as on a headless host), so
they run exactly the code the CLI and the console run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mailconsole.config import Config, parse_config
from mailconsole.context import Actor, AppContext
from mailconsole.secrets import env_var_for
from mailconsole.store.db import Database

POSTMARK_TOKEN = "pm-test-token"  # tests.fakes.postmark_server.DEFAULT_TOKEN


def incident_config(postmark_url: str = "http://127.0.0.1:9", smtp_port: int = 9) -> dict[str, Any]:
    """The accounts of the incident dataset: Postmark primary, an SMTP relay as fallback."""
    return {
        "accounts": {
            "postmark-main": {
                "type": "postmark",
                "from": "orders@shop.example",
                "base_url": postmark_url,
            },
            "smtp-backup": {
                "type": "smtp",
                "from": "orders@shop.example",
                "host": "127.0.0.1",
                "port": smtp_port,
                "starttls": False,
            },
        },
        "routing": {"primary": "postmark-main", "fallback": "smtp-backup"},
    }


def set_secrets() -> None:
    """The Postmark token from the environment, as on a host without a keyring."""
    os.environ[env_var_for("postmark-main")] = POSTMARK_TOKEN


def make_ctx(database_url: str, config: dict[str, Any] | Config) -> AppContext:
    set_secrets()
    cfg = config if isinstance(config, Config) else parse_config(config, source="bench")
    return AppContext(
        config=cfg,
        db=Database(database_url),
        actor=Actor(name="bench", interface="cli"),
    )


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(config: dict[str, Any]) -> str:
    """A config dict (two levels of tables at most) as a TOML file for a `mailconsole` child."""
    lines: list[str] = []

    def table(prefix: str, data: dict[str, Any]) -> None:
        scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
        nested = {k: v for k, v in data.items() if isinstance(v, dict)}
        if scalars:
            lines.append(f"[{prefix}]")
            lines.extend(f"{k} = {toml_value(v)}" for k, v in scalars.items())
            lines.append("")
        for k, v in nested.items():
            table(f"{prefix}.{k}", v)

    top = {k: v for k, v in config.items() if not isinstance(v, dict)}
    lines.extend(f"{k} = {toml_value(v)}" for k, v in top.items())
    for k, v in config.items():
        if isinstance(v, dict):
            table(k, v)
    return "\n".join(lines) + "\n"
