"""multimail: the Python SDK of the multimail mail server's HTTP API.

    from multimail import MultimailClient

    client = MultimailClient()          # MULTIMAIL_API_KEY, MULTIMAIL_API_URL
    result = client.send_email(mailbox_id="auth@example.com", to="user@example.org",
                               subject="Hi", text="Hello", tags=["auth"])
    print(result.message_id, result.status, result.queued_at)

Errors are exceptions (:mod:`multimail.errors`); webhook signatures are checked with
:func:`multimail.webhooks.verify`; a message's signed identity header with
:func:`multimail.identity.verify`. Standard library only; Python 3.9+.
"""

__version__ = "0.1.0"

from . import identity, webhooks  # noqa: E402
from .client import DEFAULT_BASE_URL, MultimailClient  # noqa: E402
from .errors import (  # noqa: E402
    APIConnectionError,
    APIError,
    Conflict,
    Forbidden,
    IdempotencyConflict,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    MultimailError,
    NotFound,
    NothingToCancel,
    Suppressed,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
    UnprocessableEntity,
    WebhookVerificationError,
)
from .models import (  # noqa: E402
    Allowlist,
    AllowlistEntry,
    Oversight,
    OversightRequest,
    OversightRequestList,
    OversightRequestResult,
    Rule,
    RuleList,
    Approval,
    ApprovalList,
    AttachmentInfo,
    Download,
    Email,
    EmailList,
    EmailSummary,
    Header,
    InboxCheck,
    Message,
    Recipient,
    ReplyResult,
    SendResult,
    TagResult,
    TestOutbox,
    TestOutboxItem,
    Thread,
    TrailEvent,
)

__all__ = [
    "__version__",
    "DEFAULT_BASE_URL",
    "MultimailClient",
    "webhooks",
    "identity",
    "MultimailError",
    "APIError",
    "APIConnectionError",
    "InvalidRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "Conflict",
    "IdempotencyConflict",
    "PayloadTooLarge",
    "UnprocessableEntity",
    "RateLimited",
    "ServerError",
    "InternalError",
    "ServiceUnavailable",
    "WebhookVerificationError",
    "Allowlist",
    "AllowlistEntry",
    "Oversight",
    "OversightRequest",
    "OversightRequestList",
    "OversightRequestResult",
    "Rule",
    "RuleList",
    "SendResult",
    "Message",
    "Recipient",
    "TrailEvent",
    "Approval",
    "ApprovalList",
    "EmailSummary",
    "EmailList",
    "Email",
    "Header",
    "AttachmentInfo",
    "TagResult",
    "Thread",
    "ReplyResult",
    "InboxCheck",
    "Download",
    "TestOutbox",
    "TestOutboxItem",
]
