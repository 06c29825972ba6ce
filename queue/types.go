package queue

import (
	"fmt"
	"time"
)

// Lane is a priority class. Next serves lanes in the order its caller gives, so the numeric
// values carry no priority; the zero value is LaneNormal, so a Message built without a lane
// is ordinary mail, never a high-priority send by accident.
type Lane uint8

// The three lanes. The values are stored in keys and records: never renumber them.
const (
	LaneNormal Lane = iota
	LaneHigh
	LaneLow
)

// numLanes is the number of lanes; lanes index arrays of this size.
const numLanes = 3

// ParseLane parses "high", "normal" or "low"; "" means LaneNormal.
func ParseLane(s string) (Lane, error) {
	switch s {
	case "high":
		return LaneHigh, nil
	case "", "normal":
		return LaneNormal, nil
	case "low":
		return LaneLow, nil
	}
	return LaneNormal, fmt.Errorf("queue: unknown lane %q", s)
}

// String returns "high", "normal" or "low".
func (l Lane) String() string {
	switch l {
	case LaneHigh:
		return "high"
	case LaneNormal:
		return "normal"
	case LaneLow:
		return "low"
	}
	return fmt.Sprintf("lane(%d)", uint8(l))
}

func (l Lane) valid() bool { return l < numLanes }

// Clock tells the time; tests inject a fake one. nil means the real clock.
type Clock interface{ Now() time.Time }

// Message is one outbound message handed to Enqueue.
type Message struct {
	ID        string    // set by Enqueue when empty: "msg_" + 26 chars Crockford base32 ULID
	Mailbox   string    // the sending mailbox address ("" for DSNs we generate)
	From      string    // envelope sender ("" = null sender <>)
	To        []string  // envelope recipients, deduplicated by Enqueue (case-insensitive domain)
	Subject   string    // for listings only
	Lane      Lane      // priority lane
	Tags      []string  // user tags, carried into events
	Body      []byte    // the full RFC 5322 message, already signed; stored once
	ExpiresAt time.Time // zero = none; past it undelivered recipients become "expired"
	// SendAt (zero = now) holds a released message in the schedule until then: its
	// recipients' first attempt is due at SendAt and a "scheduled" event records it.
	// MaxLifetime counts from SendAt. A held message released later waits for it too.
	SendAt time.Time
	// Approval is nil for no oversight record. State Pending: held until Approve/Reject.
	// Approved (auto rule): record kept, sent at once. Rejected: record kept, never sent.
	Approval       *Approval
	IdempotencyKey string // optional, scoped per Mailbox; kept 24h
	RequestHash    string // hash of the request body for idempotency comparison
	Source         string // "smtp" | "api" | "dsn" | "mcp" ...
	Actor          string // who sent, for the audit journal ("api:<key id>", "smtp:<mailbox>"); "" = Source
	Monitored      bool   // oversight "monitored": an event "monitored" is recorded
	// Test: sent with a test key. The message goes through everything (approval, schedule,
	// events, webhooks) but is never leased to a deliverer: when due, its recipients are
	// delivered to the test sink ("delivered" with Test set, MXHost TestSink) by the queue
	// itself, so no code path can hand it to an MX or a local mailbox.
	Test bool
	// RequireTLS: the sender asked for REQUIRETLS (RFC 8689); delivery relays only over
	// validated TLS to a host that offers REQUIRETLS, else bounces 5.7.30.
	RequireTLS bool
}

// TestSink is the MXHost of a test message's "delivered" events.
const TestSink = "test-sink.invalid"

// ApprovalState is the state of an approval: pending, approved or rejected.
type ApprovalState string

// Approval states.
const (
	ApprovalPending  ApprovalState = "pending"
	ApprovalApproved ApprovalState = "approved"
	ApprovalRejected ApprovalState = "rejected"
	// ApprovalCancelled: the sender cancelled the held message (Cancel); closed, not decided.
	ApprovalCancelled ApprovalState = "cancelled"
)

// Approval is the oversight record of a message.
type Approval struct {
	ID        string // "apr_" + ULID, set by Enqueue when empty
	State     ApprovalState
	By        string // "rule:<n>", "api:<key id>", "cli", ...
	Rule      string // rule description when decided by a rule
	Reason    string
	DecidedAt time.Time
}

// ApprovalRecord is an approval with the message facts a reviewer needs.
type ApprovalRecord struct {
	Approval
	MsgID     string
	Mailbox   string
	Subject   string
	To        []string
	Tags      []string
	CreatedAt time.Time
	Test      bool // a test key's message (Message.Test)
}

// Receipt is the result of Enqueue.
type Receipt struct {
	ID        string
	Status    string // "queued" | "pending_approval" | "rejected"
	QueuedAt  time.Time
	Duplicate bool // idempotency hit: the first result, nothing new written
}

// Receipt statuses.
const (
	StatusQueued          = "queued"
	StatusPendingApproval = "pending_approval"
	StatusRejected        = "rejected"
)

// Lease is one delivery attempt: one message to all its due recipients of one domain.
type Lease struct {
	ID         string
	MsgID      string
	Domain     string // lower-case recipient domain
	Mailbox    string // the sending mailbox ("" for DSNs): chooses the IP pool (package mta)
	Lane       Lane
	From       string
	Recipients []string
	Attempt    int // 1 for the first attempt
	Tags       []string
	Expires    time.Time
	RequireTLS bool // Message.RequireTLS
}

// Outcome is the result of one delivery attempt for one recipient.
type Outcome uint8

// Outcomes of a delivery attempt.
const (
	Delivered Outcome = iota + 1
	Deferred
	Bounced
)

// Result is what the MTA reports for one recipient of a lease.
type Result struct {
	Recipient    string
	Outcome      Outcome
	SMTPCode     int
	EnhancedCode string // "5.1.1"
	Detail       string // the remote reply text or our error, one line
	MXHost       string
	TLS          bool
	SourceIP     string // the local address the connection came from ("" when not chosen)
	IPPool       string // the [[ip_pool]] that chose it ("" for the default)
}

// Final is a recipient that reached a final failure state (bounced, failed or expired);
// the caller may send a DSN for it.
type Final struct {
	Recipient    string
	Event        EventType
	Detail       string
	SMTPCode     int
	EnhancedCode string
	MXHost       string
}

// EventType names an event in a message's journal.
type EventType string

// Event types.
const (
	EventQueued          EventType = "queued"
	EventPendingApproval EventType = "pending_approval"
	EventApproved        EventType = "approved"
	EventRejected        EventType = "rejected"
	EventMonitored       EventType = "monitored"
	EventDelivered       EventType = "delivered"
	EventDeferred        EventType = "deferred"
	EventBounced         EventType = "bounced"
	EventFailed          EventType = "failed"
	EventExpired         EventType = "expired"
	EventReceived        EventType = "received"
	EventScheduled       EventType = "scheduled" // released, first attempt held until SendAt
	EventCancelled       EventType = "cancelled" // the sender cancelled the recipient (Cancel)
	// After delivery: the recipient's report or click, which also suppresses the address.
	EventComplained   EventType = "complained"   // an ARF abuse/fraud report about the message
	EventUnsubscribed EventType = "unsubscribed" // a List-Unsubscribe one-click POST for the message
)

// Event is one entry of a message's append-only journal.
type Event struct {
	Seq          uint64 // per message, from 1, ordered
	Type         EventType
	MsgID        string
	Time         time.Time
	Recipient    string    `json:",omitempty"`
	MXHost       string    `json:",omitempty"`
	SMTPCode     int       `json:",omitempty"`
	EnhancedCode string    `json:",omitempty"`
	Detail       string    `json:",omitempty"`
	Attempt      int       `json:",omitempty"`
	TLS          bool      `json:",omitempty"`
	SourceIP     string    `json:",omitempty"` // delivery attempts: our source address
	IPPool       string    `json:",omitempty"` // delivery attempts: the [[ip_pool]] used
	Tags         []string  `json:",omitempty"`
	By           string    `json:",omitempty"`
	Rule         string    `json:",omitempty"`
	Reason       string    `json:",omitempty"`
	MailboxID    string    `json:",omitempty"` // for "received"
	EmailID      string    `json:",omitempty"` // for "received"
	SendAt       time.Time `json:",omitzero"`  // for "scheduled"
	Test         bool      `json:",omitempty"` // an event of a test message (Message.Test)
	// Received is what a "received" event tells about the email, so a webhook receiver can act
	// without a second call (untrusted mail content: From, Subject and Snippet are the sender's).
	Received *ReceivedInfo `json:",omitempty"`
}

// ReceivedInfo summarises an inbound email for its "received" event.
type ReceivedInfo struct {
	From, To    []string
	Subject     string
	Snippet     string
	ThreadID    string
	AuthResults string            // our Authentication-Results value
	Auth        map[string]string // "spf", "dkim", "dmarc" -> result ("pass", "fail", "none", …)
}

// Recipient statuses reported by Status.
const (
	RcptQueued          = "queued"
	RcptPendingApproval = "pending_approval"
	RcptDeferred        = "deferred"
	RcptDelivered       = "delivered"
	RcptBounced         = "bounced"
	RcptFailed          = "failed"
	RcptExpired         = "expired"
	RcptRejected        = "rejected"
	RcptCancelled       = "cancelled"
)

// RecipientStatus is the state of one recipient of a message.
type RecipientStatus struct {
	Address      string
	Status       string // queued|pending_approval|deferred|delivered|bounced|failed|expired|rejected
	Attempts     int
	NextAttempt  time.Time
	LastCode     int
	LastEnhanced string
	LastDetail   string
	UpdatedAt    time.Time
}

// Status is a message with its recipients' states and (from Status) its events.
type Status struct {
	ID      string
	Mailbox string
	From    string
	Subject string
	// State is pending_approval, deferred or queued while any recipient waits; otherwise the
	// recipients' common final status, or "completed" when they differ.
	State      string
	Lane       Lane
	Tags       []string
	QueuedAt   time.Time
	ExpiresAt  time.Time
	SendAt     time.Time
	Size       int
	Recipients []RecipientStatus
	Approval   *Approval
	Events     []Event
	Test       bool // a test key's message (Message.Test): never delivered
}

// ListFilter selects messages for List. Zero values match everything.
type ListFilter struct {
	Mailbox string // only this sending mailbox
	State   string // only messages in this State (see Status.State)
	After   string // page: only IDs greater than this
	Limit   int    // at most this many (0 = 1000)
}

// Subscriber is a webhook endpoint, identified by a stable ID.
type Subscriber struct {
	ID     string      // e.g. "wh0" or a hash of the URL
	Events []EventType // nil/empty = all events
}

// OutboxItem is one pending webhook delivery of one event to one subscriber.
type OutboxItem struct {
	ID          string // stable webhook-id
	Subscriber  string
	Event       Event
	Attempts    int
	NextAttempt time.Time
	FirstTry    time.Time
}
