package wire

import "time"

// WebhookVersion is the "version" field of every webhook event this server sends.
const WebhookVersion = "1"

// WebhookEvent is the JSON body POSTed to webhook endpoints (docs/api.md, Webhooks). Exactly one of
// the <event>_at fields is set: the one named after Event. Receivers must ignore fields they do
// not know; new ones may appear.
type WebhookEvent struct {
	Event     string    `json:"event"`
	MessageID string    `json:"message_id"`
	Timestamp time.Time `json:"timestamp"` // when the event happened (same instant as <event>_at)
	Version   string    `json:"version"`

	Recipient    string   `json:"recipient,omitempty"`
	MXHost       string   `json:"mx_host,omitempty"`
	SMTPCode     int      `json:"smtp_code,omitempty"`
	EnhancedCode string   `json:"enhanced_code,omitempty"`
	ErrorDetail  string   `json:"error_detail,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	Attempt      int      `json:"attempt,omitempty"`
	TLS          *bool    `json:"tls,omitempty"`       // delivery events: whether the hop used TLS
	SourceIP     string   `json:"source_ip,omitempty"` // delivery events: our source address (an [[ip_pool]]'s)
	IPPool       string   `json:"ip_pool,omitempty"`   // delivery events: the [[ip_pool]] used
	By           string   `json:"by,omitempty"`        // approval decisions: who or which rule
	Rule         string   `json:"rule,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	MailboxID    string   `json:"mailbox_id,omitempty"` // received
	EmailID      string   `json:"email_id,omitempty"`   // received
	Seq          uint64   `json:"seq,omitempty"`        // position in the message's event trail
	Test         bool     `json:"test,omitempty"`       // an event of a test key's message (never delivered)

	// received: the email in brief, so a receiver can act without a second call. From,
	// Subject and Snippet are untrusted mail content (the sender wrote them); Snippet is the
	// visible text, with hidden HTML dropped.
	From                  []string          `json:"from,omitempty"`
	To                    []string          `json:"to,omitempty"`
	Subject               string            `json:"subject,omitempty"`
	Snippet               string            `json:"snippet,omitempty"`
	ThreadID              string            `json:"thread_id,omitempty"`
	AuthenticationResults string            `json:"authentication_results,omitempty"`
	Authentication        map[string]string `json:"authentication,omitempty"` // spf, dkim, dmarc -> result

	QueuedAt          *time.Time `json:"queued_at,omitempty"`
	PendingApprovalAt *time.Time `json:"pending_approval_at,omitempty"`
	ApprovedAt        *time.Time `json:"approved_at,omitempty"`
	RejectedAt        *time.Time `json:"rejected_at,omitempty"`
	MonitoredAt       *time.Time `json:"monitored_at,omitempty"`
	DeliveredAt       *time.Time `json:"delivered_at,omitempty"`
	DeferredAt        *time.Time `json:"deferred_at,omitempty"`
	BouncedAt         *time.Time `json:"bounced_at,omitempty"`
	FailedAt          *time.Time `json:"failed_at,omitempty"`
	ExpiredAt         *time.Time `json:"expired_at,omitempty"`
	ReceivedAt        *time.Time `json:"received_at,omitempty"`
	ScheduledAt       *time.Time `json:"scheduled_at,omitempty"`
	CancelledAt       *time.Time `json:"cancelled_at,omitempty"`
	ComplainedAt      *time.Time `json:"complained_at,omitempty"`
	UnsubscribedAt    *time.Time `json:"unsubscribed_at,omitempty"`
	// SendAt is when a "scheduled" message's first attempt is due.
	SendAt *time.Time `json:"send_at,omitempty"`
}

// SetAt sets the <event>_at field named after e.Event to t (UTC, whole seconds kept as given).
// Unknown events set nothing beyond Timestamp.
func (e *WebhookEvent) SetAt(t time.Time) {
	e.Timestamp = t
	tp := &t
	switch e.Event {
	case "queued":
		e.QueuedAt = tp
	case "pending_approval":
		e.PendingApprovalAt = tp
	case "approved":
		e.ApprovedAt = tp
	case "rejected":
		e.RejectedAt = tp
	case "monitored":
		e.MonitoredAt = tp
	case "delivered":
		e.DeliveredAt = tp
	case "deferred":
		e.DeferredAt = tp
	case "bounced":
		e.BouncedAt = tp
	case "failed":
		e.FailedAt = tp
	case "expired":
		e.ExpiredAt = tp
	case "received":
		e.ReceivedAt = tp
	case "scheduled":
		e.ScheduledAt = tp
	case "cancelled":
		e.CancelledAt = tp
	case "complained":
		e.ComplainedAt = tp
	case "unsubscribed":
		e.UnsubscribedAt = tp
	}
}
