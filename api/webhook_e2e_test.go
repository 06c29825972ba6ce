package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"multimail.dev/multimail/api/webhook"
	"multimail.dev/multimail/queue"
)

// TestSendToWebhook sends through the HTTP API and receives the "queued" events at a
// webhook endpoint that fails its first deliveries: every event arrives, signed, in send order
// per message, with the message_id the API returned.
func TestSendToWebhook(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	eps := []webhook.Endpoint{{ID: "wh0", Secret: secret}}
	e := newEnv(t, envOptions{queueOpts: queue.Options{Subscribers: webhook.Subscribers(eps)}})

	var mu sync.Mutex
	calls := 0
	var events []map[string]any
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header, body, time.Minute); err != nil {
			t.Errorf("verify: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		events = append(events, ev)
	}))
	defer recv.Close()
	eps[0].URL = recv.URL
	d, err := webhook.NewDispatcher(e.q, eps, webhook.Options{Backoff: []time.Duration{10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	ids := map[string]bool{}
	for range 3 {
		ids[e.send(otpBody())] = true
	}
	waitFor(t, "3 webhook events", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) >= 3
	})
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range events {
		if ev["event"] != "queued" || !ids[ev["message_id"].(string)] || ev["queued_at"] == nil {
			t.Errorf("event %v", ev)
		}
	}
}
