package webhook

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestPayload(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 4, 19, 10, 0, 4, 500, time.UTC)
	tests := []struct {
		name string
		ev   queue.Event
		want string
	}{
		{"delivered", queue.Event{Seq: 2, Type: queue.EventDelivered, MsgID: "msg_1", Time: at, Recipient: "user@example.com",
			MXHost: "mx.example.com", SMTPCode: 250, EnhancedCode: "2.0.0", Attempt: 1, Tags: []string{"auth"}},
			`{"event":"delivered","message_id":"msg_1","timestamp":"2026-04-19T10:00:04Z","version":"1","recipient":"user@example.com","mx_host":"mx.example.com","smtp_code":250,"enhanced_code":"2.0.0","tags":["auth"],"attempt":1,"tls":false,"seq":2,"delivered_at":"2026-04-19T10:00:04Z"}`},
		{"bounced", queue.Event{Seq: 3, Type: queue.EventBounced, MsgID: "msg_1", Time: at, Recipient: "x@example.com",
			SMTPCode: 550, EnhancedCode: "5.1.1", Detail: "no such user", Attempt: 1, TLS: true},
			`{"event":"bounced","message_id":"msg_1","timestamp":"2026-04-19T10:00:04Z","version":"1","recipient":"x@example.com","smtp_code":550,"enhanced_code":"5.1.1","error_detail":"no such user","attempt":1,"tls":true,"seq":3,"bounced_at":"2026-04-19T10:00:04Z"}`},
		{"received", queue.Event{Seq: 1, Type: queue.EventReceived, MsgID: "em_1", Time: at, MailboxID: "a@b.example", EmailID: "em_1"},
			`{"event":"received","message_id":"em_1","timestamp":"2026-04-19T10:00:04Z","version":"1","mailbox_id":"a@b.example","email_id":"em_1","seq":1,"received_at":"2026-04-19T10:00:04Z"}`},
		{"received with summary", queue.Event{Seq: 1, Type: queue.EventReceived, MsgID: "em_1", Time: at, MailboxID: "a@b.example", EmailID: "em_1",
			Received: &queue.ReceivedInfo{From: []string{"x@y.example"}, To: []string{"a@b.example"}, Subject: "Hi", Snippet: "Hello", ThreadID: "th_1",
				AuthResults: "mx; spf=pass", Auth: map[string]string{"spf": "pass"}}},
			`{"event":"received","message_id":"em_1","timestamp":"2026-04-19T10:00:04Z","version":"1","mailbox_id":"a@b.example","email_id":"em_1","seq":1,"from":["x@y.example"],"to":["a@b.example"],"subject":"Hi","snippet":"Hello","thread_id":"th_1","authentication_results":"mx; spf=pass","authentication":{"spf":"pass"},"received_at":"2026-04-19T10:00:04Z"}`},
		{"approved", queue.Event{Seq: 2, Type: queue.EventApproved, MsgID: "msg_2", Time: at, By: "rule:1", Rule: "tags=auth action=auto_approve"},
			`{"event":"approved","message_id":"msg_2","timestamp":"2026-04-19T10:00:04Z","version":"1","by":"rule:1","rule":"tags=auth action=auto_approve","seq":2,"approved_at":"2026-04-19T10:00:04Z"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := Body(tc.ev)
			if err != nil || string(b) != tc.want {
				t.Fatalf("got  %s (%v)\nwant %s", b, err, tc.want)
			}
			var generic map[string]any // unknown fields must not break a reader
			if err := json.Unmarshal(b, &generic); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
