"""One base error carrying a one-line message that tells the user what to do.

Interfaces (CLI, console) catch `MailconsoleError` and show `str(error)`; anything else is a bug.
"""

from __future__ import annotations


class MailconsoleError(Exception):
    """An expected failure with a clear, one-line message (and an exit code for the CLI)."""

    exit_code = 1
    title = "Error"

    def __init__(self, msg: str, *, title: str | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        if title:
            self.title = title

    def __str__(self) -> str:
        return self.msg


class ConfigError(MailconsoleError):
    title = "Configuration error"
    exit_code = 78  # EX_CONFIG


class StoreError(MailconsoleError):
    title = "Database error"
    exit_code = 74  # EX_IOERR


class SchemaOutdatedError(StoreError):
    title = "Database schema is out of date"


class ReadOnlyError(MailconsoleError):
    title = "Read-only mode"
    exit_code = 77  # EX_NOPERM


class NotFoundError(MailconsoleError):
    title = "Not found"


class ValidationError(MailconsoleError):
    title = "Invalid input"
    exit_code = 65  # EX_DATAERR


class SecretError(MailconsoleError):
    title = "Secret unavailable"
    exit_code = 78


class BackendError(MailconsoleError):
    title = "Provider error"
    exit_code = 69  # EX_UNAVAILABLE


class UnknownBackendError(ConfigError):
    title = "Unknown backend"


class ConflictError(MailconsoleError):
    """The operation cannot run now (another process leads, a lease is held…)."""

    title = "Busy"
    exit_code = 75  # EX_TEMPFAIL
