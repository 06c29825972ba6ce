"""Verification of multimail's webhooks (Standard Webhooks).

multimail POSTs each event as JSON with three headers::

    webhook-id:        the delivery's id (a retry carries the same id and body)
    webhook-timestamp: Unix seconds when it was signed
    webhook-signature: "v1,<base64 HMAC-SHA256>" (several, space-separated, during a
                       secret rotation)

The HMAC key is the base64 part of the ``whsec_…`` secret configured in ``[[webhook]]``;
the signed content is ``"{id}.{timestamp}.{body}"``. :func:`verify` checks all of it and
returns the decoded event::

    from multimail import webhooks

    event = webhooks.verify(request_body_bytes, request_headers, secret)
    handle_multimail_webhook(event)

A request that fails raises :class:`multimail.WebhookVerificationError`; answer it with 4xx.
Delivery is at-least-once: use ``webhook-id`` to ignore a second copy you have already acted
on. The timestamp tolerance (5 minutes by default) bounds how long a captured request can be
replayed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Dict, Mapping, Optional, Union

from .errors import WebhookVerificationError

__all__ = ["verify", "sign", "DEFAULT_TOLERANCE", "SECRET_PREFIX", "WebhookVerificationError"]

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300
"""Seconds a webhook-timestamp may differ from now (either way)."""

Headers = Any  # a Mapping[str, str], http.client.HTTPMessage, or anything with .items()


def _key(secret: Union[str, bytes]) -> bytes:
    if isinstance(secret, bytes):
        secret = secret.decode("ascii", "replace")
    raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise WebhookVerificationError("webhook secret is not whsec_<base64>")
    return key


def _header(headers: Headers, name: str) -> str:
    """Case-insensitive header lookup on a mapping, an HTTPMessage or a list of pairs."""
    items = headers.items() if hasattr(headers, "items") else headers
    for k, v in items:
        if str(k).lower() == name:
            return str(v).strip()
    return ""


def _signature(key: bytes, msg_id: str, timestamp: int, payload: bytes) -> bytes:
    signed = ("%s.%d." % (msg_id, timestamp)).encode("utf-8") + payload
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(payload: Union[bytes, str], secret: Union[str, bytes], msg_id: str, timestamp: Optional[int] = None) -> Dict[str, str]:
    """Returns the three Standard Webhooks headers for payload, as multimail would send
    them (for tests of your own webhook endpoint)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    ts = int(time.time()) if timestamp is None else int(timestamp)
    sig = base64.b64encode(_signature(_key(secret), msg_id, ts, payload)).decode("ascii")
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": "v1," + sig}


def verify(
    payload: Union[bytes, str],
    headers: Headers,
    secret: Union[str, bytes],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: Optional[float] = None,
) -> Dict[str, Any]:
    """Verifies a webhook request and returns its JSON event as a dict.

    Args:
        payload: the raw request body, exactly as received (do not re-encode parsed JSON).
        headers: the request headers (any case): webhook-id, webhook-timestamp and
            webhook-signature.
        secret: the endpoint's ``whsec_…`` secret.
        tolerance: seconds the timestamp may be off from now, past or future (replays of a
            captured request are refused after it).
        now: the current Unix time (for tests); default ``time.time()``.

    Raises:
        WebhookVerificationError: a header is missing, the secret is malformed, the timestamp
            is not an integer or is outside the tolerance, no ``v1`` signature matches (each
            compared in constant time), or the body is not a JSON object.
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    key = _key(secret)
    msg_id = _header(headers, "webhook-id")
    ts_text = _header(headers, "webhook-timestamp")
    sigs = _header(headers, "webhook-signature")
    if not msg_id or not ts_text or not sigs:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        ts = int(ts_text)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp %r is not Unix seconds" % ts_text) from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is %ds away from now (stale or replayed)" % int(current - ts))
    want = _signature(key, msg_id, ts, payload)
    if not _any_matches(sigs, want):
        raise WebhookVerificationError("no webhook-signature matches")
    try:
        event = json.loads(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise WebhookVerificationError("webhook body is not JSON") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("webhook body is not a JSON object")
    return event


def _any_matches(sigs: str, want: bytes) -> bool:
    """Checks every "v1,<base64>" entry without stopping at the first match, comparing each
    in constant time."""
    ok = False
    for entry in sigs.split():
        version, _, b64 = entry.partition(",")
        if version != "v1" or not b64:
            continue
        try:
            got = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(got, want):
            ok = True
    return ok
