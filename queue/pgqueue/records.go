package pgqueue

import (
	"encoding/json"
	"time"

	"multimail.dev/multimail/queue"
)

// msgData is mq_message.data (JSON).
type msgData struct {
	From       string     `json:"from"`
	Subject    string     `json:"subject,omitempty"`
	Lane       queue.Lane `json:"lane"`
	Tags       []string   `json:"tags,omitempty"`
	ExpiresAt  time.Time  `json:"expires_at,omitzero"`
	SendAt     time.Time  `json:"send_at,omitzero"`
	Size       int        `json:"size"`
	Source     string     `json:"source,omitempty"`
	Monitored  bool       `json:"monitored,omitempty"`
	RequireTLS bool       `json:"require_tls,omitempty"`
	Test       bool       `json:"test,omitempty"` // Message.Test: delivered to the test sink, never leased (testout.go)
	// Cancel: Cancel found recipients in a live lease; every recipient still pending when
	// that attempt completes (or when the unit is next picked) is cancelled (admin.go).
	Cancel bool `json:"cancel,omitempty"`
}

// start is when the message's lifetime starts: its SendAt when later than queuedAt.
func (m *msgData) start(queuedAt time.Time) time.Time {
	if m.SendAt.After(queuedAt) {
		return m.SendAt
	}
	return queuedAt
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own plain structs: cannot fail
	}
	return b
}

// pending reports whether a recipient status still waits for delivery.
func pending(status string) bool { return status == queue.RcptQueued || status == queue.RcptDeferred }
