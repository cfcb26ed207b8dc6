"""Where account secrets come from: the OS keyring, or an environment variable.

On a headless host keyring's chosen backend is its `fail` backend and every call raises
`NoKeyringError`; that means "no keyring", not an error: we fall through to the environment and,
when the secret is in neither, say exactly what to do. Secrets are never written to the config
file, the database, logs or exports.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import StrEnum

import keyring
import keyring.errors

from mailconsole.errors import SecretError

SERVICE = "mailconsole"


class SecretSource(StrEnum):
    ENVIRONMENT = "environment"
    KEYRING = "keyring"
    MISSING = "missing"


@dataclass(frozen=True)
class SecretStatus:
    account: str
    source: SecretSource
    env_var: str
    keyring_usable: bool
    detail: str = ""


def env_var_for(account: str) -> str:
    """`postmark-main` → `MAILCONSOLE_SECRET_POSTMARK_MAIN`."""
    return "MAILCONSOLE_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", account).upper()


def _no_keyring_hint(account: str) -> str:
    return (
        f"no usable OS keyring on this host: export {env_var_for(account)}=… for the process "
        "(e.g. from your secrets manager), or install a keyring backend package "
        "(e.g. `pip install keyrings.alt`) and run `mailconsole secrets set "
        f"{account}`"
    )


class SecretStore:
    """Reads and writes account secrets; the environment wins over the keyring."""

    def __init__(self, service: str = SERVICE) -> None:
        self.service = service

    def get(self, account: str) -> str | None:
        value = os.environ.get(env_var_for(account))
        if value:
            return value
        try:
            return keyring.get_password(self.service, account)
        except keyring.errors.KeyringError:
            return None
        except Exception:  # a broken third-party backend must not take the engine down
            return None

    def require(self, account: str) -> str:
        value = self.get(account)
        if value is None:
            raise SecretError(
                f"no secret for account {account!r}: run `mailconsole secrets set {account}` "
                f"or export {env_var_for(account)}"
            )
        return value

    def keyring_usable(self) -> bool:
        try:
            backend = keyring.get_keyring()
        except Exception:
            return False
        return "fail" not in type(backend).__module__.split(".")[-1] and backend.priority > 0

    def status(self, account: str) -> SecretStatus:
        var = env_var_for(account)
        usable = self.keyring_usable()
        if os.environ.get(var):
            return SecretStatus(account, SecretSource.ENVIRONMENT, var, usable, f"from ${var}")
        try:
            if keyring.get_password(self.service, account) is not None:
                return SecretStatus(
                    account, SecretSource.KEYRING, var, usable, "from the OS keyring"
                )
        except keyring.errors.KeyringError:
            pass
        except Exception:
            pass
        hint = (
            f"run `mailconsole secrets set {account}` or export {var}"
            if usable
            else _no_keyring_hint(account)
        )
        return SecretStatus(account, SecretSource.MISSING, var, usable, hint)

    def set(self, account: str, secret: str) -> None:
        if not secret:
            raise SecretError("an empty secret was given: nothing stored")
        try:
            keyring.set_password(self.service, account, secret)
        except keyring.errors.NoKeyringError:
            raise SecretError(_no_keyring_hint(account)) from None
        except keyring.errors.KeyringError as exc:
            raise SecretError(f"the keyring refused to store the secret: {exc}") from None

    def delete(self, account: str) -> bool:
        """Remove the keyring entry; False when there was none."""
        try:
            keyring.delete_password(self.service, account)
        except keyring.errors.PasswordDeleteError:
            return False
        except keyring.errors.NoKeyringError:
            raise SecretError(_no_keyring_hint(account)) from None
        except keyring.errors.KeyringError as exc:
            raise SecretError(f"the keyring refused to delete the secret: {exc}") from None
        return True
