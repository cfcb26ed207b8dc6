"""What can go wrong talking to Listmonk, as one-line errors that say what to do.

Each error carries the normalized `error_code` (`http_403`, `timeout`, `connect_error`…), the HTTP
`status` when there was one, and Listmonk's own `message`, so the tx backend can classify an
attempt from the exception alone and the console can show Listmonk's words.
"""

from __future__ import annotations

from mailconsole.errors import BackendError, NotFoundError


class ListmonkError(BackendError):
    """Base of the Listmonk client's errors."""

    title = "Listmonk error"

    def __init__(
        self,
        msg: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        listmonk_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.error_code = error_code or (f"http_{status}" if status else "backend_error")
        self.listmonk_message = listmonk_message
        self.retry_after = retry_after


class ListmonkAuthError(ListmonkError):
    """403/401: the API user or token is wrong, revoked, or lacks the permission."""

    title = "Listmonk credentials rejected"


class ListmonkRequestError(ListmonkError):
    """400/422: Listmonk refused the request; `listmonk_message` says why, in its words."""

    title = "Listmonk refused the request"
    exit_code = 65  # EX_DATAERR


class ListmonkNotFoundError(ListmonkError, NotFoundError):
    """404, or Listmonk's own 400 "… not found" (it answers 400 for a missing campaign)."""

    title = "Not found in Listmonk"
    exit_code = 1


class ListmonkUnavailableError(ListmonkError):
    """5xx, 429, timeouts and connection failures: worth trying again later."""

    title = "Listmonk unavailable"
