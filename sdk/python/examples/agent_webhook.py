"""Agent-driven send with webhook-based delivery confirmation (the seed's second example).

The block marked "seed example" is the documentation's code as written (addresses changed to
this repository's test ones). Around it are the two application functions the example leaves
to you (mark_token_as_delivered, escalate_delivery_failure) and a webhook endpoint that
verifies each request with multimail.webhooks.verify before handle_multimail_webhook sees it.

Two commands:

    # the webhook endpoint; configure it in multimail's config as
    #   [[webhook]]
    #   url = "http://127.0.0.1:8000/webhooks/multimail"
    #   secret = "whsec_…"
    MULTIMAIL_WEBHOOK_SECRET=whsec_… python3 agent_webhook.py serve [--listen 127.0.0.1:8000]

    # the agent: send a magic link to each address
    MULTIMAIL_API_KEY=mm_live_… MULTIMAIL_API_URL=http://127.0.0.1:8025 \
        python3 agent_webhook.py send user@customer.test …

Both print one JSON object per line: {"listening": url}, {"sent": …}, {"delivered": id},
{"escalated": id, "error_detail": …}, {"refused": why}.
"""

import json
import os
import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from multimail import WebhookVerificationError, webhooks


def emit(obj: dict) -> None:
    """Prints one JSON line (what the application would log or store)."""
    print(json.dumps(obj), flush=True)


def mark_token_as_delivered(message_id: str) -> None:
    """The application's session update: the token reached the recipient's MX."""
    emit({"delivered": message_id})


def escalate_delivery_failure(message_id: str, error_detail: str) -> None:
    """The application's escalation: retry elsewhere, another channel, or a human."""
    emit({"escalated": message_id, "error_detail": error_detail})


# --- seed example, as written -----------------------------------------------------------
from multimail import MultimailClient

client = MultimailClient(api_key="$MULTIMAIL_API_KEY")

def send_auth_email(user_email: str, magic_link: str) -> dict:
    """
    Send a magic link. Returns immediately — delivery confirmation
    arrives asynchronously at your /webhooks/multimail endpoint.
    """
    result = client.send_email(
        mailbox_id="auth@example.com",
        to=user_email,
        subject="Your secure sign-in link",
        html=f'<p>Sign in: <a href="{magic_link}">{magic_link}</a></p>'
             f'<p>Expires in 10 minutes. One-time use only.</p>',
        text=f"Sign in: {magic_link}\nExpires in 10 minutes.",
        priority="high",
        tags=["auth", "magic-link"]
    )
    return {"message_id": result.message_id, "status": result.status}


# Webhook handler — your agent acts on delivery status
def handle_multimail_webhook(event: dict):
    message_id = event["message_id"]

    if event["event"] == "delivered":
        # Token delivery confirmed — update session state
        mark_token_as_delivered(message_id)

    elif event["event"] in ("bounced", "failed"):
        # Agent escalates: retry, fallback channel, or human review
        error_detail = event.get("error_detail", "unknown")
        escalate_delivery_failure(message_id, error_detail)
# --- end of the seed example ------------------------------------------------------------


class WebhookEndpoint(ThreadingHTTPServer):
    """POST /webhooks/multimail: verify, skip webhook-ids already handled (delivery is
    at-least-once), call handle_multimail_webhook, answer 204. A request that fails
    verification is answered 401 and never reaches the handler."""

    daemon_threads = True

    def __init__(self, addr, secret: str, handler=handle_multimail_webhook):
        super().__init__(addr, _Handler)
        self.secret = secret
        self.handler = handler
        self.handled = set()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return "http://%s:%d/webhooks/multimail" % (host, port)


class _Handler(BaseHTTPRequestHandler):
    server: WebhookEndpoint

    def do_POST(self) -> None:
        if self.path != "/webhooks/multimail":
            self._answer(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            event = webhooks.verify(body, self.headers, self.server.secret)
        except WebhookVerificationError as e:
            emit({"refused": str(e)})
            self._answer(401)
            return
        wid = self.headers["webhook-id"]
        with self.server.lock:
            if wid in self.server.handled:
                self._answer(204)  # a redelivery of an event already acted on
                return
            self.server.handler(event)
            self.server.handled.add(wid)
        self._answer(204)

    def _answer(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:  # keep stdout for the JSON lines
        pass


def serve(listen: str) -> None:
    host, _, port = listen.rpartition(":")
    endpoint = WebhookEndpoint((host, int(port)), os.environ["MULTIMAIL_WEBHOOK_SECRET"])
    emit({"listening": endpoint.url})
    endpoint.serve_forever()


def send(addresses) -> None:
    for address in addresses:
        token = secrets.token_urlsafe(32)
        link = f"https://app.yourproduct.com/auth/verify?token={token}"
        emit({"sent": address, **send_auth_email(address, link)})


def main(argv) -> int:
    if len(argv) >= 1 and argv[0] == "serve":
        listen = argv[2] if len(argv) >= 3 and argv[1] == "--listen" else "127.0.0.1:8000"
        serve(listen)
        return 0
    if len(argv) >= 2 and argv[0] == "send":
        send(argv[1:])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
