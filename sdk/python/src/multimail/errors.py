"""Exceptions of the multimail SDK.

Every failed API call raises a subclass of :class:`MultimailError`. Errors the server answered
carry its ``{"error": {"code", "message", "field"}}`` body as attributes, plus the HTTP status
and, for 429, the ``Retry-After`` seconds. The class is chosen by the error ``code`` (and by
the HTTP status when the code is one this SDK does not know):

==========================  ======  =========================
exception                   status  code
==========================  ======  =========================
:class:`InvalidRequest`     400     ``invalid_request``
:class:`Unauthorized`       401     ``unauthorized``
:class:`Forbidden`          403     ``forbidden``
:class:`NotFound`           404     ``not_found``
:class:`MethodNotAllowed`   405     ``method_not_allowed``
:class:`Conflict`           409     ``conflict``
:class:`IdempotencyConflict` 409    ``idempotency_conflict``
:class:`PayloadTooLarge`    413     ``payload_too_large``
:class:`UnprocessableEntity` 422    ``unprocessable_entity``
:class:`RateLimited`        429     ``rate_limited``
:class:`InternalError`      500     ``internal_error``
:class:`ServiceUnavailable` 503     ``service_unavailable``
==========================  ======  =========================

:class:`APIConnectionError` means no HTTP answer arrived (after the retries the call allows).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional, Type

__all__ = [
    "MultimailError",
    "APIError",
    "APIConnectionError",
    "InvalidRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "Conflict",
    "IdempotencyConflict",
    "NothingToCancel",
    "Suppressed",
    "PayloadTooLarge",
    "UnprocessableEntity",
    "RateLimited",
    "ServerError",
    "InternalError",
    "ServiceUnavailable",
    "WebhookVerificationError",
    "error_from_response",
]


class MultimailError(Exception):
    """Base class of every exception this SDK raises."""


class APIError(MultimailError):
    """The server answered with an error status.

    Attributes:
        code: the API's error code, e.g. ``"not_found"`` (``"http_<status>"`` if the body had
            none).
        message: the API's human-readable message.
        status: the HTTP status code.
        field: the request field at fault, when the server named one (400, 409, 422).
        retry_after: seconds from the ``Retry-After`` header (429), else ``None``.
        body: the decoded JSON error body, or ``None`` if it was not JSON.
        headers: the response headers, lower-cased names.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int,
        field: Optional[str] = None,
        retry_after: Optional[float] = None,
        body: Optional[Dict[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.field = field
        self.retry_after = retry_after
        self.body = body
        self.headers: Dict[str, str] = dict(headers or {})

    def __str__(self) -> str:
        return "%d %s: %s" % (self.status, self.code, self.message)

    def __repr__(self) -> str:
        return "%s(code=%r, status=%d, message=%r)" % (type(self).__name__, self.code, self.status, self.message)


class InvalidRequest(APIError):
    """400: bad JSON or a bad field; :attr:`field` names it."""


class Unauthorized(APIError):
    """401: no API key, or an unknown one."""


class Forbidden(APIError):
    """403: the key is not scoped to the mailbox or lacks the scope, or the oversight mode
    forbids the action (read_only mailboxes cannot send)."""


class NotFound(APIError):
    """404: no such message, email, approval, folder or endpoint."""


class MethodNotAllowed(APIError):
    """405: the path exists but not with this method."""


class Conflict(APIError):
    """409: the request conflicts with the current state (e.g. an approval already decided)."""


class IdempotencyConflict(Conflict):
    """409: the idempotency key was used in the last 24 h with a different request body."""


class PayloadTooLarge(APIError):
    """413: the request body or the message built from it is over the server's size limit."""


class UnprocessableEntity(APIError):
    """422: well-formed but impossible, e.g. a ``mailbox_id`` that does not exist."""


class RateLimited(APIError):
    """429: the key's rate limit is exhausted; :attr:`retry_after` says for how long."""


class ServerError(APIError):
    """5xx: the server failed; the call may be retried."""


class InternalError(ServerError):
    """500 ``internal_error``."""


class ServiceUnavailable(ServerError):
    """503 ``service_unavailable``: shutting down, or the request timed out on the server."""


class APIConnectionError(MultimailError):
    """No HTTP response arrived: connection refused or dropped, or the timeout passed.

    Attributes:
        attempts: how many times the request was tried.
    """

    def __init__(self, message: str, *, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


class WebhookVerificationError(MultimailError):
    """A webhook failed verification: missing headers, a bad secret, a timestamp outside the
    tolerance (stale or replayed), no matching signature, or a body that is not a JSON
    object. Answer such a request with 400 or 401 and do not act on it."""


class NothingToCancel(Conflict):
    """409 ``nothing_to_cancel``: every recipient of the message is delivered, final or
    already cancelled."""


class Suppressed(UnprocessableEntity):
    """422 ``suppressed``: a recipient is on the sending domain's suppression list; ``field``
    names it (``to[0]``, ``bcc[1]``) and ``message`` says why."""


_BY_CODE: Dict[str, Type[APIError]] = {
    "invalid_request": InvalidRequest,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "method_not_allowed": MethodNotAllowed,
    "conflict": Conflict,
    "idempotency_conflict": IdempotencyConflict,
    "nothing_to_cancel": NothingToCancel,
    "suppressed": Suppressed,
    "payload_too_large": PayloadTooLarge,
    "unprocessable_entity": UnprocessableEntity,
    "rate_limited": RateLimited,
    "internal_error": InternalError,
    "service_unavailable": ServiceUnavailable,
}

_BY_STATUS: Dict[int, Type[APIError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    422: UnprocessableEntity,
    429: RateLimited,
    500: InternalError,
    503: ServiceUnavailable,
}


def _exception_class(code: str, status: int) -> Type[APIError]:
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    return ServerError if status >= 500 else APIError


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds of a ``Retry-After`` header given in delta-seconds; ``None`` otherwise (the
    HTTP-date form is not used by multimail)."""
    if not value:
        return None
    try:
        secs = float(value.strip())
    except ValueError:
        return None
    return secs if secs >= 0 else None


def error_from_response(status: int, headers: Mapping[str, str], raw: bytes) -> APIError:
    """Builds the exception for an error response (headers with lower-cased names)."""
    body: Optional[Dict[str, Any]] = None
    code, message, field = "http_%d" % status, "", None
    try:
        decoded = json.loads(raw.decode("utf-8")) if raw else None
    except (ValueError, UnicodeDecodeError):
        decoded = None
    if isinstance(decoded, dict):
        body = decoded
        err = decoded.get("error")
        if isinstance(err, dict):
            code = str(err.get("code") or code)
            message = str(err.get("message") or "")
            field = err.get("field") or None
    if not message:
        message = raw[:200].decode("utf-8", "replace").strip() or "HTTP %d" % status
    cls = _exception_class(code, status)
    return cls(
        message,
        code=code,
        status=status,
        field=field,
        retry_after=parse_retry_after(headers.get("retry-after")),
        body=body,
        headers=headers,
    )
