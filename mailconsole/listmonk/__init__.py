"""Listmonk: the API client the campaign governance and the `listmonk` tx backend share.

The Listmonk instance is a configured account (`type = "listmonk"`, `base_url`, `api_user`; the
token is its secret), named by `[listmonk] account` or, when there is exactly one, found by type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from mailconsole.errors import ConfigError
from mailconsole.listmonk.client import ListmonkClient, normalize_base_url, sql_quote
from mailconsole.listmonk.errors import (
    ListmonkAuthError,
    ListmonkError,
    ListmonkNotFoundError,
    ListmonkRequestError,
    ListmonkUnavailableError,
)
from mailconsole.listmonk.models import (
    AnalyticsCount,
    Bounce,
    Campaign,
    ImportStatus,
    ListRef,
    MailingList,
    RunningStats,
    Subscriber,
    Subscription,
    Template,
)

if TYPE_CHECKING:
    from mailconsole.config import Config
    from mailconsole.context import AppContext

__all__ = [
    "AnalyticsCount",
    "Bounce",
    "Campaign",
    "ImportStatus",
    "ListRef",
    "ListmonkAuthError",
    "ListmonkClient",
    "ListmonkError",
    "ListmonkNotFoundError",
    "ListmonkRequestError",
    "ListmonkUnavailableError",
    "MailingList",
    "RunningStats",
    "Subscriber",
    "Subscription",
    "Template",
    "client_from_context",
    "connection_options",
    "listmonk_account",
    "normalize_base_url",
    "sql_quote",
]


def listmonk_account(config: Config) -> str:
    """The account name of the Listmonk instance; ConfigError says how to configure one."""
    if config.listmonk.account:
        account = config.accounts.get(config.listmonk.account)
        if account is not None and account.type != "listmonk":
            raise ConfigError(
                f"listmonk.account = {config.listmonk.account!r} is a {account.type} account: "
                'point it at an account with type = "listmonk"'
            )
        return config.listmonk.account
    names = [name for name, acc in config.accounts.items() if acc.type == "listmonk"]
    if len(names) == 1:
        return names[0]
    if not names:
        raise ConfigError(
            'no Listmonk account configured: add [accounts.<name>] with type = "listmonk", '
            "base_url and api_user, then `mailconsole secrets set <name>` for the token"
        )
    raise ConfigError(
        f"several Listmonk accounts ({', '.join(sorted(names))}): set [listmonk] account = "
        "the one that holds the campaigns"
    )


def connection_options(account: str, options: Mapping[str, Any]) -> tuple[str, str, float]:
    """(base_url, api_user, timeout_seconds) from an account table; ConfigError names the key."""
    base_url = options.get("base_url")
    if not isinstance(base_url, str) or not base_url.strip():
        raise ConfigError(f"accounts.{account}.base_url: required for a listmonk account")
    if not base_url.strip().lower().startswith(("http://", "https://")):
        raise ConfigError(
            f"accounts.{account}.base_url: must start with http:// or https:// (got {base_url!r})"
        )
    api_user = options.get("api_user")
    if not isinstance(api_user, str) or not api_user.strip():
        raise ConfigError(f"accounts.{account}.api_user: required for a listmonk account")
    timeout = options.get("timeout_seconds", 30.0)
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        raise ConfigError(f"accounts.{account}.timeout_seconds: must be a number") from None
    if timeout <= 0:
        raise ConfigError(f"accounts.{account}.timeout_seconds: must be greater than 0")
    return normalize_base_url(base_url), api_user.strip(), timeout


def client_from_context(
    ctx: AppContext, *, http: httpx.AsyncClient | None = None, account: str | None = None
) -> ListmonkClient:
    """A client for the configured Listmonk account, its token from the secret store.

    Without `http`, one is made with `ctx.http_factory()` and closed by `client.aclose()`.
    """
    name = account or listmonk_account(ctx.config)
    acc = ctx.config.accounts.get(name)
    if acc is None:
        raise ConfigError(f"no account named {name!r} in the config file")
    base_url, api_user, timeout = connection_options(name, acc.backend_options())
    token = ctx.secrets.require(name)
    owns = http is None
    return ListmonkClient(
        base_url,
        api_user,
        token,
        http if http is not None else ctx.http_factory(),
        ctx.clock,
        account=name,
        timeout_seconds=timeout,
        owns_http=owns,
    )
