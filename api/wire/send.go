package wire

import (
	"bytes"
	"encoding/json"
	"time"
)

// SendRequest is the body of POST /v1/send_email and one item of POST /v1/send_batch: the one
// definition of a send that the server (package submission decodes into it strictly), the CLI
// (multimail send) and the MCP tools share.
type SendRequest struct {
	MailboxID string     `json:"mailbox_id"`
	To        StringList `json:"to"`
	Cc        StringList `json:"cc,omitempty"`
	// Bcc recipients get the message; they never appear in its header.
	Bcc     StringList `json:"bcc,omitempty"`
	ReplyTo string     `json:"reply_to,omitempty"`
	// FromName is the display name of From: (the address is always the mailbox's).
	FromName string `json:"from_name,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Text     string `json:"text,omitempty"`
	HTML     string `json:"html,omitempty"`
	// Markdown is a body the server renders to HTML (raw HTML in it is dropped, unsafe link
	// schemes removed); the Markdown itself is the text part. It excludes text and html.
	Markdown    string            `json:"markdown,omitempty"`
	Priority    string            `json:"priority,omitempty"` // high | normal | low; "" = normal
	Tags        []string          `json:"tags,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	Attachments []Attachment      `json:"attachments,omitempty"`
	ExpiresAt   time.Time         `json:"expires_at,omitzero"`
	// SendAt holds the message in the queue until then (at most 30 days ahead; a time
	// already past sends at once).
	SendAt time.Time `json:"send_at,omitzero"`
	// IgnoreSuppression sends to suppressed addresses too; it needs the admin scope on top of
	// send (the CLI's owner principal: no key is created with both).
	IgnoreSuppression bool   `json:"ignore_suppression,omitempty"`
	IdempotencyKey    string `json:"idempotency_key,omitempty"`
	// Unsubscribe adds List-Unsubscribe (an HTTPS one-click URL served by the node, RFC 2369)
	// and List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058), both DKIM-signed; a
	// POST to the URL puts the recipient on the sending domain's suppression list (reason
	// unsubscribe). For bulk mail: exactly one recipient, never with priority "high".
	Unsubscribe bool `json:"unsubscribe,omitempty"`
}

// CancelResponse is the 200 body of POST /v1/messages/{message_id}/cancel.
type CancelResponse struct {
	MessageID string `json:"message_id"`
	// Status is the message's status after the cancel (see Message.Status).
	Status string `json:"status"`
	// Cancelled are the recipients cancelled now.
	Cancelled []string `json:"cancelled"`
	// InFlight are recipients in a delivery attempt running now: its outcome stands, and
	// whatever it leaves pending is cancelled then.
	InFlight []string `json:"in_flight"`
}

// MaxBatch is the most messages one POST /v1/send_batch may carry.
const MaxBatch = 500

// BatchRequest is the body of POST /v1/send_batch: up to MaxBatch sends, each accepted or
// refused on its own (each idempotent on its own idempotency_key).
type BatchRequest struct {
	Messages []SendRequest `json:"messages"`
}

// BatchResponse is the 200 body of POST /v1/send_batch: one result per message, in order.
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// BatchResult is the outcome of one message of a batch: what POST /v1/send_email would have
// answered for it, its HTTP status in http_status (202 with the SendResponse fields, or an
// error status with the error object).
type BatchResult struct {
	Index      int        `json:"index"`
	HTTPStatus int        `json:"http_status"`
	MessageID  string     `json:"message_id,omitempty"`
	Status     string     `json:"status,omitempty"` // queued | pending_approval | rejected
	QueuedAt   *time.Time `json:"queued_at,omitempty"`
	// IdempotentReplayed: the item's idempotency_key was seen with the same body; this is the
	// first result.
	IdempotentReplayed bool   `json:"idempotent_replayed,omitempty"`
	Error              *Error `json:"error,omitempty"`
}

// Suppression is one address on a sending domain's suppression list: a send from that domain
// to it is refused with 422 suppressed.
type Suppression struct {
	Domain    string     `json:"domain"`
	Address   string     `json:"address"`
	Reason    string     `json:"reason"` // hard_bounce | complaint | unsubscribe | manual
	Detail    string     `json:"detail,omitempty"`
	MessageID string     `json:"message_id,omitempty"` // the message that caused it
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// SuppressionList is the body of GET /v1/suppressions.
type SuppressionList struct {
	Suppressions []Suppression `json:"suppressions"`
	NextCursor   string        `json:"next_cursor,omitempty"`
}

// SuppressionRequest is the body of POST /v1/suppressions (reason is always "manual").
type SuppressionRequest struct {
	Domain    string     `json:"domain"`
	Address   string     `json:"address"`
	Detail    string     `json:"detail,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Attachment is one attached file; Content is the file's bytes, base64 (standard encoding) in
// JSON.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type,omitempty"` // default application/octet-stream
	Content     []byte `json:"content"`
}

// StringList is a JSON value that may be a single string or a list of strings ("to" accepts
// both, as in the seed examples). It always encodes as a list.
type StringList []string

// UnmarshalJSON accepts "a", ["a","b"] or null.
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*l = nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err // an *json.UnmarshalTypeError: the decoder names the field
	}
	*l = list
	return nil
}
