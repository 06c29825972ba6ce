package wire

import (
	"time"
)

// SendResponse is the 202 body of POST /v1/send_email.
type SendResponse struct {
	MessageID string    `json:"message_id"`
	Status    string    `json:"status"` // "queued" | "pending_approval"
	QueuedAt  time.Time `json:"queued_at"`
}

// ErrorBody is the envelope of every error response: {"error":{"code","message"}}.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error describes one failure. Field names the offending request field when there is one.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Recipient is the delivery state of one recipient of a message.
type Recipient struct {
	Address      string     `json:"address"`
	Status       string     `json:"status"`
	Attempts     int        `json:"attempts"`
	NextAttempt  *time.Time `json:"next_attempt,omitempty"`
	SMTPCode     int        `json:"smtp_code,omitempty"`
	EnhancedCode string     `json:"enhanced_code,omitempty"`
	ErrorDetail  string     `json:"error_detail,omitempty"`
	UpdatedAt    *time.Time `json:"updated_at,omitempty"`
}

// Approval is the oversight record of a message (and an entry of GET /v1/approvals).
type Approval struct {
	ApprovalID string     `json:"approval_id"`
	State      string     `json:"state"` // pending | approved | rejected
	MessageID  string     `json:"message_id,omitempty"`
	MailboxID  string     `json:"mailbox_id,omitempty"`
	Subject    string     `json:"subject,omitempty"`
	To         []string   `json:"to,omitempty"`
	Tags       []string   `json:"tags,omitempty"`
	By         string     `json:"by,omitempty"`
	Rule       string     `json:"rule,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	CreatedAt  *time.Time `json:"created_at,omitempty"`
	DecidedAt  *time.Time `json:"decided_at,omitempty"`
	Test       bool       `json:"test,omitempty"` // a test key's message: never delivered
}

// ApprovalList is the body of GET /v1/approvals.
type ApprovalList struct {
	Approvals  []Approval `json:"approvals"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// DecisionRequest is the optional body of POST /v1/approvals/{id}/approve and /reject.
type DecisionRequest struct {
	Reason string `json:"reason,omitempty"`
}

// TrailEvent is one entry of a message's ordered event trail.
type TrailEvent struct {
	Seq          uint64     `json:"seq"`
	Event        string     `json:"event"`
	Time         time.Time  `json:"time"`
	Recipient    string     `json:"recipient,omitempty"`
	MXHost       string     `json:"mx_host,omitempty"`
	SMTPCode     int        `json:"smtp_code,omitempty"`
	EnhancedCode string     `json:"enhanced_code,omitempty"`
	ErrorDetail  string     `json:"error_detail,omitempty"`
	Attempt      int        `json:"attempt,omitempty"`
	TLS          bool       `json:"tls,omitempty"`
	SourceIP     string     `json:"source_ip,omitempty"` // delivery attempts: our source address
	IPPool       string     `json:"ip_pool,omitempty"`   // delivery attempts: the [[ip_pool]] used
	Tags         []string   `json:"tags,omitempty"`
	By           string     `json:"by,omitempty"`
	Rule         string     `json:"rule,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	MailboxID    string     `json:"mailbox_id,omitempty"`
	EmailID      string     `json:"email_id,omitempty"`
	SendAt       *time.Time `json:"send_at,omitempty"` // "scheduled": when the first attempt is due
}

// Message is the body of GET /v1/messages/{message_id} (and of admin queue show).
type Message struct {
	MessageID  string       `json:"message_id"`
	MailboxID  string       `json:"mailbox_id,omitempty"`
	From       string       `json:"from,omitempty"`
	Subject    string       `json:"subject,omitempty"`
	Status     string       `json:"status"`
	Priority   string       `json:"priority"`
	Tags       []string     `json:"tags,omitempty"`
	QueuedAt   time.Time    `json:"queued_at"`
	ExpiresAt  *time.Time   `json:"expires_at,omitempty"`
	SendAt     *time.Time   `json:"send_at,omitempty"`
	Size       int          `json:"size"`
	Recipients []Recipient  `json:"recipients"`
	Approval   *Approval    `json:"approval,omitempty"`
	Events     []TrailEvent `json:"events,omitempty"`
	Test       bool         `json:"test,omitempty"` // sent with a test key: never delivered
}

// MessageList is the body of GET /v1/admin/queue.
type MessageList struct {
	Messages   []Message `json:"messages"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// EmailSummary is one entry of GET /v1/mailboxes/{mailbox_id}/emails.
type EmailSummary struct {
	EmailID    string    `json:"email_id"`
	MailboxID  string    `json:"mailbox_id"`
	Folder     string    `json:"folder"`
	From       []string  `json:"from"`
	To         []string  `json:"to"`
	Cc         []string  `json:"cc,omitempty"`
	Subject    string    `json:"subject"`
	Date       time.Time `json:"date"`
	ReceivedAt time.Time `json:"received_at"`
	Size       int64     `json:"size"`
	Unread     bool      `json:"unread"`
	Tags       []string  `json:"tags"`
	Flags      []string  `json:"flags"`
	ThreadID   string    `json:"thread_id,omitempty"`
}

// EmailList is the body of GET /v1/mailboxes/{mailbox_id}/emails: newest first.
type EmailList struct {
	Emails     []EmailSummary `json:"emails"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// Header is one header field of an email, in message order.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// AttachmentInfo describes an attachment of a stored email (metadata only).
type AttachmentInfo struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
	ContentID   string `json:"content_id,omitempty"`
	Inline      bool   `json:"inline,omitempty"`
}

// Email is the body of GET /v1/emails/{email_id}.
type Email struct {
	EmailSummary
	ReplyTo         []string `json:"reply_to,omitempty"`
	MessageIDHeader string   `json:"message_id_header,omitempty"`
	Headers         []Header `json:"headers"`
	Text            string   `json:"text"`
	HTML            string   `json:"html"`
	// Markdown renders the body for an agent: the text part, or the HTML part converted with
	// hidden content (hidden elements, zero-size text, comments, scripts) dropped.
	Markdown              string           `json:"markdown"`
	Attachments           []AttachmentInfo `json:"attachments"`
	AuthenticationResults string           `json:"authentication_results,omitempty"`
}

// TagRequest is the body of POST /v1/emails/{email_id}/tags.
type TagRequest struct {
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// TagResponse is the result of POST /v1/emails/{email_id}/tags: the new tag list.
type TagResponse struct {
	EmailID string   `json:"email_id"`
	Tags    []string `json:"tags"`
	Flags   []string `json:"flags"`
}

// Health is the body of GET /healthz.
type Health struct {
	Status string `json:"status"`
}

// Thread is the body of GET /v1/threads/{thread_id}: the thread's emails oldest first.
type Thread struct {
	ThreadID string         `json:"thread_id"`
	Emails   []EmailSummary `json:"emails"`
	// Truncated: the thread has more than the MaxThreadEmails newest emails shown.
	Truncated bool `json:"truncated,omitempty"`
}

// ReplyRequest is the body of POST /v1/emails/{email_id}/reply.
type ReplyRequest struct {
	Text           string   `json:"text,omitempty"`
	HTML           string   `json:"html,omitempty"`
	ReplyAll       bool     `json:"reply_all,omitempty"`
	Priority       string   `json:"priority,omitempty"`
	Tags           []string `json:"tags,omitempty"`
	IdempotencyKey string   `json:"idempotency_key,omitempty"`
}

// ReplyResponse is the 202 body of POST /v1/emails/{email_id}/reply.
type ReplyResponse struct {
	SendResponse
	ThreadID string   `json:"thread_id,omitempty"`
	To       []string `json:"to"`
	Cc       []string `json:"cc,omitempty"`
	Subject  string   `json:"subject"`
}

// InboxCheck is the body of GET /v1/mailboxes/{mailbox_id}/check_inbox: the emails that
// arrived after the cursor (oldest first) and the cursor to pass next time.
type InboxCheck struct {
	Emails []EmailSummary `json:"emails"`
	Cursor string         `json:"cursor"`
	// More: there are more new emails than returned; call again at once with Cursor.
	More bool `json:"more,omitempty"`
}

// MoveRequest is the body of POST /v1/emails/{email_id}/move.
type MoveRequest struct {
	Folder string `json:"folder"`
}

// MarkRequest is the body of POST /v1/emails/{email_id}/mark.
type MarkRequest struct {
	Read    *bool `json:"read,omitempty"`
	Flagged *bool `json:"flagged,omitempty"`
}

// TestOutboxItem is one message of a mailbox's test outbox: a test key's send that reached
// the test sink (GET /v1/mailboxes/{mailbox_id}/test_outbox).
type TestOutboxItem struct {
	MessageID   string    `json:"message_id"`
	To          []string  `json:"to"`
	Subject     string    `json:"subject"`
	QueuedAt    time.Time `json:"queued_at"`
	DeliveredAt time.Time `json:"delivered_at"`
	Size        int       `json:"size"`
	ExpiresAt   time.Time `json:"expires_at"` // when the test outbox drops it
}

// TestOutbox is a page of a mailbox's test outbox, newest first.
type TestOutbox struct {
	Messages   []TestOutboxItem `json:"messages"`
	NextCursor string           `json:"next_cursor,omitempty"`
}
