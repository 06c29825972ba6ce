"""Result objects of the multimail API.

Each class mirrors one JSON body of the HTTP API (``api/wire`` in the server). Fields are
attributes with Python types (timestamps are timezone-aware :class:`datetime.datetime`);
``result.to_dict()`` (or ``dict(result)``) gives the JSON object exactly as the server sent
it, including fields newer than this SDK. The JSON field ``from`` is the attribute ``from_``.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List, Mapping, Optional, Type, TypeVar, Union, get_type_hints

__all__ = [
    "Model",
    "SendResult",
    "Recipient",
    "Approval",
    "ApprovalList",
    "TrailEvent",
    "Message",
    "EmailSummary",
    "EmailList",
    "Header",
    "AttachmentInfo",
    "Email",
    "TagResult",
    "parse_time",
    "format_time",
]

M = TypeVar("M", bound="Model")

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


def parse_time(value: str) -> datetime:
    """Parses an RFC 3339 timestamp (Go's RFC3339Nano included) into an aware datetime."""
    m = _RFC3339.match(value)
    if not m:
        raise ValueError("not an RFC 3339 timestamp: %r" % value)
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    if m.group(8):
        tz = timezone.utc
    else:
        off = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        tz = timezone(off if m.group(9) == "+" else -off)
    return datetime(y, mo, d, h, mi, s, micro, tzinfo=tz)


def format_time(value: Union[datetime, str]) -> str:
    """Formats an aware datetime as RFC 3339 (strings pass through unchanged). A naive
    datetime is refused: it names no instant."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("expires_at: a naive datetime names no instant; give tzinfo (e.g. timezone.utc)")
    text = value.astimezone(timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


class Model(Mapping[str, Any]):
    """Base of the result classes: attribute access to typed fields, and a read-only mapping
    over the raw JSON object (``dict(result)``, ``result["message_id"]``, ``to_dict()``)."""

    _raw: Dict[str, Any]

    def to_dict(self) -> Dict[str, Any]:
        """A deep copy of the JSON object the server sent."""
        import copy

        return copy.deepcopy(self._raw)

    def __getitem__(self, key: str) -> Any:
        return self._raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    @classmethod
    def from_dict(cls: Type[M], data: Mapping[str, Any]) -> M:
        """Builds the object from a decoded JSON object; unknown keys stay in to_dict()."""
        hints = _hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name.startswith("_"):
                continue
            key = f.metadata.get("json", f.name)
            if key in data and data[key] is not None:
                kwargs[f.name] = _convert(hints[f.name], data[key])
        obj = cls(**kwargs)
        object.__setattr__(obj, "_raw", dict(data))
        return obj


_HINTS: Dict[type, Dict[str, Any]] = {}


def _hints(cls: type) -> Dict[str, Any]:
    h = _HINTS.get(cls)
    if h is None:
        h = get_type_hints(cls, vars(sys.modules[__name__]))
        _HINTS[cls] = h
    return h


def _convert(tp: Any, value: Any) -> Any:
    origin = getattr(tp, "__origin__", None)
    args = getattr(tp, "__args__", ())
    if origin is Union:  # Optional[X]
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if origin in (list, List):
        return [_convert(args[0], v) for v in value] if isinstance(value, list) else value
    if tp is datetime and isinstance(value, str):
        return parse_time(value)
    if isinstance(tp, type) and issubclass(tp, Model) and isinstance(value, Mapping):
        return tp.from_dict(value)
    return value


def _field(json_name: Optional[str] = None, default: Any = None, list_: bool = False) -> Any:
    meta = {"json": json_name} if json_name else {}
    if list_:
        return dataclasses.field(default_factory=list, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _model(cls: Type[M]) -> Type[M]:
    """Makes cls a frozen dataclass with the hidden _raw field (eq compares the fields)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    return cls


@_model
class SendResult(Model):
    """The 202 answer of send_email.

    Attributes:
        message_id: ``msg_…``, the id that webhooks and get_message use.
        status: ``"queued"`` or ``"pending_approval"`` (gated mailboxes).
        queued_at: when the server accepted the message.
        replayed: True when the server answered from an earlier request with the same
            idempotency key (the ``Idempotent-Replayed`` header): nothing new was sent.
        idempotency_key: the key the request carried (the SDK generates one if none is given).
    """

    message_id: str = ""
    status: str = ""
    queued_at: Optional[datetime] = None
    replayed: bool = dataclasses.field(default=False, metadata={"json": "-"})
    idempotency_key: Optional[str] = dataclasses.field(default=None, metadata={"json": "-"})


@_model
class Recipient(Model):
    """Delivery state of one recipient of a message."""

    address: str = ""
    status: str = ""
    attempts: int = 0
    next_attempt: Optional[datetime] = None
    smtp_code: Optional[int] = None
    enhanced_code: Optional[str] = None
    error_detail: Optional[str] = None
    updated_at: Optional[datetime] = None


@_model
class Approval(Model):
    """The oversight record of a gated message (an entry of list_approvals)."""

    approval_id: str = ""
    state: str = ""  # pending | approved | rejected
    message_id: Optional[str] = None
    mailbox_id: Optional[str] = None
    subject: Optional[str] = None
    to: List[str] = _field(list_=True)
    tags: List[str] = _field(list_=True)
    by: Optional[str] = None
    rule: Optional[str] = None
    reason: Optional[str] = None
    created_at: Optional[datetime] = None
    decided_at: Optional[datetime] = None
    test: bool = False  # the held message was sent with a test key (never delivered)


@_model
class ApprovalList(Model):
    """One page of list_approvals; pass next_cursor as cursor= for the next page."""

    approvals: List[Approval] = _field(list_=True)
    next_cursor: Optional[str] = None


@_model
class TrailEvent(Model):
    """One entry of a message's ordered event trail."""

    seq: int = 0
    event: str = ""
    time: Optional[datetime] = None
    recipient: Optional[str] = None
    mx_host: Optional[str] = None
    smtp_code: Optional[int] = None
    enhanced_code: Optional[str] = None
    error_detail: Optional[str] = None
    attempt: Optional[int] = None
    tls: Optional[bool] = None
    tags: List[str] = _field(list_=True)
    by: Optional[str] = None
    rule: Optional[str] = None
    reason: Optional[str] = None
    mailbox_id: Optional[str] = None
    email_id: Optional[str] = None
    source_ip: Optional[str] = None  # delivery attempts through an [[ip_pool]]
    ip_pool: Optional[str] = None


@_model
class Message(Model):
    """get_message: an outbound message's status, recipients and event trail."""

    message_id: str = ""
    mailbox_id: Optional[str] = None
    from_: Optional[str] = _field("from")
    subject: Optional[str] = None
    status: str = ""
    priority: str = ""
    tags: List[str] = _field(list_=True)
    queued_at: Optional[datetime] = None
    expires_at: Optional[datetime] = None
    size: int = 0
    recipients: List[Recipient] = _field(list_=True)
    approval: Optional[Approval] = None
    events: List[TrailEvent] = _field(list_=True)
    test: bool = False  # sent with a test key: delivered to the test sink, never to an MX


@_model
class EmailSummary(Model):
    """One entry of list_emails."""

    email_id: str = ""
    mailbox_id: str = ""
    folder: str = ""
    from_: List[str] = _field("from", list_=True)
    to: List[str] = _field(list_=True)
    cc: List[str] = _field(list_=True)
    subject: str = ""
    date: Optional[datetime] = None
    received_at: Optional[datetime] = None
    size: int = 0
    unread: bool = False
    tags: List[str] = _field(list_=True)
    flags: List[str] = _field(list_=True)
    thread_id: Optional[str] = None


@_model
class EmailList(Model):
    """One page of list_emails, newest first; pass next_cursor as cursor= for the next."""

    emails: List[EmailSummary] = _field(list_=True)
    next_cursor: Optional[str] = None


@_model
class TestOutboxItem(Model):
    """One message of a mailbox's test outbox: a test key's send that reached the test sink."""

    __test__ = False  # not a unittest/pytest class

    message_id: str = ""
    to: List[str] = _field(list_=True)
    subject: str = ""
    queued_at: Optional[datetime] = None
    delivered_at: Optional[datetime] = None
    size: int = 0
    expires_at: Optional[datetime] = None


@_model
class TestOutbox(Model):
    """One page of list_test_outbox, newest first; pass next_cursor as cursor= for the next."""

    __test__ = False

    messages: List[TestOutboxItem] = _field(list_=True)
    next_cursor: Optional[str] = None


@_model
class Header(Model):
    """One header field of an email, in message order."""

    name: str = ""
    value: str = ""


@_model
class AttachmentInfo(Model):
    """Metadata of an attachment of a stored email (read_email does not return content)."""

    filename: str = ""
    content_type: str = ""
    size: int = 0
    content_id: Optional[str] = None
    inline: bool = False


@_model
class Email(EmailSummary):
    """read_email: the parsed message."""

    reply_to: List[str] = _field(list_=True)
    message_id_header: Optional[str] = None
    headers: List[Header] = _field(list_=True)
    text: str = ""
    html: str = ""
    markdown: str = ""
    attachments: List[AttachmentInfo] = _field(list_=True)
    authentication_results: Optional[str] = None


@_model
class TagResult(Model):
    """tag_email: the email's tags (IMAP keywords) and system flags after the change."""

    email_id: str = ""
    tags: List[str] = _field(list_=True)
    flags: List[str] = _field(list_=True)


# --- oversight controls (docs/oversight-controls.md) -------------------------------------


@_model
class AllowlistEntry(Model):
    """One recipient allowlist entry: an address or ``@domain``."""

    entry: str = ""
    added_by: Optional[str] = None
    created_at: Optional[datetime] = None


@_model
class Allowlist(Model):
    """A mailbox's recipient allowlist: in gated_send a send whose every recipient is on it
    goes out without waiting for a person."""

    mailbox_id: str = ""
    entries: List[AllowlistEntry] = _field(list_=True)


@_model
class Rule(Model):
    """An approval rule that applies to a mailbox. ``source`` is ``"config"`` (read-only,
    ``rule_id`` ``config:<n>``) or ``"api"``."""

    rule_id: str = ""
    source: str = ""
    read_only: bool = False
    mailbox: Optional[str] = None
    tags: List[str] = _field(list_=True)
    recipients: List[str] = _field(list_=True)
    action: str = ""
    created_by: Optional[str] = None
    created_at: Optional[datetime] = None


@_model
class RuleList(Model):
    """The rules of a mailbox, config ones first (the order they are consulted in)."""

    mailbox_id: str = ""
    rules: List[Rule] = _field(list_=True)


@_model
class OversightRequest(Model):
    """An agent's pending request for less oversight, decided by a person."""

    request_id: str = ""
    mailbox_id: str = ""
    to: str = ""
    requested_by: str = ""
    reason: Optional[str] = None
    created_at: Optional[datetime] = None
    from_: str = _field("from", default="")


@_model
class Oversight(Model):
    """A mailbox's oversight mode, oversight address and pending request."""

    mailbox_id: str = ""
    oversight: str = ""
    oversight_address: Optional[str] = None
    pending_request: Optional[OversightRequest] = None


@_model
class OversightRequestResult(Model):
    """request_oversight: ``status`` is ``"applied"`` (more oversight, or no change) or
    ``"pending"`` (less oversight: ``request`` waits for a person)."""

    status: str = ""
    mailbox_id: str = ""
    oversight: str = ""
    request: Optional[OversightRequest] = None


@_model
class OversightRequestList(Model):
    """Pending oversight requests of the mailboxes the key oversees, oldest first."""

    requests: List[OversightRequest] = _field(list_=True)


@_model
class Thread(Model):
    """get_thread: a conversation's emails in your mailboxes, oldest first (received and sent)."""

    thread_id: str = ""
    emails: List[EmailSummary] = _field(list_=True)
    truncated: bool = False


@_model
class ReplyResult(SendResult):
    """reply_email: like send_email's answer, plus where the reply went and its thread."""

    thread_id: Optional[str] = None
    to: List[str] = _field(list_=True)
    cc: List[str] = _field(list_=True)
    subject: str = ""


@_model
class InboxCheck(Model):
    """check_inbox: emails that arrived after the cursor (oldest first) and the cursor to keep.
    more is True when there are more new emails than returned: call again at once."""

    emails: List[EmailSummary] = _field(list_=True)
    cursor: str = ""
    more: bool = False


@_model
class Download(Model):
    """get_raw_email / get_attachment: the bytes and their type (untrusted mail content)."""

    content: bytes = b""
    content_type: str = ""
    filename: Optional[str] = None
