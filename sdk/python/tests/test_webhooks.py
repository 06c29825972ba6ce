"""multimail.webhooks.verify, and the example's webhook endpoint refusing forged and replayed
requests."""

from __future__ import annotations

import base64
import email.message
import hashlib
import hmac
import importlib.util
import json
import os
import time
import unittest
import urllib.error
import urllib.request
from typing import Any, Dict, List
from unittest import mock

import _srcpath  # noqa: F401  (first: the source tree's multimail)
from multimail import WebhookVerificationError, webhooks

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_" + base64.b64encode(b"another secret of 24 byte").decode()
BODY = b'{"event":"delivered","message_id":"msg_1","recipient":"u@example.org","delivered_at":"2026-04-19T10:00:04Z"}'
NOW = 1_776_592_804


def signed(body: bytes = BODY, secret: str = SECRET, ts: int = NOW, wid: str = "msg_1.2") -> Dict[str, str]:
    """Headers signed independently of the SDK (the Standard Webhooks recipe)."""
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, b"%s.%d.%s" % (wid.encode(), ts, body), hashlib.sha256).digest()
    return {"webhook-id": wid, "webhook-timestamp": str(ts), "webhook-signature": "v1," + base64.b64encode(mac).decode()}


class VerifyTest(unittest.TestCase):
    def test_valid(self) -> None:
        ev = webhooks.verify(BODY, signed(), SECRET, now=NOW)
        self.assertEqual((ev["event"], ev["message_id"]), ("delivered", "msg_1"))

    def test_header_forms(self) -> None:
        h = signed()
        msg = email.message.Message()
        for k, v in h.items():
            msg[k.title()] = v
        for headers in ({k.upper(): v for k, v in h.items()}, msg, list(h.items())):
            with self.subTest(type=type(headers).__name__):
                self.assertEqual(webhooks.verify(BODY, headers, SECRET, now=NOW)["event"], "delivered")

    def test_str_payload_and_secret_without_prefix(self) -> None:
        self.assertTrue(webhooks.verify(BODY.decode(), signed(), SECRET[len("whsec_"):], now=NOW))

    def test_several_signatures(self) -> None:
        good = signed()["webhook-signature"]
        bad = signed(secret=OTHER)["webhook-signature"]
        for sigs in (bad + " " + good, good + " " + bad, "v2,abc " + good, "v1,!!! " + good):
            with self.subTest(sigs=sigs):
                h = dict(signed(), **{"webhook-signature": sigs})
                self.assertTrue(webhooks.verify(BODY, h, SECRET, now=NOW))

    def test_refused(self) -> None:
        good = signed()
        cases = {
            "forged with another secret": (BODY, signed(secret=OTHER), NOW),
            "body changed": (BODY.replace(b"delivered", b"bounced"), good, NOW),
            "id changed": (BODY, dict(good, **{"webhook-id": "msg_1.3"}), NOW),
            "timestamp changed": (BODY, dict(good, **{"webhook-timestamp": str(NOW + 1)}), NOW),
            "replayed after the tolerance": (BODY, good, NOW + 301),
            "from the future": (BODY, good, NOW - 301),
            "only another version": (BODY, dict(good, **{"webhook-signature": "v2," + good["webhook-signature"][3:]}), NOW),
            "signature not base64": (BODY, dict(good, **{"webhook-signature": "v1,???"}), NOW),
            "empty signature": (BODY, dict(good, **{"webhook-signature": "v1,"}), NOW),
            "timestamp not a number": (BODY, dict(good, **{"webhook-timestamp": "yesterday"}), NOW),
            "no id": (BODY, {k: v for k, v in good.items() if k != "webhook-id"}, NOW),
            "no timestamp": (BODY, {k: v for k, v in good.items() if k != "webhook-timestamp"}, NOW),
            "no signature": (BODY, {k: v for k, v in good.items() if k != "webhook-signature"}, NOW),
        }
        for name, (body, headers, now) in cases.items():
            with self.subTest(name), self.assertRaises(WebhookVerificationError):
                webhooks.verify(body, headers, SECRET, now=now)

    def test_tolerance(self) -> None:
        self.assertTrue(webhooks.verify(BODY, signed(), SECRET, now=NOW + 300))
        self.assertTrue(webhooks.verify(BODY, signed(), SECRET, now=NOW + 3600, tolerance=3600))
        with self.assertRaises(WebhookVerificationError):
            webhooks.verify(BODY, signed(), SECRET, now=NOW + 11, tolerance=10)

    def test_bad_secret_and_body(self) -> None:
        with self.assertRaises(WebhookVerificationError):
            webhooks.verify(BODY, signed(), "whsec_not base64!", now=NOW)
        for body in (b"not json", b"[1,2]"):
            with self.subTest(body=body), self.assertRaises(WebhookVerificationError):
                webhooks.verify(body, signed(body=body), SECRET, now=NOW)

    def test_sign_matches_the_recipe(self) -> None:
        self.assertEqual(webhooks.sign(BODY, SECRET, "msg_1.2", NOW), signed())


def load_example() -> Any:
    """Imports examples/agent_webhook.py (it builds a client at import, which needs a key)."""
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "agent_webhook.py")
    spec = importlib.util.spec_from_file_location("agent_webhook_example", path)
    mod = importlib.util.module_from_spec(spec)
    with mock.patch.dict(os.environ, {"MULTIMAIL_API_KEY": os.environ.get("MULTIMAIL_API_KEY", "mm_live_unused")}):
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


class ExampleEndpointTest(unittest.TestCase):
    """The seed's handle_multimail_webhook only ever sees verified events."""

    def setUp(self) -> None:
        import threading

        self.example = load_example()
        self.seen: List[Dict[str, Any]] = []
        self.endpoint = self.example.WebhookEndpoint(("127.0.0.1", 0), SECRET, handler=self.seen.append)
        self.thread = threading.Thread(target=self.endpoint.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        self.addCleanup(self.endpoint.server_close)
        self.addCleanup(self.endpoint.shutdown)

    def post(self, body: bytes, headers: Dict[str, str]) -> int:
        req = urllib.request.Request(self.endpoint.url, data=body, headers=dict(headers, **{"Content-Type": "application/json"}))
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            return e.code

    def test_verified_forged_replayed_and_redelivered(self) -> None:
        now = int(time.time())
        h = signed(ts=now, wid="msg_9.4")
        self.assertEqual(self.post(BODY, h), 204)
        self.assertEqual(self.post(BODY, h), 204)  # a redelivery (same webhook-id): acked, not handled again
        self.assertEqual(self.post(BODY, signed(ts=now, wid="msg_9.5", secret=OTHER)), 401)  # forged
        self.assertEqual(self.post(BODY.replace(b"msg_1", b"msg_2"), h), 401)  # tampered
        self.assertEqual(self.post(BODY, signed(ts=now - 600, wid="msg_9.6")), 401)  # replayed capture
        self.assertEqual(self.post(BODY, {}), 401)  # unsigned
        self.assertEqual([e["message_id"] for e in self.seen], ["msg_1"])

    def test_seed_handler_branches(self) -> None:
        calls: List[Any] = []
        with mock.patch.object(self.example, "mark_token_as_delivered", lambda mid: calls.append(("ok", mid))), \
                mock.patch.object(self.example, "escalate_delivery_failure", lambda mid, d: calls.append(("esc", mid, d))):
            self.example.handle_multimail_webhook(json.loads(BODY))
            self.example.handle_multimail_webhook({"event": "bounced", "message_id": "msg_2", "error_detail": "550 no"})
            self.example.handle_multimail_webhook({"event": "failed", "message_id": "msg_3"})
            self.example.handle_multimail_webhook({"event": "queued", "message_id": "msg_4"})
        self.assertEqual(calls, [("ok", "msg_1"), ("esc", "msg_2", "550 no"), ("esc", "msg_3", "unknown")])


if __name__ == "__main__":
    unittest.main()
