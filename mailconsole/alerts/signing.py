"""Signed webhooks: how mailconsole signs an alert, and how a receiver checks it.

The signature is HMAC-SHA256 over `timestamp + "." + raw body`, sent as
`X-Mailconsole-Signature: v1=<hex>` with `X-Mailconsole-Timestamp: <unix seconds>`. Signing the
timestamp with the body means an old request cannot be replayed with a fresh timestamp; the
receiver also refuses timestamps outside a window (300 s by default) and may remember delivery
ids (`X-Mailconsole-Delivery`, also in the body as `id`) to refuse an exact replay inside it.

`verify()` takes several secrets so a receiver can accept the old and the new one while a
secret is rotated; it compares with `hmac.compare_digest` so timing reveals nothing. This module
has no dependency beyond the standard library, so a receiver can copy it as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping

SIGNATURE_HEADER = "X-Mailconsole-Signature"
TIMESTAMP_HEADER = "X-Mailconsole-Timestamp"
DELIVERY_HEADER = "X-Mailconsole-Delivery"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """The request is not a genuine, fresh delivery: answer 401 and do not act on it."""


def compute_signature(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The hex HMAC-SHA256 of `timestamp.body` under `secret`."""
    key = secret.encode() if isinstance(secret, str) else secret
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(
    secret: str | bytes,
    body: bytes,
    *,
    timestamp: int | None = None,
    delivery_id: str | None = None,
) -> dict[str, str]:
    """The headers that sign `body` (the exact bytes that will be sent)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    headers = {
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: f"{SCHEME}={compute_signature(secret, ts, body)}",
    }
    if delivery_id:
        headers[DELIVERY_HEADER] = delivery_id
    return headers


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Iterable[str | bytes],
    *,
    now: float | None = None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    seen: Callable[[str], bool] | None = None,
) -> int:
    """Check a delivery as a receiver must; returns its timestamp or raises SignatureError.

    `body` is the raw request body (never a re-serialised JSON). `secrets` holds every secret
    currently accepted (two while rotating). `seen(delivery_id)` returns True when the id was
    already processed (and records it otherwise): a replay inside the window is refused.
    """
    keys = [s for s in secrets if s]
    if not keys:
        raise SignatureError("no secret configured to verify with")
    raw_ts = _header(headers, TIMESTAMP_HEADER)
    raw_sig = _header(headers, SIGNATURE_HEADER)
    if not raw_ts or not raw_sig:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    try:
        ts = int(raw_ts.strip())
    except ValueError:
        raise SignatureError("timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        raise SignatureError(f"timestamp outside the {int(tolerance_s)} s window")
    offered = [
        part.strip()[len(SCHEME) + 1 :]
        for part in raw_sig.split(",")
        if part.strip().startswith(SCHEME + "=")
    ]
    if not offered:
        raise SignatureError(f"no {SCHEME} signature in {SIGNATURE_HEADER}")
    matched = False
    for key in keys:
        expected = compute_signature(key, ts, body)
        for candidate in offered:
            # Compare every pair (no early exit) so timing does not tell which secret matched.
            matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        raise SignatureError("signature does not match the body")
    if seen is not None:
        delivery = _header(headers, DELIVERY_HEADER)
        if delivery and seen(delivery):
            raise SignatureError("delivery already processed (replay)")
    return ts


class SeenIds:
    """A small in-memory replay guard for `verify(seen=…)`: ids are forgotten after the window."""

    def __init__(self, ttl_s: float = DEFAULT_TOLERANCE_S * 2) -> None:
        self.ttl_s = ttl_s
        self._seen: dict[str, float] = {}

    def __call__(self, delivery_id: str, *, now: float | None = None) -> bool:
        current = time.time() if now is None else now
        for key, at in list(self._seen.items()):
            if current - at > self.ttl_s:
                del self._seen[key]
        if delivery_id in self._seen:
            return True
        self._seen[delivery_id] = current
        return False
