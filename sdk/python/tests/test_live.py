"""The SDK against a running multimail (cmd/multimail/e2e starts one and sets the variables):
each error code of the API as its exception, reading and tagging, approvals, and a send whose
connection drops after the server accepted it.

Skipped unless MULTIMAIL_TEST_LIVE=1. Variables: MULTIMAIL_API_URL, MULTIMAIL_API_KEY (a key of
MULTIMAIL_TEST_SENDER), MULTIMAIL_TEST_AGENT_KEY (send, read, tag on every mailbox),
MULTIMAIL_TEST_ADMIN_KEY (approve and admin on every mailbox, no send: an operator's key),
MULTIMAIL_TEST_RATE_KEY (a key no other test uses), MULTIMAIL_TEST_INBOX (an autonomous
mailbox), MULTIMAIL_TEST_GATED (a gated_send mailbox). Recipients at customer.test go to the
harness MX, which refuses local parts starting with reject-.
"""

from __future__ import annotations

import os
import unittest
import uuid

import _srcpath  # noqa: F401  (first: the source tree's multimail)
import multimail
from multimail import MultimailClient

from fakes import DroppingProxy, wait_for

LIVE = os.environ.get("MULTIMAIL_TEST_LIVE") == "1"


@unittest.skipUnless(LIVE, "needs a running multimail (MULTIMAIL_TEST_LIVE=1)")
class LiveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        env = os.environ
        cls.sender = env["MULTIMAIL_TEST_SENDER"]
        cls.inbox = env["MULTIMAIL_TEST_INBOX"]
        cls.gated = env["MULTIMAIL_TEST_GATED"]
        cls.client = MultimailClient()
        cls.agent = MultimailClient(api_key="$MULTIMAIL_TEST_AGENT_KEY")
        cls.admin = MultimailClient(api_key="$MULTIMAIL_TEST_ADMIN_KEY")

    def send(self, client: MultimailClient = None, **kw) -> multimail.SendResult:
        args = dict(mailbox_id=self.sender, to="live@customer.test", subject="live", text="hello")
        args.update(kw)
        return (client or self.client).send_email(**args)

    def test_send_and_follow(self) -> None:
        r = self.send(subject="follow me", priority="high", tags=["auth"])
        self.assertTrue(r.message_id.startswith("msg_"))
        self.assertEqual(r.status, "queued")
        self.assertIsNotNone(r.queued_at.tzinfo)
        m = wait_for(lambda: (lambda m: m if m.status == "delivered" else None)(self.client.get_message(r.message_id)))
        self.assertEqual((m.message_id, m.priority, m.tags), (r.message_id, "high", ["auth"]))
        self.assertEqual([(x.address, x.status) for x in m.recipients], [("live@customer.test", "delivered")])
        self.assertEqual(m.events[0].event, "queued")
        self.assertEqual(m.events[-1].event, "delivered")
        self.assertEqual(m.to_dict()["message_id"], r.message_id)

    def test_every_error_code(self) -> None:
        cases = [
            ("400 bad field", multimail.InvalidRequest, 400, "invalid_request",
             lambda: self.send(priority="urgent")),
            ("400 header injection", multimail.InvalidRequest, 400, "invalid_request",
             lambda: self.send(subject="hi\r\nBcc: victim@customer.test")),
            ("401 unknown key", multimail.Unauthorized, 401, "unauthorized",
             lambda: MultimailClient(api_key="mm_live_not_a_key").get_message("msg_x")),
            ("403 other mailbox", multimail.Forbidden, 403, "forbidden",
             lambda: self.send(mailbox_id=self.gated)),
            ("404 no such message", multimail.NotFound, 404, "not_found",
             lambda: self.client.get_message("msg_01AAAAAAAAAAAAAAAAAAAAAAAA")),
            ("404 no such email", multimail.NotFound, 404, "not_found",
             lambda: self.client.read_email("eml_does_not_exist")),
            ("422 no such mailbox", multimail.UnprocessableEntity, 422, "unprocessable_entity",
             lambda: self.send(client=self.agent, mailbox_id="nobody@example.com")),
        ]
        for name, cls, status, code, call in cases:
            with self.subTest(name), self.assertRaises(cls) as cm:
                call()
            self.assertEqual((cm.exception.status, cm.exception.code), (status, code), name)
            self.assertTrue(cm.exception.message, name)
        with self.assertRaises(multimail.InvalidRequest) as cm:
            self.send(priority="urgent")
        self.assertEqual(cm.exception.field, "priority")

    def test_409_idempotency_conflict_and_replay(self) -> None:
        key = "live-" + uuid.uuid4().hex
        first = self.send(subject="once", idempotency_key=key)
        again = self.send(subject="once", idempotency_key=key)
        self.assertEqual(again.message_id, first.message_id)
        self.assertTrue(again.replayed)
        with self.assertRaises(multimail.IdempotencyConflict) as cm:
            self.send(subject="a different body", idempotency_key=key)
        self.assertEqual((cm.exception.status, cm.exception.code), (409, "idempotency_conflict"))
        self.assertIsInstance(cm.exception, multimail.Conflict)

    def test_413_payload_too_large(self) -> None:
        # About 19.3 MB of attachment: the request fits the 25 MiB body limit, the MIME
        # message built from it (base64 with line breaks) does not.
        blob = b"\0" * 19_300_000
        with self.assertRaises(multimail.PayloadTooLarge) as cm:
            self.send(attachments=[{"filename": "big.bin", "content_type": "application/octet-stream", "content": blob}])
        self.assertEqual((cm.exception.status, cm.exception.code), (413, "payload_too_large"))

    def test_429_rate_limited_then_retried(self) -> None:
        import threading

        strict = MultimailClient(api_key="$MULTIMAIL_TEST_RATE_KEY", max_retries=0)
        found: list = []
        stop = threading.Event()

        def hammer() -> None:  # several at once, so a slow machine still outruns the refill
            for _ in range(250):
                if stop.is_set():
                    return
                try:
                    strict.list_approvals()
                except multimail.RateLimited as e:
                    found.append(e)
                    stop.set()

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertTrue(found, "no 429 after 2000 requests")
        err = found[0]
        self.assertEqual((err.status, err.code), (429, "rate_limited"))
        self.assertGreaterEqual(err.retry_after, 1)
        patient = MultimailClient(api_key="$MULTIMAIL_TEST_RATE_KEY", max_retries=3)
        self.assertIsInstance(patient.list_approvals(), multimail.ApprovalList)

    def test_read_and_tag(self) -> None:
        subject = "read me " + uuid.uuid4().hex[:8]
        self.send(to=self.inbox, subject=subject, text="the body", html="<p>the body</p>")

        def find():
            page = self.admin.list_emails(self.inbox, folder="INBOX", limit=50)
            return next((e for e in page.emails if e.subject == subject), None)

        summary = wait_for(find)
        self.assertTrue(summary.unread)
        self.assertEqual(summary.from_, [self.sender])
        email = self.admin.read_email(summary.email_id)
        self.assertEqual((email.subject, email.text.strip()), (subject, "the body"))
        self.assertIn("the body", email.html)
        self.assertTrue(any(h.name.lower() == "dkim-signature" or h.name.lower() == "subject" for h in email.headers))
        tagged = self.admin.tag_email(summary.email_id, add=["consumed", "\\Seen"])
        self.assertIn("consumed", tagged.tags)
        self.assertIn("\\Seen", tagged.flags)
        page = self.admin.list_emails(self.inbox, tag="consumed", unread=False)
        self.assertIn(summary.email_id, [e.email_id for e in page.emails])
        self.assertNotIn("consumed", self.admin.tag_email(summary.email_id, remove=["consumed"]).tags)
        with self.assertRaises(multimail.InvalidRequest) as cm:
            self.admin.tag_email(summary.email_id, add=["bad tag\r\nX-Injected: 1"])
        self.assertTrue(cm.exception.field.startswith("add"))

    def test_approvals(self) -> None:
        a = self.send(client=self.agent, mailbox_id=self.gated, to="approve-me@customer.test", subject="gated 1")
        b = self.send(client=self.agent, mailbox_id=self.gated, to="reject-me-not@customer.test", subject="gated 2")
        self.assertEqual((a.status, b.status), ("pending_approval", "pending_approval"))
        pending = {x.message_id: x for x in self.admin.list_approvals(mailbox_id=self.gated).approvals}
        self.assertEqual(pending[a.message_id].state, "pending")
        approved = self.admin.approve(pending[a.message_id].approval_id, reason="looks fine")
        self.assertEqual((approved.state, approved.reason), ("approved", "looks fine"))
        with self.assertRaises(multimail.Conflict) as cm:
            self.admin.approve(approved.approval_id)
        self.assertEqual((cm.exception.status, cm.exception.code), (409, "conflict"))
        rejected = self.admin.reject(pending[b.message_id].approval_id, reason="no")
        self.assertEqual(rejected.state, "rejected")
        with self.assertRaises(multimail.NotFound):
            self.admin.approve("apr_does_not_exist")
        with self.assertRaises(multimail.Forbidden):
            self.client.approve(approved.approval_id)  # the sender's key holds send, so it never decides
        states = {x.approval_id: x.state for x in self.admin.list_approvals(state="all", mailbox_id=self.gated).approvals}
        self.assertEqual(states[approved.approval_id], "approved")
        self.assertEqual(states[rejected.approval_id], "rejected")

    def test_dropped_connection_sends_once(self) -> None:
        proxy = DroppingProxy(os.environ["MULTIMAIL_API_URL"], drop=1)
        self.addCleanup(proxy.close)
        c = MultimailClient(base_url=proxy.url)
        c._t._sleep = lambda s: None  # type: ignore[attr-defined]
        r = c.send_email(mailbox_id=self.sender, to="retry-once@customer.test", subject="retry once", text="once")
        self.assertEqual(len(proxy.exchanges), 2, "the SDK did not retry the dropped send")
        (req1, st1, h1, body1), (req2, st2, h2, body2) = proxy.exchanges
        self.assertEqual((st1, st2), (202, 202))
        self.assertEqual(req1.headers["idempotency-key"], req2.headers["idempotency-key"])
        self.assertNotIn("idempotent-replayed", h1)
        self.assertEqual(h2.get("idempotent-replayed"), "true")
        import json

        self.assertEqual(json.loads(body1)["message_id"], r.message_id)
        self.assertTrue(r.replayed)
        self.assertEqual(len(self.client.get_message(r.message_id).recipients), 1)
        print("RETRY_ONCE_MESSAGE_ID=" + r.message_id, flush=True)


if __name__ == "__main__":
    unittest.main()
