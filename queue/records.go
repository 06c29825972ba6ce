package queue

// records.go holds the stored value types. Every value is one version byte (valueV1) followed
// by JSON, except the body (version byte + raw bytes), the hold index (the 16-byte message id)
// and the schedule entry (one flag byte).

import (
	"encoding/json"
	"fmt"
	"time"
)

// valueV1 is the current version byte of every stored value.
const valueV1 byte = 1

// schedule entry flags (the one-byte value of a famSched key).
const schedFlagRetry byte = 1 << 0 // the unit was deferred or returned at least once

// msgRecord is the message minus its body and recipients.
type msgRecord struct {
	ID        string    `json:"id"`
	Mailbox   string    `json:"mailbox,omitempty"`
	From      string    `json:"from"`
	Subject   string    `json:"subject,omitempty"`
	Lane      Lane      `json:"lane"`
	Tags      []string  `json:"tags,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	SendAt    time.Time `json:"send_at,omitzero"`
	QueuedAt  time.Time `json:"queued_at"`
	Size      int       `json:"size"`
	NRcpt     int       `json:"nrcpt"`
	Approval  string    `json:"approval,omitempty"`
	Source    string    `json:"source,omitempty"`
	Monitored bool      `json:"monitored,omitempty"`
	IdemKey   string    `json:"idem_key,omitempty"`
	Test      bool      `json:"test,omitempty"` // Message.Test: never leased, delivered to the sink

	RequireTLS bool `json:"require_tls,omitempty"` // REQUIRETLS (RFC 8689)
}

// start is when the message's lifetime starts: its SendAt when scheduled, else QueuedAt.
func (m *msgRecord) start() time.Time {
	if m.SendAt.After(m.QueuedAt) {
		return m.SendAt
	}
	return m.QueuedAt
}

// firstDue is when a message released at t is first due: t, or SendAt when later.
func (m *msgRecord) firstDue(t time.Time) time.Time {
	if m.SendAt.After(t) {
		return m.SendAt
	}
	return t
}

// rcptRecord is one recipient's delivery state.
type rcptRecord struct {
	Addr         string    `json:"addr"`
	Domain       string    `json:"domain"`
	Status       string    `json:"status"`
	Attempts     int       `json:"attempts,omitempty"`
	Next         time.Time `json:"next,omitzero"`
	LastCode     int       `json:"last_code,omitempty"`
	LastEnhanced string    `json:"last_enhanced,omitempty"`
	LastDetail   string    `json:"last_detail,omitempty"`
	Updated      time.Time `json:"updated"`
	// Cancel: the sender cancelled the message while this recipient was in a live attempt.
	// The attempt's outcome stands; if it leaves the recipient pending, it is cancelled
	// (Complete), and a unit returned to the schedule cancels it when next picked (Next).
	Cancel bool `json:"cancel,omitempty"`

	idx int // position in the message (from the key)
}

// pending reports whether the recipient still waits for delivery.
func (r *rcptRecord) pending() bool { return r.Status == RcptQueued || r.Status == RcptDeferred }

// final reports whether the recipient reached a terminal state.
func (r *rcptRecord) final() bool { return !r.pending() && r.Status != RcptPendingApproval }

// leaseRecord is a persisted lease.
type leaseRecord struct {
	Msg     string    `json:"msg"`
	Domain  string    `json:"domain"`
	Lane    Lane      `json:"lane"`
	Expires time.Time `json:"expires"`
	Attempt int       `json:"attempt"`
}

// domainRecord is a domain's connection-level backoff; absent = no backoff.
type domainRecord struct {
	Failures int       `json:"failures"`
	Until    time.Time `json:"until"`
}

// idemRecord is the first result for an idempotency key.
type idemRecord struct {
	Hash     string    `json:"hash"`
	Msg      string    `json:"msg"`
	Status   string    `json:"status"`
	QueuedAt time.Time `json:"queued_at"`
	Created  time.Time `json:"created"`
}

// outboxRecord is one pending webhook delivery.
type outboxRecord struct {
	Event    Event     `json:"event"`
	Attempts int       `json:"attempts,omitempty"`
	Next     time.Time `json:"next"`
	First    time.Time `json:"first"`
	LastErr  string    `json:"last_err,omitempty"`
}

// approvalRecord (the value of famApproval) is ApprovalRecord as JSON.

func encodeValue(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("queue: marshal %T: %v", v, err)) // our own plain structs: cannot fail
	}
	return append([]byte{valueV1}, b...)
}

func decodeValue(b []byte, v any) error {
	if len(b) == 0 || b[0] != valueV1 {
		return fmt.Errorf("%w: value version", ErrCorrupt)
	}
	if err := json.Unmarshal(b[1:], v); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}

func encodeBody(body []byte) []byte {
	v := make([]byte, 1+len(body))
	v[0] = valueV1
	copy(v[1:], body)
	return v
}

func timeFromNanos(ns int64) time.Time { return time.Unix(0, ns) }
