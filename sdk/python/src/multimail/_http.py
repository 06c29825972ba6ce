"""The HTTP transport of the SDK: one request on its own connection, and the retry loop."""

from __future__ import annotations

import http.client
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional
from urllib.parse import urlsplit

from .errors import APIConnectionError, APIError, MultimailError, error_from_response

__all__ = ["Response", "RetryPolicy", "Transport"]


@dataclass(frozen=True)
class Response:
    """A successful (2xx) answer: status, lower-cased headers and the decoded JSON body."""

    status: int
    headers: Dict[str, str]
    data: Any


@dataclass(frozen=True)
class RetryPolicy:
    """When a request may be sent again.

    Attributes:
        on_status: retry on 5xx answers (the request is idempotent). A 429 is always
            retried: the server refuses it before acting.
        on_connection: retry when the connection failed or dropped after the request may
            have reached the server (only for requests that are idempotent).
    """

    on_status: bool = True
    on_connection: bool = True


# Requests that are not idempotent (approve, reject) retry only where the server cannot have
# acted: a 429 (refused before the handler) or a connection that was never made.
NOT_IDEMPOTENT = RetryPolicy(on_status=False, on_connection=False)
IDEMPOTENT = RetryPolicy()

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class Transport:
    """Sends JSON requests to base_url with the bearer key, retrying with backoff."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float,
        max_retries: int,
        user_agent: str,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("base_url must be http:// or https:// with a host, got %r" % base_url)
        self._https = u.scheme == "https"
        self._host = u.hostname
        self._port = u.port
        self._prefix = u.path.rstrip("/")
        self._key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self._ua = user_agent
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._max_retry_after = max_retry_after
        self._sleep = sleep

    def request(
        self,
        method: str,
        path: str,
        body: Optional[Any] = None,
        headers: Optional[Mapping[str, str]] = None,
        policy: RetryPolicy = IDEMPOTENT,
        decode: bool = True,
        timeout: Optional[float] = None,
    ) -> Response:
        """Sends the request and returns the 2xx answer, or raises APIError or
        APIConnectionError once the retries allowed by policy are used up. decode=False
        returns the body as bytes (downloads); timeout overrides the client's (long polls)."""
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        hdrs = self._headers(payload is not None, headers)
        attempt = 0
        while True:
            attempt += 1
            try:
                status, rh, raw = self._once(method, self._prefix + path, payload, hdrs, timeout)
            except (OSError, http.client.HTTPException) as e:  # timeouts are OSErrors too
                if attempt > self.max_retries or not self._may_retry_connection(e, policy):
                    raise APIConnectionError(
                        "%s %s: %s: %s" % (method, path, type(e).__name__, e), attempts=attempt
                    ) from e
                self._sleep(self._delay(attempt, None))
                continue
            if 200 <= status < 300:
                return Response(status, rh, _decode(raw) if decode else raw)
            err = error_from_response(status, rh, raw)
            if attempt > self.max_retries or not self._may_retry_status(err, policy):
                raise err
            self._sleep(self._delay(attempt, err.retry_after))

    def _headers(self, has_body: bool, extra: Optional[Mapping[str, str]]) -> Dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": self._ua}
        if self._key:
            h["Authorization"] = "Bearer " + self._key
        if has_body:
            h["Content-Type"] = "application/json"
        h.update(extra or {})
        return h

    def _may_retry_connection(self, e: BaseException, policy: RetryPolicy) -> bool:
        if isinstance(e, ConnectionRefusedError):
            return True  # nothing reached the server
        return policy.on_connection

    def _may_retry_status(self, err: APIError, policy: RetryPolicy) -> bool:
        if err.status == 429:
            return err.retry_after is None or err.retry_after <= self._max_retry_after
        return policy.on_status and err.status in _RETRY_STATUS

    def _delay(self, attempt: int, retry_after: Optional[float]) -> float:
        """Retry-After when the server gave one, else exponential backoff with jitter."""
        if retry_after is not None:
            return min(retry_after, self._max_retry_after)
        base = min(self._max_backoff, self._backoff * (2 ** (attempt - 1)))
        return base * random.uniform(0.5, 1.0)

    def _once(self, method: str, path: str, payload: Optional[bytes], headers: Dict[str, str],
              timeout: Optional[float] = None):
        conn: http.client.HTTPConnection
        t = self.timeout if timeout is None else timeout
        if self._https:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=t)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=t)
        try:
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            rh = {k.lower(): v for k, v in resp.getheaders()}
            return resp.status, rh, raw
        finally:
            conn.close()


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise MultimailError("the server's answer is not JSON: %r" % raw[:200]) from e

