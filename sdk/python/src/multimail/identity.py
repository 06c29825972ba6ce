"""Verify multimail's signed identity header (docs/identity.md), offline, standard library only.

    from multimail import identity

    keys = json.load(urllib.request.urlopen("https://mail.example.com/.well-known/multimail-identity"))
    result = identity.verify(open("message.eml", "rb").read(), keys)
    print(result.mailbox, result.mode, result.release, result.ref)

:func:`verify` raises :class:`IdentityError` (its ``reason`` is one of ``missing_header``,
``malformed``, ``no_signature``, ``not_aligned``, ``unknown_key``, ``revoked_key``,
``body_hash``, ``bad_signature``). The identity signature is a DKIM signature
(RFC 6376, relaxed/relaxed) with ``a=ed25519-sha256`` (RFC 8463); the Python standard library
has no Ed25519, so this module carries the RFC 8032 §5.1.7 reference verification (slow, about
ten milliseconds, and not constant-time, which verification does not need).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import getaddresses
from typing import Any, Dict, List, Mapping, Optional, Tuple

__all__ = ["IdentityError", "Identity", "verify", "parse_header", "ed25519_verify"]

FIELD = "multimail-identity"
REQUIRED_H = ["multimail-identity", "multimail-identity", "from", "from", "to", "subject", "date", "message-id"]
MODES = {"autonomous", "monitored", "gated_send", "gated_all", "system"}
RELEASES = {"autonomous", "monitored", "approved", "auto_approved"}
_ULID = re.compile(r"^[0-9A-Za-z]{26}$")


class IdentityError(Exception):
    """The message's identity did not verify; ``reason`` names why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """A verified Multimail-Identity header."""

    mailbox: str
    mode: str
    release: str
    ref: Optional[str]
    at: datetime
    msg: str
    domain: str
    selector: str


# --- Ed25519 (RFC 8032 §5.1, the reference verification) -------------------------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_I = pow(2, (_P - 1) // 4, _P)


def _add(a: Tuple[int, int, int, int], b: Tuple[int, int, int, int]) -> Tuple[int, int, int, int]:
    x = (a[1] - a[0]) * (b[1] - b[0]) % _P
    y = (a[1] + a[0]) * (b[1] + b[0]) % _P
    c = 2 * a[3] * b[3] * _D % _P
    d = 2 * a[2] * b[2] % _P
    e, f, g, h = y - x, d - c, d + c, y + x
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, pt: Tuple[int, int, int, int]) -> Tuple[int, int, int, int]:
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, pt)
        pt = _add(pt, pt)
        s >>= 1
    return q


def _equal(a: Tuple[int, int, int, int], b: Tuple[int, int, int, int]) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y: int, sign: int) -> Optional[int]:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _I % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(s: bytes) -> Optional[Tuple[int, int, int, int]]:
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
assert _GX is not None
_G = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 §5.1.7: whether signature is public's Ed25519 signature of message."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % _L
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))


# --- messages and DKIM (RFC 6376) --------------------------------------------------------------


def _split(raw: bytes) -> Tuple[List[Tuple[str, bytes]], bytes]:
    """The header fields (lower-case name, raw bytes with folding and CRLF) and the body."""
    if b"\r\n" not in raw and b"\n" in raw:
        raw = raw.replace(b"\n", b"\r\n")
    fields: List[Tuple[str, bytes]] = []
    i = 0
    while i < len(raw) and not raw.startswith(b"\r\n", i):
        j = i
        while True:
            k = raw.find(b"\r\n", j)
            if k < 0:
                k = len(raw)
                break
            k += 2
            if k < len(raw) and raw[k : k + 1] in (b" ", b"\t"):
                j = k
                continue
            break
        f = raw[i:k]
        name = f.split(b":", 1)[0].strip().decode("latin-1").lower() if b":" in f else ""
        fields.append((name, f))
        i = k
    return fields, raw[i + 2 :] if raw.startswith(b"\r\n", i) else b""


def _value(f: bytes) -> str:
    return f.split(b":", 1)[1].replace(b"\r\n", b"").decode("utf-8", "replace").strip()


def _relaxed_header(f: bytes) -> bytes:
    name, _, value = f.partition(b":")
    value = re.sub(rb"[ \t]+", b" ", value.replace(b"\r\n", b"")).strip(b" ")
    return name.strip(b" \t").lower() + b":" + value + b"\r\n"


def _relaxed_body(body: bytes) -> bytes:
    lines = body.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = [re.sub(rb"[ \t]+", b" ", ln).rstrip(b" ") for ln in lines]
    while out and out[-1] == b"":
        out.pop()
    return b"".join(ln + b"\r\n" for ln in out)


def _tags(value: str) -> Dict[str, str]:
    tags: Dict[str, str] = {}
    for part in value.split(";"):
        k, sep, v = part.partition("=")
        if sep and k.strip() not in tags:
            tags[k.strip()] = re.sub(r"\s+", "", v)
    return tags


def parse_header(value: str) -> Dict[str, str]:
    """Parse a Multimail-Identity value by the grammar of docs/identity.md."""
    tags: Dict[str, str] = {}
    for part in value.split(";"):
        part = "".join(part.split())
        if not part:
            continue
        k, sep, v = part.partition("=")
        if not sep or not k:
            raise IdentityError("malformed", f"{part!r} is not tag=value")
        if k in tags:
            raise IdentityError("malformed", f"tag {k} repeated")
        tags[k] = v
    if tags.get("v") != "1":
        raise IdentityError("malformed", "v= is not 1")
    unknown = set(tags) - {"v", "mailbox", "mode", "release", "ref", "at", "msg"}
    if unknown:
        raise IdentityError("malformed", f"unknown tags {sorted(unknown)}")
    mbox = tags.get("mailbox", "")
    if mbox.count("@") < 1 or mbox != mbox.lower() or re.search(r"[;\s\"(),<>]", mbox):
        raise IdentityError("malformed", f"mailbox {mbox!r}")
    if tags.get("mode") not in MODES:
        raise IdentityError("malformed", f"mode {tags.get('mode')!r}")
    rel = tags.get("release")
    if rel not in RELEASES:
        raise IdentityError("malformed", f"release {rel!r}")
    ref = tags.get("ref")
    if rel in ("approved", "auto_approved"):
        if not ref or not ref.startswith("apr_") or not _ULID.match(ref[4:]):
            raise IdentityError("malformed", f"release {rel} needs ref=apr_…")
    elif ref is not None:
        raise IdentityError("malformed", f"release {rel} takes no ref")
    msg = tags.get("msg", "")
    if not msg.startswith("msg_") or not _ULID.match(msg[4:]):
        raise IdentityError("malformed", f"msg {msg!r}")
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", tags.get("at", "")):
        raise IdentityError("malformed", f"at {tags.get('at')!r}")
    return tags


def _key_record(keys: Mapping[str, Any], domain: str, selector: str) -> str:
    for k in keys.get("keys", []):
        if str(k.get("domain", "")).lower().rstrip(".") == domain and k.get("selector") == selector:
            if k.get("algorithm") != "ed25519":
                raise IdentityError("unknown_key", f"{selector}._domainkey.{domain} is not ed25519")
            if k.get("status") == "revoked" or not k.get("public_key"):
                raise IdentityError("revoked_key", f"{selector}._domainkey.{domain}")
            return str(k["public_key"])
    raise IdentityError("unknown_key", f"{selector}._domainkey.{domain} is not in the key set")


def verify(raw: bytes, keys: Mapping[str, Any]) -> Identity:
    """Verify raw (the message's bytes) against keys (the /.well-known/multimail-identity JSON)."""
    fields, body = _split(raw)
    froms = [f for n, f in fields if n == "from"]
    if len(froms) != 1:
        raise IdentityError("malformed", f"{len(froms)} From fields")
    addrs = getaddresses([_value(froms[0])])
    if len(addrs) != 1 or "@" not in addrs[0][1]:
        raise IdentityError("malformed", "From is not one address")
    from_addr = addrs[0][1].lower()
    from_domain = from_addr.rsplit("@", 1)[1]
    ids = [f for n, f in fields if n == FIELD]
    if not ids:
        raise IdentityError("missing_header", "no Multimail-Identity header")
    if len(ids) > 1:
        raise IdentityError("malformed", f"{len(ids)} Multimail-Identity fields")
    tags = parse_header(_value(ids[0]))
    if tags["mailbox"] != from_addr:
        raise IdentityError("not_aligned", f"the header names {tags['mailbox']}, From is {from_addr}")
    first: Optional[IdentityError] = None
    found = False
    for name, f in fields:
        if name != "dkim-signature":
            continue
        sig = _tags(_value(f))
        hlist = [h.strip().lower() for h in sig.get("h", "").split(":") if h.strip()]
        if sig.get("a") != "ed25519-sha256" or FIELD not in hlist:
            continue
        found = True
        try:
            domain, selector = _check_signature(f, sig, hlist, fields, body, from_domain, keys)
        except IdentityError as e:
            first = first or e
            continue
        return Identity(mailbox=tags["mailbox"], mode=tags["mode"], release=tags["release"], ref=tags.get("ref"),
                        at=datetime.strptime(tags["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc),
                        msg=tags["msg"], domain=domain, selector=selector)
    if not found:
        raise IdentityError("no_signature", "no ed25519-sha256 DKIM-Signature covering Multimail-Identity")
    assert first is not None
    raise first


def _check_signature(field: bytes, sig: Dict[str, str], hlist: List[str], fields: List[Tuple[str, bytes]],
                     body: bytes, from_domain: str, keys: Mapping[str, Any]) -> Tuple[str, str]:
    domain, selector = sig.get("d", "").lower(), sig.get("s", "")
    if domain != from_domain:
        raise IdentityError("not_aligned", f"d={domain}, From domain {from_domain}")
    if "l" in sig or sig.get("c", "simple/simple") != "relaxed/relaxed" or sig.get("v") != "1":
        raise IdentityError("bad_signature", "the identity signature must be v=1, c=relaxed/relaxed, no l=")
    missing = list(REQUIRED_H)
    for h in hlist:
        if h in missing:
            missing.remove(h)
    if missing:
        raise IdentityError("bad_signature", f"h= does not cover {missing}")
    pub = base64.b64decode(_key_record(keys, domain, selector))
    bh = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest()).decode()
    if bh != sig.get("bh"):
        raise IdentityError("body_hash", "body hash mismatch (the body was changed)")
    # RFC 6376 §5.4.2: each name in h= takes the last unused instance, bottom up.
    used: Dict[str, int] = {}
    data = b""
    for h in hlist:
        instances = [f for n, f in fields if n == h]
        n = used.get(h, 0)
        if n < len(instances):
            data += _relaxed_header(instances[len(instances) - 1 - n])
        used[h] = n + 1
    unsigned = re.sub(rb"(^|;)(\s*b\s*=)[^;]*", rb"\1\2", field.split(b":", 1)[1])
    data += _relaxed_header(b"DKIM-Signature:" + unsigned)[:-2]
    try:
        signature = base64.b64decode(sig.get("b", ""))
    except ValueError:
        raise IdentityError("bad_signature", "b= is not base64") from None
    if not ed25519_verify(pub, hashlib.sha256(data).digest(), signature):
        raise IdentityError("bad_signature", "signature does not verify (a signed header was changed, or the wrong key)")
    return domain, selector
