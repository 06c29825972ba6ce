"""MultimailClient: one method per endpoint of the multimail HTTP API."""

from __future__ import annotations

import base64
import os
import re
import uuid
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union
from urllib.parse import quote, urlencode

from . import __version__
from ._http import IDEMPOTENT, NOT_IDEMPOTENT, Transport
from .errors import MultimailError
from .models import (
    Allowlist,
    Oversight,
    OversightRequestList,
    OversightRequestResult,
    RuleList,
    Approval,
    ApprovalList,
    Download,
    Email,
    EmailList,
    EmailSummary,
    InboxCheck,
    Message,
    ReplyResult,
    SendResult,
    TagResult,
    TestOutbox,
    Thread,
    format_time,
)

__all__ = ["MultimailClient", "DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "http://127.0.0.1:8025"
"""Where `multimail serve` listens by default."""

TEST_KEY_PREFIX = "mm_test_"
"""The prefix of test keys (created with ``multimail key create --test``)."""

_ENV_REF = re.compile(r"^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$")

Addresses = Union[str, Sequence[str]]


def _resolve_key(api_key: Optional[str]) -> str:
    """The key from the argument, else MULTIMAIL_API_KEY. An argument that is exactly an
    environment reference such as ``"$MULTIMAIL_API_KEY"`` (as in the documentation's
    examples) is read from that variable."""
    if api_key is None:
        api_key = os.environ.get("MULTIMAIL_API_KEY", "")
        if not api_key:
            raise MultimailError("no API key: pass api_key= or set MULTIMAIL_API_KEY")
        return api_key
    m = _ENV_REF.match(api_key)
    if m:
        name = m.group(1) or m.group(2)
        value = os.environ.get(name, "")
        if not value:
            raise MultimailError("api_key refers to $%s, which is not set" % name)
        return value
    return api_key


def _addresses(value: Optional[Addresses]) -> Optional[List[str]]:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


def _attachment(a: Mapping[str, Any]) -> Dict[str, Any]:
    out = dict(a)
    content = out.get("content")
    if isinstance(content, (bytes, bytearray, memoryview)):
        out["content"] = base64.b64encode(bytes(content)).decode("ascii")
    return out


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="@") for p in parts)


class MultimailClient:
    """A client of one multimail server.

    Args:
        api_key: the API key (``mm_live_…``, or a test key ``mm_test_…``: see test_mode); default ``MULTIMAIL_API_KEY``. A value that is
            exactly ``"$NAME"`` or ``"${NAME}"`` is read from that environment variable.
        base_url: the server; default ``MULTIMAIL_API_URL``, else ``http://127.0.0.1:8025``.
        timeout: seconds for each HTTP attempt (connect and each read).
        max_retries: how many times a failed request is sent again: on 429 (after
            ``Retry-After``), on 5xx and on a dropped connection, with exponential backoff.
            send_email always carries an idempotency key, so a retried send is sent once;
            approve and reject are retried only where the server cannot have acted (429, or
            a connection that was refused).

    Every method raises a :class:`multimail.MultimailError` subclass on failure.
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: float = 10.0,
        *,
        max_retries: int = 3,
    ) -> None:
        self.api_key = _resolve_key(api_key)
        self.base_url = (base_url or os.environ.get("MULTIMAIL_API_URL") or DEFAULT_BASE_URL).rstrip("/")
        self._t = Transport(
            self.base_url,
            self.api_key,
            timeout=timeout,
            max_retries=max_retries,
            user_agent="multimail-python/" + __version__,
        )

    def __repr__(self) -> str:
        return "MultimailClient(base_url=%r)" % self.base_url

    @property
    def test_mode(self) -> bool:
        """True when the key is a test key (``mm_test_…``): every send goes through
        validation, oversight, events and webhooks (``"test": true``) and is never delivered;
        get_message shows it delivered to the test sink. Test keys see test messages only."""
        return self.api_key.startswith(TEST_KEY_PREFIX)

    # --- sending -----------------------------------------------------------------------

    def send_email(
        self,
        mailbox_id: str,
        to: Addresses,
        subject: Optional[str] = None,
        html: Optional[str] = None,
        text: Optional[str] = None,
        priority: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        cc: Optional[Addresses] = None,
        bcc: Optional[Addresses] = None,
        reply_to: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        attachments: Optional[Sequence[Mapping[str, Any]]] = None,
        expires_at: Optional[Union[datetime, str]] = None,
        idempotency_key: Optional[str] = None,
        from_name: Optional[str] = None,
        markdown: Optional[str] = None,
        send_at: Optional[Union[datetime, str]] = None,
        ignore_suppression: Optional[bool] = None,
        unsubscribe: Optional[bool] = None,
    ) -> SendResult:
        """POST /v1/send_email: queue a message from mailbox_id (the sender address).

        Args:
            mailbox_id: the sending mailbox's address.
            to: one address or a list.
            subject, html, text: the content (text and/or html).
            priority: ``"high"``, ``"normal"`` (the server's default) or ``"low"``.
            tags: tags for the message, used by approval rules and carried in webhooks.
            cc, bcc: one address or a list.
            reply_to: the Reply-To address.
            headers: extra header fields (CR or LF in them is refused with 400).
            attachments: ``[{"filename", "content_type", "content"}]``; ``content`` is base64
                text, or bytes that the SDK base64-encodes.
            expires_at: an aware datetime or an RFC 3339 string: the server stops trying after
                it and reports ``expired``.
            unsubscribe: add a one-click ``List-Unsubscribe`` link (RFC 8058) for bulk mail to
                one recipient; the recipient's click suppresses the address (reason
                ``unsubscribe``). Refused (InvalidRequest on ``unsubscribe``) with priority
                ``"high"``, several recipients, or a node without an https ``[api] public_url``.
            idempotency_key: sent as the ``Idempotency-Key`` header. When omitted, the SDK
                generates one per call, so the call's own retries never send twice; pass your
                own to make separate calls (e.g. after a crash) idempotent too.

        Returns:
            SendResult with message_id, status (``queued`` or ``pending_approval``) and
            queued_at; ``replayed`` is True if the server answered from an earlier request.
        """
        body: Dict[str, Any] = {"mailbox_id": mailbox_id, "to": _addresses(to)}
        optional = {
            "cc": _addresses(cc),
            "bcc": _addresses(bcc),
            "reply_to": reply_to,
            "subject": subject,
            "text": text,
            "html": html,
            "priority": priority,
            "tags": None if tags is None else list(tags),
            "headers": None if headers is None else dict(headers),
            "attachments": None if attachments is None else [_attachment(a) for a in attachments],
            "expires_at": None if expires_at is None else format_time(expires_at),
            "from_name": from_name,
            "markdown": markdown,
            "send_at": None if send_at is None else format_time(send_at),
            "ignore_suppression": ignore_suppression,
            "unsubscribe": unsubscribe,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        key = idempotency_key or "mmpy_" + uuid.uuid4().hex
        resp = self._t.request("POST", "/v1/send_email", body, {"Idempotency-Key": key}, IDEMPOTENT)
        result = SendResult.from_dict(resp.data)
        object.__setattr__(result, "replayed", resp.headers.get("idempotent-replayed") == "true")
        object.__setattr__(result, "idempotency_key", key)
        return result

    def get_message(self, message_id: str) -> Message:
        """GET /v1/messages/{message_id}: status, per-recipient status and the event trail."""
        return Message.from_dict(self._get(_path("v1", "messages", message_id)))

    # --- reading -----------------------------------------------------------------------

    def list_emails(
        self,
        mailbox_id: str,
        folder: Optional[str] = None,
        tag: Optional[str] = None,
        unread: Optional[bool] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
        query: Optional[str] = None,
    ) -> EmailList:
        """GET /v1/mailboxes/{mailbox_id}/emails: one page, newest first. Pass the result's
        next_cursor as cursor= for the next page (None when there is none). query= keeps the
        emails whose text contains it, case-insensitively, as IMAP SEARCH TEXT (at most 256
        bytes); with it a page may be short, even empty, and still have a next_cursor:
        only next_cursor None means the end."""
        q: Dict[str, Any] = {"folder": folder, "tag": tag, "limit": limit, "cursor": cursor, "q": query}
        if unread is not None:
            q["unread"] = "true" if unread else "false"
        path = _path("v1", "mailboxes", mailbox_id, "emails") + _query(q)
        return EmailList.from_dict(self._get(path))

    def read_email(self, email_id: str) -> Email:
        """GET /v1/emails/{email_id}: headers, addresses, subject, text, html, attachment
        metadata, tags, flags and authentication results. Reading does not mark it read;
        ``tag_email(id, add=["\\\\Seen"])`` does."""
        return Email.from_dict(self._get(_path("v1", "emails", email_id)))

    def tag_email(
        self,
        email_id: str,
        add: Optional[Sequence[str]] = None,
        remove: Optional[Sequence[str]] = None,
    ) -> TagResult:
        """POST /v1/emails/{email_id}/tags: add and remove tags (IMAP keywords, or the system
        flags ``\\Seen``, ``\\Flagged``, …); returns the new tag and flag lists."""
        body: Dict[str, Any] = {}
        if add:
            body["add"] = list(add)
        if remove:
            body["remove"] = list(remove)
        path = _path("v1", "emails", email_id, "tags")
        return TagResult.from_dict(self._t.request("POST", path, body, policy=IDEMPOTENT).data)

    # --- the agent's mailbox: threads, reply, check_inbox, downloads, filing ---------------

    def get_thread(self, thread_id: str, mailbox_id: Optional[str] = None) -> Thread:
        """GET /v1/threads/{thread_id}: the conversation, oldest first, in your mailboxes (or
        mailbox_id's). Raises NotFound when none of its emails is in them."""
        path = _path("v1", "threads", thread_id) + _query({"mailbox_id": mailbox_id})
        return Thread.from_dict(self._get(path))

    def reply_email(
        self,
        email_id: str,
        text: Optional[str] = None,
        html: Optional[str] = None,
        reply_all: bool = False,
        priority: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        idempotency_key: Optional[str] = None,
    ) -> ReplyResult:
        """POST /v1/emails/{email_id}/reply: reply from the mailbox holding the email, with
        In-Reply-To, References and "Re: " set, so it stays in the thread. The mailbox's
        oversight applies (status may be ``pending_approval``). Needs the send scope."""
        body: Dict[str, Any] = {"text": text, "html": html, "priority": priority,
                                "tags": None if tags is None else list(tags)}
        body = {k: v for k, v in body.items() if v is not None}
        if reply_all:
            body["reply_all"] = True
        key = idempotency_key or "mmpy_" + uuid.uuid4().hex
        path = _path("v1", "emails", email_id, "reply")
        resp = self._t.request("POST", path, body, {"Idempotency-Key": key}, IDEMPOTENT)
        result = ReplyResult.from_dict(resp.data)
        object.__setattr__(result, "replayed", resp.headers.get("idempotent-replayed") == "true")
        return result

    def check_inbox(
        self,
        mailbox_id: str,
        cursor: Optional[str] = None,
        timeout: Optional[int] = None,
        folder: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> InboxCheck:
        """GET /v1/mailboxes/{mailbox_id}/check_inbox: without cursor, the unread emails and a
        cursor; with one, the emails that arrived after it, waiting up to timeout seconds
        (0-60, server default 30) for some. Keep the returned cursor for the next call."""
        q = {"cursor": cursor, "timeout": timeout, "folder": folder, "limit": limit}
        path = _path("v1", "mailboxes", mailbox_id, "check_inbox") + _query(q)
        wait = 30 if timeout is None else timeout
        resp = self._t.request("GET", path, policy=IDEMPOTENT, timeout=max(self._t.timeout, wait + 15))
        return InboxCheck.from_dict(resp.data)

    def get_raw_email(self, email_id: str) -> Download:
        """GET /v1/emails/{email_id}/raw: the stored RFC 5322 bytes."""
        return self._download(_path("v1", "emails", email_id, "raw"))

    def get_attachment(self, email_id: str, n: int) -> Download:
        """GET /v1/emails/{email_id}/attachments/{n}: attachment n (the order of
        read_email's attachments) with its content type."""
        return self._download(_path("v1", "emails", email_id, "attachments", str(int(n))))

    def move_email(self, email_id: str, folder: str) -> EmailSummary:
        """POST /v1/emails/{email_id}/move: file it in another folder (tag scope)."""
        path = _path("v1", "emails", email_id, "move")
        return EmailSummary.from_dict(self._t.request("POST", path, {"folder": folder}, policy=IDEMPOTENT).data)

    def archive_email(self, email_id: str) -> EmailSummary:
        """POST /v1/emails/{email_id}/archive: move it to Archive (tag scope)."""
        path = _path("v1", "emails", email_id, "archive")
        return EmailSummary.from_dict(self._t.request("POST", path, policy=IDEMPOTENT).data)

    def delete_email(self, email_id: str) -> EmailSummary:
        """DELETE /v1/emails/{email_id}: move it to Trash; nothing is erased (tag scope)."""
        path = _path("v1", "emails", email_id)
        return EmailSummary.from_dict(self._t.request("DELETE", path, policy=IDEMPOTENT).data)

    def mark_email(self, email_id: str, read: Optional[bool] = None, flagged: Optional[bool] = None) -> EmailSummary:
        """POST /v1/emails/{email_id}/mark: read/unread and flagged/unflagged (tag scope)."""
        body = {k: v for k, v in {"read": read, "flagged": flagged}.items() if v is not None}
        path = _path("v1", "emails", email_id, "mark")
        return EmailSummary.from_dict(self._t.request("POST", path, body, policy=IDEMPOTENT).data)

    def _download(self, path: str) -> Download:
        resp = self._t.request("GET", path, policy=IDEMPOTENT, decode=False)
        ctype = resp.headers.get("content-type", "application/octet-stream")
        filename = None
        cd = resp.headers.get("content-disposition", "")
        if "filename=" in cd:
            from email.message import Message as _M

            m = _M()
            m["content-disposition"] = cd
            filename = m.get_filename()
        return Download(content=resp.data, content_type=ctype, filename=filename)

    # --- approvals ---------------------------------------------------------------------

    def list_approvals(
        self,
        state: Optional[str] = None,
        mailbox_id: Optional[str] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> ApprovalList:
        """GET /v1/approvals: the gated queue, oldest first. state is ``pending`` (the
        server's default), ``approved``, ``rejected`` or ``all``."""
        q = {"state": state, "mailbox_id": mailbox_id, "limit": limit, "cursor": cursor}
        return ApprovalList.from_dict(self._get("/v1/approvals" + _query(q)))

    def approve(self, approval_id: str, reason: Optional[str] = None) -> Approval:
        """POST /v1/approvals/{approval_id}/approve (needs an operator key: the approve or admin
        scope, never a key that holds send). Raises Conflict if the approval was already decided."""
        return self._decide(approval_id, "approve", reason)

    def reject(self, approval_id: str, reason: Optional[str] = None) -> Approval:
        """POST /v1/approvals/{approval_id}/reject (needs an operator key: the approve or admin
        scope, never a key that holds send). Raises Conflict if the approval was already decided."""
        return self._decide(approval_id, "reject", reason)

    # --- oversight controls (docs/oversight-controls.md) -------------------------------
    # Editing needs an operator key: approve or admin on that mailbox, never a key that holds
    # send (Forbidden). request_oversight is the agent's own (send scope).

    def get_allowlist(self, mailbox_id: str) -> Allowlist:
        """GET /v1/mailboxes/{mailbox_id}/allowlist."""
        return Allowlist.from_dict(self._get(_path("v1", "mailboxes", mailbox_id, "allowlist")))

    def add_allowlist_entry(self, mailbox_id: str, entry: str) -> Allowlist:
        """POST /v1/mailboxes/{mailbox_id}/allowlist: add an address or ``@domain``. Raises
        Conflict if it is there already, InvalidRequest (field ``entry``) if malformed."""
        path = _path("v1", "mailboxes", mailbox_id, "allowlist")
        return Allowlist.from_dict(self._t.request("POST", path, {"entry": entry}, policy=NOT_IDEMPOTENT).data)

    def set_allowlist(self, mailbox_id: str, entries: Sequence[str]) -> Allowlist:
        """PUT /v1/mailboxes/{mailbox_id}/allowlist: replace the whole list ([] clears it)."""
        path = _path("v1", "mailboxes", mailbox_id, "allowlist")
        return Allowlist.from_dict(self._t.request("PUT", path, {"entries": list(entries)}, policy=IDEMPOTENT).data)

    def remove_allowlist_entry(self, mailbox_id: str, entry: str) -> Allowlist:
        """DELETE /v1/mailboxes/{mailbox_id}/allowlist/{entry}. Raises NotFound if absent."""
        path = _path("v1", "mailboxes", mailbox_id, "allowlist", entry)
        return Allowlist.from_dict(self._t.request("DELETE", path, policy=NOT_IDEMPOTENT).data)

    def get_rules(self, mailbox_id: str) -> RuleList:
        """GET /v1/mailboxes/{mailbox_id}/rules: config rules (read-only) then API rules."""
        return RuleList.from_dict(self._get(_path("v1", "mailboxes", mailbox_id, "rules")))

    def add_rule(
        self,
        mailbox_id: str,
        action: str,
        tags: Optional[Sequence[str]] = None,
        recipients: Optional[Sequence[str]] = None,
    ) -> RuleList:
        """POST /v1/mailboxes/{mailbox_id}/rules: action is ``auto_approve``,
        ``require_approval`` or ``reject``; tags must all be on a send, every recipient must
        match one of recipients (shell globs such as ``*@partner.example``)."""
        body: Dict[str, Any] = {"action": action}
        if tags:
            body["tags"] = list(tags)
        if recipients:
            body["recipients"] = list(recipients)
        path = _path("v1", "mailboxes", mailbox_id, "rules")
        return RuleList.from_dict(self._t.request("POST", path, body, policy=NOT_IDEMPOTENT).data)

    def set_rules(self, mailbox_id: str, rules: Sequence[Mapping[str, Any]]) -> RuleList:
        """PUT /v1/mailboxes/{mailbox_id}/rules: replace the API rules
        (``[{"tags", "recipients", "action"}]``); config rules stay."""
        path = _path("v1", "mailboxes", mailbox_id, "rules")
        return RuleList.from_dict(self._t.request("PUT", path, {"rules": [dict(r) for r in rules]}, policy=IDEMPOTENT).data)

    def remove_rule(self, mailbox_id: str, rule_id: str) -> RuleList:
        """DELETE /v1/mailboxes/{mailbox_id}/rules/{rule_id}. A config rule is Conflict."""
        path = _path("v1", "mailboxes", mailbox_id, "rules", rule_id)
        return RuleList.from_dict(self._t.request("DELETE", path, policy=NOT_IDEMPOTENT).data)

    def get_oversight(self, mailbox_id: str) -> Oversight:
        """GET /v1/mailboxes/{mailbox_id}/oversight: the mode and any pending request."""
        return Oversight.from_dict(self._get(_path("v1", "mailboxes", mailbox_id, "oversight")))

    def set_oversight(self, mailbox_id: str, oversight: str, reason: Optional[str] = None) -> Oversight:
        """PUT /v1/mailboxes/{mailbox_id}/oversight: a person sets the mode (either way)."""
        body: Dict[str, Any] = {"oversight": oversight}
        if reason:
            body["reason"] = reason
        path = _path("v1", "mailboxes", mailbox_id, "oversight")
        return Oversight.from_dict(self._t.request("PUT", path, body, policy=IDEMPOTENT).data)

    def request_oversight(self, mailbox_id: str, oversight: str, reason: Optional[str] = None) -> OversightRequestResult:
        """POST /v1/mailboxes/{mailbox_id}/oversight_request, as the agent. Modes from least to
        most oversight: autonomous, monitored, gated_send, gated_all, read_only. More oversight
        applies at once (``status == "applied"``); less waits for a person (``"pending"``)."""
        body: Dict[str, Any] = {"oversight": oversight}
        if reason:
            body["reason"] = reason
        path = _path("v1", "mailboxes", mailbox_id, "oversight_request")
        return OversightRequestResult.from_dict(self._t.request("POST", path, body, policy=NOT_IDEMPOTENT).data)

    def list_oversight_requests(self) -> OversightRequestList:
        """GET /v1/oversight_requests: pending requests of the mailboxes this key oversees."""
        return OversightRequestList.from_dict(self._get("/v1/oversight_requests"))

    def approve_oversight_request(
        self, mailbox_id: str, request_id: Optional[str] = None, reason: Optional[str] = None
    ) -> Oversight:
        """POST .../oversight_request/approve: the mode becomes the requested one. With
        request_id, Conflict if the agent replaced that request meanwhile."""
        return self._decide_oversight(mailbox_id, "approve", request_id, reason)

    def reject_oversight_request(
        self, mailbox_id: str, request_id: Optional[str] = None, reason: Optional[str] = None
    ) -> Oversight:
        """POST .../oversight_request/reject: the mode stays."""
        return self._decide_oversight(mailbox_id, "reject", request_id, reason)

    # --- sending (docs/sending.md) -------------------------------------------------------

    def cancel_message(self, message_id: str) -> Dict[str, Any]:
        """POST /v1/messages/{message_id}/cancel: cancel every recipient not yet delivered.
        Returns {"message_id", "status", "cancelled", "in_flight"}. Raises NothingToCancel
        when every recipient is already final."""
        path = _path("v1", "messages", message_id, "cancel")
        return self._t.request("POST", path, {}, policy=IDEMPOTENT).data

    def send_batch(self, messages: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
        """POST /v1/send_batch: up to 500 send_email bodies (give each an idempotency_key to
        retry safely). Returns {"results": [...]}, one per message: http_status 202 with
        message_id, or the item's error."""
        return self._t.request("POST", "/v1/send_batch", {"messages": [dict(m) for m in messages]},
                               policy=NOT_IDEMPOTENT).data

    def list_suppressions(self, domain: str, limit: Optional[int] = None,
                          cursor: Optional[str] = None) -> Dict[str, Any]:
        """GET /v1/suppressions: a sending domain's suppression list."""
        return self._get("/v1/suppressions" + _query({"domain": domain, "limit": limit, "cursor": cursor}))

    def add_suppression(self, domain: str, address: str, detail: Optional[str] = None,
                        expires_at: Optional[Union[datetime, str]] = None) -> Dict[str, Any]:
        """POST /v1/suppressions: stop mail from domain to address."""
        body: Dict[str, Any] = {"domain": domain, "address": address}
        if detail:
            body["detail"] = detail
        if expires_at is not None:
            body["expires_at"] = format_time(expires_at)
        return self._t.request("POST", "/v1/suppressions", body, policy=IDEMPOTENT).data

    def delete_suppression(self, domain: str, address: str) -> Dict[str, Any]:
        """DELETE /v1/suppressions (admin key): mail may reach address again."""
        path = "/v1/suppressions" + _query({"domain": domain, "address": address})
        return self._t.request("DELETE", path, policy=IDEMPOTENT).data

    # --- the test outbox (docs/sending.md, Test outbox) -----------------------------------

    def list_test_outbox(self, mailbox_id: str, limit: Optional[int] = None,
                         cursor: Optional[str] = None) -> TestOutbox:
        """GET /v1/mailboxes/{mailbox_id}/test_outbox: what test-key sends would have
        delivered, newest first (kept 7 days). Needs a test key of the mailbox or an
        approve/admin key; a live agent key gets NotFound (it never sees test data)."""
        path = _path("v1", "mailboxes", mailbox_id, "test_outbox") + _query({"limit": limit, "cursor": cursor})
        return TestOutbox.from_dict(self._get(path))

    def read_test_message(self, mailbox_id: str, message_id: str) -> Download:
        """GET /v1/mailboxes/{mailbox_id}/test_outbox/{message_id}: the RFC 5322 bytes the
        test sink received, DKIM-signed with the unpublished test selector mmtest."""
        return self._download(_path("v1", "mailboxes", mailbox_id, "test_outbox", message_id))

    # --- helpers -----------------------------------------------------------------------

    def _decide_oversight(self, mailbox_id: str, action: str, request_id: Optional[str], reason: Optional[str]) -> Oversight:
        body = {k: v for k, v in {"request_id": request_id, "reason": reason}.items() if v}
        path = _path("v1", "mailboxes", mailbox_id, "oversight_request", action)
        return Oversight.from_dict(self._t.request("POST", path, body, policy=NOT_IDEMPOTENT).data)

    def _decide(self, approval_id: str, action: str, reason: Optional[str]) -> Approval:
        body = {"reason": reason} if reason else {}
        path = _path("v1", "approvals", approval_id, action)
        return Approval.from_dict(self._t.request("POST", path, body, policy=NOT_IDEMPOTENT).data)

    def _get(self, path: str) -> Any:
        return self._t.request("GET", path, policy=IDEMPOTENT).data


def _query(params: Mapping[str, Any]) -> str:
    q = {k: v for k, v in params.items() if v is not None and v != ""}
    return "?" + urlencode(q) if q else ""
