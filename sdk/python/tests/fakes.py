"""Test servers: a scripted fake of the multimail API and a proxy that drops a connection."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit

DROP = "drop"
"""A script step: read the request, then close the connection without answering."""

Step = Union[str, Tuple[int, Dict[str, str], Any]]


class Recorded:
    """One request a fake server received."""

    def __init__(self, method: str, path: str, headers: Dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeAPI:
    """Answers requests from a script of steps: DROP, or (status, headers, body) where a
    dict or list body is sent as JSON and bytes as they are. The last step repeats."""

    def __init__(self, steps: List[Step]) -> None:
        self.steps = list(steps)
        self.requests: List[Recorded] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake._lock:
                    fake.requests.append(Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    step = fake.steps.pop(0) if len(fake.steps) > 1 else fake.steps[0]
                if step == DROP:
                    self.close_connection = True
                    return
                status, headers, payload = step
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(raw)
                self.close_connection = True

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "FakeAPI":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class DroppingProxy:
    """Forwards every request to upstream and relays the answer, except for the first
    `drop` requests: those reach upstream (which acts on them) but the client's connection
    is closed before the answer, as if it dropped on the way back."""

    def __init__(self, upstream: str, drop: int = 1) -> None:
        u = urlsplit(upstream)
        self.drop = drop
        self.exchanges: List[Tuple[Recorded, int, Dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    raw = resp.read()
                    rh = {k.lower(): v for k, v in resp.getheaders()}
                finally:
                    conn.close()
                rec = Recorded(self.command, self.path, {k.lower(): v for k, v in headers.items()}, body)
                with proxy._lock:
                    proxy.exchanges.append((rec, resp.status, rh, raw))
                    dropping = proxy.drop > 0
                    proxy.drop -= 1
                if dropping:
                    self.close_connection = True
                    return
                self.send_response(resp.status)
                for k in ("content-type", "retry-after", "idempotent-replayed"):
                    if k in rh:
                        self.send_header(k, rh[k])
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(raw)
                self.close_connection = True

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(cond: Callable[[], Optional[Any]], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Polls cond until it returns a truthy value, or raises AssertionError at the deadline."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in %.0f s" % timeout)
        time.sleep(interval)
