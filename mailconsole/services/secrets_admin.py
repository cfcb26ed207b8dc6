"""Account secrets for operators: where each comes from, and setting or deleting keyring entries.

Values never leave this module except into the keyring: the audit row names the account only,
status reports the source (environment, keyring, missing), never the secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailconsole.context import AppContext
from mailconsole.errors import ValidationError
from mailconsole.services._readmodel import ReadModel
from mailconsole.services.audit import operation
from mailconsole.services.providers import credential


@dataclass(frozen=True)
class SecretStatusView(ReadModel):
    account: str
    type: str | None
    needed: bool
    source: str  # environment | keyring | missing | not needed
    env_var: str
    keyring_usable: bool
    detail: str


def _check_name(ctx: AppContext, name: str) -> None:
    if name in ctx.config.accounts or name in ctx.config.notifiers:
        return
    known = ", ".join(sorted([*ctx.config.accounts, *ctx.config.notifiers])) or "none configured"
    raise ValidationError(f"unknown account {name!r}: configured accounts are {known}")


def secret_status(ctx: AppContext, account: str | None = None) -> list[SecretStatusView]:
    """Where each configured account's secret comes from (or one account's)."""
    if account is not None:
        _check_name(ctx, account)
    names = [account] if account else list(ctx.config.accounts)
    usable = ctx.secrets.keyring_usable()
    views = []
    for name in names:
        acc = ctx.config.accounts.get(name)
        cred = credential(ctx, name)
        views.append(
            SecretStatusView(
                account=name,
                type=acc.type if acc else None,
                needed=cred.needed,
                source=cred.source,
                env_var=cred.env_var,
                keyring_usable=usable,
                detail=cred.detail,
            )
        )
    return views


def set_secret(ctx: AppContext, account: str, secret: str, reason: str | None = None) -> None:
    """Store the account's secret in the OS keyring (SecretError says what to do without one)."""
    with operation(ctx, "secrets.set", target={"account": account}, reason=reason) as rec:
        _check_name(ctx, account)
        ctx.secrets.set(account, secret)
        rec.count = 1


def delete_secret(ctx: AppContext, account: str, reason: str | None = None) -> bool:
    """Remove the keyring entry; False when there was none. The environment is not touched."""
    with operation(ctx, "secrets.delete", target={"account": account}, reason=reason) as rec:
        _check_name(ctx, account)
        removed = ctx.secrets.delete(account)
        rec.count = int(removed)
        return removed


__all__ = ["SecretStatusView", "delete_secret", "secret_status", "set_secret"]
