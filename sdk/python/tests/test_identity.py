"""multimail.identity.verify against a message signed by the server's Go code (tests/data), and
the pure-Python Ed25519 against RFC 8032's test vectors."""

from __future__ import annotations

import json
import os
import unittest

import _srcpath  # noqa: F401  (first: the source tree's multimail)
from multimail import identity

DATA = os.path.join(os.path.dirname(__file__), "data")


def load() -> tuple:
    with open(os.path.join(DATA, "identity.eml"), "rb") as f:
        raw = f.read()
    with open(os.path.join(DATA, "identity-keys.json")) as f:
        keys = json.load(f)
    return raw, keys


class Ed25519Test(unittest.TestCase):
    # RFC 8032 §7.1, tests 1 and 2.
    VECTORS = [
        ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ]

    def test_vectors(self) -> None:
        for pub, msg, sig in self.VECTORS:
            p, m, s = bytes.fromhex(pub), bytes.fromhex(msg), bytes.fromhex(sig)
            self.assertTrue(identity.ed25519_verify(p, m, s))
            self.assertFalse(identity.ed25519_verify(p, m + b"x", s))
            self.assertFalse(identity.ed25519_verify(p, m, s[:63] + bytes([s[63] ^ 1])))


class VerifyTest(unittest.TestCase):
    def test_accepts(self) -> None:
        raw, keys = load()
        r = identity.verify(raw, keys)
        self.assertEqual((r.mailbox, r.mode, r.release, r.ref, r.msg, r.domain, r.selector),
                         ("auth@example.com", "gated_send", "approved", "apr_01KBQ7Y3N4M5ZJ2R8T6W0XVCAD",
                          "msg_01KBQ7X0A9B8C7D6E5F4G3H2J1", "example.com", "mmid2"))
        self.assertEqual(r.at.isoformat(), "2026-12-05T12:00:00+00:00")
        # A copy saved with LF line ends verifies too.
        self.assertEqual(identity.verify(raw.replace(b"\r\n", b"\n"), keys).release, "approved")

    def test_refuses(self) -> None:
        raw, keys = load()
        cases = {
            "body_hash": raw.replace(b"123456", b"123457"),
            "bad_signature": raw.replace(b"Subject: Your code", b"Subject: Your c0de"),
            "not_aligned": raw.replace(b"<auth@example.com>", b"<ceo@example.com>"),
            "missing_header": raw.replace(b"\r\nMultimail-Identity:", b"\r\nX-Was:"),
            "malformed": b"From: x@example.com\r\n" + raw,
            "no_signature": raw.replace(b"DKIM-Signature:", b"X-Old:"),
        }
        cases["bad_signature#header"] = raw.replace(b"release=approved", b"release=auto_approved")
        for reason, msg in cases.items():
            with self.subTest(reason):
                self.assertNotEqual(msg, raw)
                with self.assertRaises(identity.IdentityError) as cm:
                    identity.verify(msg, keys)
                self.assertEqual(cm.exception.reason, reason.split("#")[0])
        with self.assertRaises(identity.IdentityError) as cm:
            identity.verify(raw, {"version": 1, "keys": []})
        self.assertEqual(cm.exception.reason, "unknown_key")
        revoked = {"version": 1, "keys": [dict(k, public_key="", status="revoked") for k in keys["keys"]]}
        with self.assertRaises(identity.IdentityError) as cm:
            identity.verify(raw, revoked)
        self.assertEqual(cm.exception.reason, "revoked_key")

    def test_header_grammar(self) -> None:
        base = "v=1; mailbox=a@example.com; mode=autonomous; release=autonomous; at=2026-12-05T12:00:00Z; msg=msg_01KBQ7X0A9B8C7D6E5F4G3H2J1"
        self.assertEqual(identity.parse_header(base)["mode"], "autonomous")
        for bad in [base + "; by=alice", base.replace("v=1", "v=2"), base.replace("release=autonomous", "release=approved"),
                    base + "; mode=monitored", base.replace("12:00:00Z", "12:00:00+01:00")]:
            with self.assertRaises(identity.IdentityError):
                identity.parse_header(bad)


if __name__ == "__main__":
    unittest.main()
