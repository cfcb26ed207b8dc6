"""The one TOML configuration file, validated into typed sections.

Where it is found: `--config`, then `MAILCONSOLE_CONFIG`, then `<user config dir>/config.toml`;
no file at all means the defaults (an embedded SQLite store and no accounts). Unknown keys are
errors, so a typo is caught at start with the key named, not ignored silently. Secrets never live
here: see `mailconsole.secrets`.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mailconsole.errors import ConfigError

APP_NAME = "mailconsole"
CONFIG_ENV = "MAILCONSOLE_CONFIG"
DATABASE_ENV = "MAILCONSOLE_DATABASE_URL"
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AccountConfig(BaseModel):
    """One named sending account. Backend-specific keys are checked by the backend itself."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    type: str
    from_addr: str | None = Field(default=None, alias="from")
    batch_size: int | None = Field(default=None, ge=1, le=10_000)
    max_connections: int | None = Field(default=None, ge=1, le=256)
    rate_per_second: float | None = Field(default=None, gt=0)
    fallback: str | None = None
    enabled: bool = True

    def backend_options(self) -> dict[str, Any]:
        """The table as the backend sees it: every key but `type`."""
        data = self.model_dump(by_alias=True, exclude={"type"}, exclude_none=True)
        data.update(self.model_extra or {})
        return data


class RoutingConfig(Section):
    primary: str | None = None
    fallback: str | None = None
    fallback_enabled: bool = False  # initial value; the operator switch lives in the database


class RetryConfig(Section):
    base_seconds: float = Field(default=60.0, gt=0)
    cap_seconds: float = Field(default=3600.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=100)
    jitter: float = Field(default=0.2, ge=0, le=1)


class DispatchConfig(Section):
    interval_seconds: float = Field(default=5.0, gt=0)
    lease_seconds: float = Field(default=300.0, ge=5)
    # A run ends after `claim_limit` messages or `run_seconds`, whichever comes first, and the
    # next one starts at once while messages are due: pause, leadership and config are checked
    # between runs. Within a run each connection slot claims its next batch while one is in
    # flight, so a run must be several batches long for the pipeline to fill.
    claim_limit: int = Field(default=10_000, ge=1)
    run_seconds: float = Field(default=5.0, gt=0)
    outage_threshold: int = Field(default=3, ge=1)  # consecutive failed requests that open one
    probe_interval_seconds: float = Field(default=30.0, gt=0)
    account_probe_interval_seconds: float = Field(default=300.0, gt=0)
    leader_lease_seconds: float = Field(default=30.0, ge=5)
    recover_interval_seconds: float = Field(default=30.0, gt=0)  # expired-lease recovery job
    health_interval_seconds: float = Field(default=300.0, gt=0)  # provider health/quota job
    # SQLite page cache per connection of `mailconsole worker` (KiB): small, so the worker's memory
    # stays flat however long the queue (the console keeps the store's larger default).
    worker_sqlite_cache_kib: int = Field(default=2048, ge=256)


class LimitsConfig(Section):
    max_message_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_recipients: int = Field(default=50, ge=1)
    max_subject_chars: int = Field(default=998, ge=1)


class ThresholdsConfig(Section):
    """Warning/critical levels used by `health check` and the Dashboard colours."""

    backlog_warning: int = 100
    backlog_critical: int = 1000
    oldest_age_warning_s: float = 900
    oldest_age_critical_s: float = 3600
    failure_rate_warning: float = 0.05
    failure_rate_critical: float = 0.10
    dead_letters_new_warning: int = 1
    dead_letters_new_critical: int = 100
    heartbeat_stale_s: float = 120
    outage_warning_s: float = 0
    outage_critical_s: float = 600


class RetentionConfig(Section):
    attempts_days: int = Field(default=90, ge=1)
    events_days: int = Field(default=90, ge=1)
    messages_days: int = Field(default=90, ge=1)
    audit_days: int = Field(default=730, ge=1)


ALERT_METRICS = (
    "failure_rate_24h",
    "queue_backlog",
    "oldest_queue_age_s",
    "dead_letters_new",
    "outage_open_s",
    "quota_used",
    "scheduler_heartbeat_age_s",
)
ALERT_METRICS_WITHOUT_BACKEND = ("oldest_queue_age_s", "scheduler_heartbeat_age_s")


class AlertRuleConfig(Section):
    """One alert rule; `metric` picks what it watches (see mailconsole.alerts.rules).

    It fires at `threshold` (level critical), or at `warning` (level warning) when given.
    `window_seconds` is the look-back of `dead_letters_new` (default 3600); `backend` narrows
    failure_rate_24h, queue_backlog, dead_letters_new, outage_open_s and quota_used to one account.
    `notify` names notifiers; empty means `alerts.default_notify`, then every notifier.
    """

    metric: str
    threshold: float
    warning: float | None = None
    window_seconds: float | None = None
    backend: str | None = None
    cooldown_seconds: float | None = None
    notify: list[str] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in ALERT_METRICS:
            raise ValueError(f"unknown metric {value!r}: use one of {', '.join(ALERT_METRICS)}")
        return value

    @model_validator(mode="after")
    def _warning_below_threshold(self) -> AlertRuleConfig:
        if self.warning is not None and self.warning > self.threshold:
            raise ValueError(
                f"warning ({self.warning}) must not be above threshold ({self.threshold})"
            )
        return self


class NotifierConfig(BaseModel):
    """A named notification target; keys beyond `type` belong to the notifier kind."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Literal["slack", "webhook", "email", "hook"]


class AlertsConfig(Section):
    """Alert evaluation and delivery. No `rules` means the default rules (mailconsole.alerts.rules).

    Delivery: each notice gets `notify_tries` tries, `notify_timeout_seconds` each, with backoff
    from `notify_backoff_seconds`, and never more than `notify_total_seconds` in all (a notifier
    may override `tries` and `timeout_seconds` in its own table).
    """

    cooldown_seconds: float = Field(default=3600.0, ge=0)
    evaluate_interval_seconds: float = Field(default=60.0, gt=0)
    default_notify: list[str] = Field(default_factory=list)
    rules: dict[str, AlertRuleConfig] = Field(default_factory=dict)
    notify_tries: int = Field(default=3, ge=1, le=10)
    notify_timeout_seconds: float = Field(default=10.0, gt=0)
    notify_backoff_seconds: float = Field(default=1.0, ge=0)
    notify_total_seconds: float = Field(default=60.0, gt=0)


class ListmonkConfig(Section):
    """Campaign governance: which account is the Listmonk instance, and the testers' list."""

    account: str | None = None
    testers_list: str = "mailing-testers"
    marketing_attribute: str = "marketing_opt_in"


class UIConfig(Section):
    refresh_seconds: float = Field(default=5.0, gt=0)
    keymap: dict[str, str] = Field(default_factory=dict)
    typed_confirm_threshold: int = Field(default=1000, ge=1)
    page_size: int = Field(default=200, ge=10, le=1000)


class Config(Section):
    database_url: str | None = None
    read_only: bool = False
    log_detail: Literal["metadata", "full"] = "metadata"
    trusted_proxies: list[str] = Field(default_factory=list)
    accounts: dict[str, AccountConfig] = Field(default_factory=dict)
    routing: RoutingConfig = RoutingConfig()
    retry: RetryConfig = RetryConfig()
    dispatch: DispatchConfig = DispatchConfig()
    limits: LimitsConfig = LimitsConfig()
    thresholds: ThresholdsConfig = ThresholdsConfig()
    retention: RetentionConfig = RetentionConfig()
    alerts: AlertsConfig = AlertsConfig()
    notifiers: dict[str, NotifierConfig] = Field(default_factory=dict)
    listmonk: ListmonkConfig = ListmonkConfig()
    ui: UIConfig = UIConfig()
    source: str | None = Field(default=None, exclude=True)

    @field_validator("accounts")
    @classmethod
    def _account_names(cls, value: dict[str, AccountConfig]) -> dict[str, AccountConfig]:
        for name in value:
            if not ACCOUNT_NAME.match(name):
                raise ValueError(
                    f"account name {name!r} must be letters, digits, '-', '_' or '.' (max 64)"
                )
        return value

    @model_validator(mode="after")
    def _references(self) -> Config:
        names = set(self.accounts)
        known = ", ".join(sorted(names)) or "none configured"
        for key, ref in (
            ("routing.primary", self.routing.primary),
            ("routing.fallback", self.routing.fallback),
        ):
            if ref is not None and ref not in names:
                raise ValueError(f"{key} = {ref!r} is not an account (accounts: {known})")
        for name, account in self.accounts.items():
            if account.fallback is not None and account.fallback not in names:
                raise ValueError(
                    f"accounts.{name}.fallback = {account.fallback!r} is not an account (accounts: {known})"
                )
        for rule_name, rule in self.alerts.rules.items():
            if not 1 <= len(rule_name) <= 64:
                raise ValueError(f"alerts.rules.{rule_name}: a rule name has 1 to 64 characters")
            if rule.backend is not None and rule.backend not in names:
                raise ValueError(
                    f"alerts.rules.{rule_name}.backend = {rule.backend!r} is not an account "
                    f"(accounts: {known})"
                )
            if rule.backend is not None and rule.metric in ALERT_METRICS_WITHOUT_BACKEND:
                raise ValueError(
                    f"alerts.rules.{rule_name}.backend: {rule.metric} is not kept per backend"
                )
            for target in rule.notify:
                if target not in self.notifiers:
                    raise ValueError(
                        f"alerts.rules.{rule_name}.notify names unknown notifier {target!r}"
                    )
        for target in self.alerts.default_notify:
            if target not in self.notifiers:
                raise ValueError(f"alerts.default_notify names unknown notifier {target!r}")
        if self.listmonk.account is not None and self.listmonk.account not in names:
            raise ValueError(f"listmonk.account = {self.listmonk.account!r} is not an account")
        return self

    # --- derived views -----------------------------------------------------------------------

    @property
    def primary_account(self) -> str | None:
        """The routed primary: the configured one, else the only/first enabled account."""
        if self.routing.primary:
            return self.routing.primary
        for name, account in self.accounts.items():
            if account.enabled and account.type != "listmonk":
                return name
        return None

    def fallback_for(self, account: str) -> str | None:
        acc = self.accounts.get(account)
        if acc is not None and acc.fallback:
            return acc.fallback
        if (
            account == self.primary_account
            and self.routing.fallback
            and self.routing.fallback != account
        ):
            return self.routing.fallback
        return None

    def effective_database_url(self) -> str:
        url = os.environ.get(DATABASE_ENV) or self.database_url
        if url:
            return url
        return f"sqlite:///{default_data_dir() / 'mailconsole.db'}"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def _format_validation_error(source: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        msg = err.get("msg", "invalid value").removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key (check the spelling; see README for the keys)"
        parts.append(f"{loc}: {msg}" if loc else msg)
    more = f" (+{len(exc.errors()) - 3} more)" if len(exc.errors()) > 3 else ""
    return f"{source}: " + "; ".join(parts) + more


def parse_config(data: dict[str, Any], source: str = "config") -> Config:
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(source, exc)) from None
    return cfg.model_copy(update={"source": source})


def load_config(
    path: str | Path | None = None, *, overrides: dict[str, Any] | None = None
) -> Config:
    """Find, read and validate the configuration; ConfigError says what is wrong and where."""
    explicit = path or os.environ.get(CONFIG_ENV)
    candidate = Path(explicit).expanduser() if explicit else default_config_path()
    data: dict[str, Any] = {}
    source = "defaults (no config file)"
    if candidate.exists():
        try:
            with candidate.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{candidate}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{candidate}: cannot read: {exc.strerror}") from None
        source = str(candidate)
    elif explicit:
        raise ConfigError(
            f"config file {candidate} does not exist: create it or fix --config/{CONFIG_ENV}"
        )
    if overrides:
        data = {**data, **overrides}
    return parse_config(data, source)
