"""Built-in alert hooks (entry-point group `mailconsole.alert_hooks`).

A hook is any callable taking the notice payload (a dict: rule, state, level, threshold, value,
metrics, time, summary…); a third-party package registers its own under the same group, e.g.

    [project.entry-points."mailconsole.alert_hooks"]
    pagerduty = "mycompany.alerting:page"

and a notifier uses it with `[notifiers.page] type = "hook"`, `hook = "pagerduty"`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("mailconsole.alerts")


def log_hook(payload: Mapping[str, Any]) -> str:
    """Write the notice's summary line to the `mailconsole.alerts` logger (journald, a file…)."""
    level = logging.INFO if payload.get("kind") in ("resolved", "test") else logging.WARNING
    log.log(level, "%s", payload.get("summary", ""))
    return "logged"
