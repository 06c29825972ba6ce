"""MultimailClient against a scripted fake server: requests, results, errors and retries."""

from __future__ import annotations

import base64
import os
import socket
import unittest
from datetime import datetime, timezone
from typing import Any, List
from unittest import mock

import _srcpath  # noqa: F401  (first: the source tree's multimail)
import multimail
from multimail import MultimailClient

from fakes import DROP, FakeAPI

SENT = {"message_id": "msg_01ABC", "status": "queued", "queued_at": "2026-04-19T10:00:00Z"}


def client_for(fake: FakeAPI, **kw: Any) -> "tuple[MultimailClient, List[float]]":
    """A client of fake whose retry sleeps are recorded instead of slept."""
    c = MultimailClient(api_key="mm_live_test", base_url=fake.url, timeout=5, **kw)
    sleeps: List[float] = []
    c._t._sleep = sleeps.append  # type: ignore[attr-defined]
    return c, sleeps


def err(status: int, code: str, message: str = "m", headers: Any = None, field: Any = None):
    e = {"code": code, "message": message}
    if field:
        e["field"] = field
    return (status, headers or {}, {"error": e})


class ConfigTest(unittest.TestCase):
    def test_key_and_url_from_environment(self) -> None:
        with mock.patch.dict(os.environ, {"MULTIMAIL_API_KEY": "mm_env", "MULTIMAIL_API_URL": "http://127.0.0.1:1/"}):
            c = MultimailClient()
            self.assertEqual((c.api_key, c.base_url), ("mm_env", "http://127.0.0.1:1"))

    def test_default_url(self) -> None:
        with mock.patch.dict(os.environ, {"MULTIMAIL_API_KEY": "k"}, clear=True):
            self.assertEqual(MultimailClient().base_url, "http://127.0.0.1:8025")

    def test_documented_placeholder_is_read_from_environment(self) -> None:
        with mock.patch.dict(os.environ, {"MULTIMAIL_API_KEY": "mm_env"}):
            self.assertEqual(MultimailClient(api_key="$MULTIMAIL_API_KEY").api_key, "mm_env")
            self.assertEqual(MultimailClient(api_key="${MULTIMAIL_API_KEY}").api_key, "mm_env")
            self.assertEqual(MultimailClient(api_key="mm_$literal").api_key, "mm_$literal")

    def test_missing_key(self) -> None:
        with mock.patch.dict(os.environ, {}, clear=True):
            with self.assertRaises(multimail.MultimailError):
                MultimailClient()
            with self.assertRaises(multimail.MultimailError):
                MultimailClient(api_key="$MULTIMAIL_API_KEY")

    def test_test_mode_follows_the_key_prefix(self) -> None:
        self.assertTrue(MultimailClient(api_key="mm_test_abc").test_mode)
        self.assertFalse(MultimailClient(api_key="mm_live_abc").test_mode)

    def test_message_and_approval_carry_test(self) -> None:
        m = multimail.Message.from_dict({"message_id": "msg_1", "status": "delivered", "test": True,
                                         "approval": {"approval_id": "apr_1", "state": "approved", "test": True}})
        self.assertTrue(m.test)
        self.assertTrue(m.approval.test)
        self.assertFalse(multimail.Message.from_dict({"message_id": "msg_2"}).test)

    def test_bad_url(self) -> None:
        with self.assertRaises(ValueError):
            MultimailClient(api_key="k", base_url="ftp://x")


class SendTest(unittest.TestCase):
    def test_request_and_result(self) -> None:
        with FakeAPI([(202, {}, SENT)]) as fake:
            c, _ = client_for(fake)
            r = c.send_email(
                mailbox_id="auth@example.com", to="user@example.org", subject="S", html="<p>h</p>", text="t",
                priority="high", tags=["auth", "magic-link"], cc=["c@example.org"], reply_to="r@example.org",
                headers={"X-Tag": "1"}, attachments=[{"filename": "a.txt", "content_type": "text/plain", "content": b"hi"}],
                expires_at=datetime(2026, 4, 19, 10, 10, tzinfo=timezone.utc),
            )
            req = fake.requests[0]
        self.assertEqual((req.method, req.path), ("POST", "/v1/send_email"))
        self.assertEqual(req.headers["authorization"], "Bearer mm_live_test")
        self.assertTrue(req.headers["idempotency-key"].startswith("mmpy_"))
        body = req.json()
        self.assertEqual(body["to"], ["user@example.org"])
        self.assertEqual(body["cc"], ["c@example.org"])
        self.assertNotIn("bcc", body)
        self.assertEqual(body["attachments"][0]["content"], base64.b64encode(b"hi").decode())
        self.assertEqual(body["expires_at"], "2026-04-19T10:10:00Z")
        self.assertEqual((r.message_id, r.status), ("msg_01ABC", "queued"))
        self.assertEqual(r.queued_at, datetime(2026, 4, 19, 10, 0, tzinfo=timezone.utc))
        self.assertEqual(dict(r), SENT)
        self.assertEqual(r.to_dict()["message_id"], "msg_01ABC")
        self.assertEqual(r.idempotency_key, req.headers["idempotency-key"])
        self.assertFalse(r.replayed)

    def test_unsubscribe_is_sent_only_when_asked(self) -> None:
        with FakeAPI([(202, {}, SENT), (202, {}, SENT)]) as fake:
            c, _ = client_for(fake)
            c.send_email(mailbox_id="news@example.com", to="reader@example.org", text="t", priority="low", unsubscribe=True)
            c.send_email(mailbox_id="news@example.com", to="reader@example.org", text="t")
            self.assertIs(fake.requests[0].json()["unsubscribe"], True)
            self.assertNotIn("unsubscribe", fake.requests[1].json())

    def test_own_idempotency_key_and_replay(self) -> None:
        with FakeAPI([(202, {"Idempotent-Replayed": "true"}, SENT)]) as fake:
            c, _ = client_for(fake)
            r = c.send_email(mailbox_id="a@example.com", to=["b@example.org"], text="t", idempotency_key="order-42")
            self.assertEqual(fake.requests[0].headers["idempotency-key"], "order-42")
        self.assertTrue(r.replayed)

    def test_naive_expiry_refused(self) -> None:
        c = MultimailClient(api_key="k", base_url="http://127.0.0.1:9")
        with self.assertRaises(ValueError):
            c.send_email(mailbox_id="a@example.com", to="b@example.org", text="t", expires_at=datetime(2026, 1, 1))


class RetryTest(unittest.TestCase):
    def test_5xx_then_success_keeps_the_key(self) -> None:
        with FakeAPI([err(503, "service_unavailable"), (502, {}, b"bad gateway"), (202, {}, SENT)]) as fake:
            c, sleeps = client_for(fake)
            r = c.send_email(mailbox_id="a@example.com", to="b@example.org", text="t")
            keys = {q.headers["idempotency-key"] for q in fake.requests}
        self.assertEqual(r.message_id, "msg_01ABC")
        self.assertEqual(len(fake.requests), 3)
        self.assertEqual(len(keys), 1)
        self.assertEqual(len(sleeps), 2)
        self.assertTrue(0 < sleeps[0] <= 0.5 and 0 < sleeps[1] <= 1.0, sleeps)

    def test_dropped_connection_is_retried_with_the_same_key(self) -> None:
        with FakeAPI([DROP, (202, {}, SENT)]) as fake:
            c, _ = client_for(fake)
            c.send_email(mailbox_id="a@example.com", to="b@example.org", text="t")
            self.assertEqual(len(fake.requests), 2)
            self.assertEqual(fake.requests[0].headers["idempotency-key"], fake.requests[1].headers["idempotency-key"])
            self.assertEqual(fake.requests[0].body, fake.requests[1].body)

    def test_429_waits_retry_after(self) -> None:
        with FakeAPI([err(429, "rate_limited", headers={"Retry-After": "2"}), (200, {}, {"approvals": []})]) as fake:
            c, sleeps = client_for(fake)
            self.assertEqual(c.list_approvals().approvals, [])
        self.assertEqual(sleeps, [2.0])

    def test_gives_up_after_max_retries(self) -> None:
        with FakeAPI([err(503, "service_unavailable", "shutting down")]) as fake:
            c, sleeps = client_for(fake, max_retries=2)
            with self.assertRaises(multimail.ServiceUnavailable) as cm:
                c.get_message("msg_1")
        self.assertEqual((cm.exception.status, cm.exception.message), (503, "shutting down"))
        self.assertEqual(len(fake.requests), 3)
        self.assertEqual(len(sleeps), 2)

    def test_4xx_is_not_retried(self) -> None:
        with FakeAPI([err(404, "not_found")]) as fake:
            c, _ = client_for(fake)
            with self.assertRaises(multimail.NotFound):
                c.get_message("msg_1")
            self.assertEqual(len(fake.requests), 1)

    def test_approve_is_not_retried_after_it_may_have_acted(self) -> None:
        for step in (err(500, "internal_error"), DROP):
            with self.subTest(step=step), FakeAPI([step]) as fake:
                c, _ = client_for(fake)
                with self.assertRaises((multimail.InternalError, multimail.APIConnectionError)):
                    c.approve("apr_1")
                self.assertEqual(len(fake.requests), 1)

    def test_approve_is_retried_on_429(self) -> None:
        with FakeAPI([err(429, "rate_limited", headers={"Retry-After": "1"}), (200, {}, {"approval_id": "apr_1", "state": "approved"})]) as fake:
            c, _ = client_for(fake)
            self.assertEqual(c.approve("apr_1", reason="ok").state, "approved")
            self.assertEqual(fake.requests[1].json(), {"reason": "ok"})

    def test_connection_refused(self) -> None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        c = MultimailClient(api_key="k", base_url="http://127.0.0.1:%d" % port, max_retries=2)
        c._t._sleep = lambda s: None  # type: ignore[attr-defined]
        with self.assertRaises(multimail.APIConnectionError) as cm:
            c.get_message("msg_1")
        self.assertEqual(cm.exception.attempts, 3)


class ErrorMappingTest(unittest.TestCase):
    CASES = [
        (400, "invalid_request", multimail.InvalidRequest),
        (401, "unauthorized", multimail.Unauthorized),
        (403, "forbidden", multimail.Forbidden),
        (404, "not_found", multimail.NotFound),
        (405, "method_not_allowed", multimail.MethodNotAllowed),
        (409, "conflict", multimail.Conflict),
        (409, "idempotency_conflict", multimail.IdempotencyConflict),
        (413, "payload_too_large", multimail.PayloadTooLarge),
        (422, "unprocessable_entity", multimail.UnprocessableEntity),
        (429, "rate_limited", multimail.RateLimited),
        (500, "internal_error", multimail.InternalError),
        (503, "service_unavailable", multimail.ServiceUnavailable),
        (418, "teapot", multimail.APIError),
        (502, "bad_gateway", multimail.ServerError),
    ]

    def test_each_code(self) -> None:
        for status, code, cls in self.CASES:
            with self.subTest(code=code), FakeAPI([err(status, code, "why", {"Retry-After": "7"}, "to")]) as fake:
                c, _ = client_for(fake, max_retries=0)
                with self.assertRaises(cls) as cm:
                    c.get_message("msg_1")
                e = cm.exception
                self.assertIs(type(e), cls)
                self.assertEqual((e.status, e.code, e.message, e.field, e.retry_after), (status, code, "why", "to", 7.0))
                self.assertIn(code, str(e))

    def test_body_that_is_not_json(self) -> None:
        with FakeAPI([(502, {}, b"<html>bad gateway</html>")]) as fake:
            c, _ = client_for(fake, max_retries=0)
            with self.assertRaises(multimail.ServerError) as cm:
                c.get_message("msg_1")
        self.assertEqual(cm.exception.code, "http_502")


class ReadTest(unittest.TestCase):
    def test_get_message(self) -> None:
        msg = {
            "message_id": "msg_1", "mailbox_id": "a@example.com", "from": "a@example.com", "status": "delivered",
            "priority": "high", "tags": ["auth"], "queued_at": "2026-04-19T10:00:00.123456789Z", "size": 10,
            "recipients": [{"address": "b@example.org", "status": "delivered", "attempts": 1, "smtp_code": 250}],
            "events": [{"seq": 1, "event": "queued", "time": "2026-04-19T10:00:00Z"},
                       {"seq": 2, "event": "delivered", "time": "2026-04-19T10:00:01+02:00", "mx_host": "mx"}],
            "new_field": True,
        }
        with FakeAPI([(200, {}, msg)]) as fake:
            c, _ = client_for(fake)
            m = c.get_message("msg_1")
            self.assertEqual(fake.requests[0].path, "/v1/messages/msg_1")
        self.assertEqual((m.from_, m.status, m.recipients[0].smtp_code), ("a@example.com", "delivered", 250))
        self.assertEqual([e.event for e in m.events], ["queued", "delivered"])
        self.assertEqual(m.queued_at.microsecond, 123456)
        self.assertEqual(m.events[1].time.utcoffset().total_seconds(), 7200)
        self.assertTrue(m["new_field"])

    def test_list_emails_query(self) -> None:
        with FakeAPI([(200, {}, {"emails": [{"email_id": "e1", "from": ["x@y"], "subject": "s", "unread": True}], "next_cursor": "c2"})]) as fake:
            c, _ = client_for(fake)
            page = c.list_emails("a@example.com", folder="INBOX", unread=False, limit=5)
            self.assertEqual(fake.requests[0].path, "/v1/mailboxes/a@example.com/emails?folder=INBOX&limit=5&unread=false")
        self.assertEqual((page.emails[0].email_id, page.emails[0].from_, page.next_cursor), ("e1", ["x@y"], "c2"))

    def test_list_emails_text_search(self) -> None:
        with FakeAPI([(200, {}, {"emails": []})]) as fake:
            c, _ = client_for(fake)
            c.list_emails("a@example.com", query="Überweisung 4711")
            self.assertEqual(fake.requests[0].path, "/v1/mailboxes/a@example.com/emails?q=%C3%9Cberweisung+4711")

    def test_tag_email(self) -> None:
        with FakeAPI([(200, {}, {"email_id": "e1", "tags": ["consumed"], "flags": []})]) as fake:
            c, _ = client_for(fake)
            r = c.tag_email("e1", add=["consumed"], remove=["new"])
            self.assertEqual(fake.requests[0].json(), {"add": ["consumed"], "remove": ["new"]})
        self.assertEqual(r.tags, ["consumed"])


class TestOutboxTest(unittest.TestCase):
    def test_list_and_read(self) -> None:
        page = {"messages": [{"message_id": "msg_2", "to": ["u@example.org"], "subject": "code", "size": 9,
                              "queued_at": "2026-04-19T10:00:00Z", "delivered_at": "2026-04-19T10:00:01Z",
                              "expires_at": "2026-04-26T10:00:01Z"}], "next_cursor": "msg_2"}
        with FakeAPI([(200, {}, page)]) as fake:
            c, _ = client_for(fake)
            p = c.list_test_outbox("a@example.com", limit=1)
            self.assertEqual(fake.requests[0].path, "/v1/mailboxes/a@example.com/test_outbox?limit=1")
        self.assertEqual((p.messages[0].message_id, p.messages[0].to, p.next_cursor), ("msg_2", ["u@example.org"], "msg_2"))
        self.assertEqual(p.messages[0].delivered_at.second, 1)
        raw = b"DKIM-Signature: v=1; s=mmtest;\r\nSubject: code\r\n\r\nhi\r\n"
        with FakeAPI([(200, {"Content-Type": "message/rfc822"}, raw)]) as fake:
            c, _ = client_for(fake)
            d = c.read_test_message("a@example.com", "msg_2")
            self.assertEqual(fake.requests[0].path, "/v1/mailboxes/a@example.com/test_outbox/msg_2")
        self.assertEqual(d.content, raw)


if __name__ == "__main__":
    unittest.main()
