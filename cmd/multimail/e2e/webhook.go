package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"multimail.dev/multimail/model"
)

// WebhookOptions configure the receiver.
type WebhookOptions struct {
	// FailFirst answers 503 to the first FailFirst deliveries (to exercise retries).
	FailFirst int
}

// Hook is one verified webhook delivery.
type Hook struct {
	ID        string         // webhook-id header
	Timestamp time.Time      // webhook-timestamp header
	Event     map[string]any // the decoded JSON body
	Body      []byte
	Attempt   int // how many times this id has arrived so far (1 for the first)
}

// Type is the event name.
func (h Hook) Type() string { s, _ := h.Event["event"].(string); return s }

// MessageID is the event's message_id.
func (h Hook) MessageID() string { s, _ := h.Event["message_id"].(string); return s }

// WebhookReceiver is an HTTP endpoint on loopback that verifies Standard Webhooks signatures
// with its own code (not multimail's) and records what passed. A delivery with a bad
// signature is answered 401 and recorded in Rejected.
type WebhookReceiver struct {
	t      testing.TB
	srv    *http.Server
	ln     net.Listener
	secret []byte
	opts   WebhookOptions

	mu       sync.Mutex
	hooks    []Hook // accepted (2xx) deliveries, in arrival order
	seen     map[string]int
	failed   int
	Rejected []string // why signatures failed
	changed  chan struct{}
}

// NewWebhookReceiver starts a receiver for WebhookToken; it stops with the test.
func NewWebhookReceiver(t testing.TB, opts WebhookOptions) *WebhookReceiver {
	t.Helper()
	raw, _ := strings.CutPrefix(WebhookToken, "whsec_")
	secret, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &WebhookReceiver{t: t, ln: ln, secret: secret, opts: opts, seen: map[string]int{},
		changed: make(chan struct{})}
	w.srv = &http.Server{Handler: w, ReadHeaderTimeout: 5 * time.Second}
	go w.srv.Serve(ln)
	t.Cleanup(func() { w.srv.Close() })
	return w
}

// URL is where multimail should post.
func (w *WebhookReceiver) URL() string { return "http://" + w.ln.Addr().String() + "/hooks" }

func (w *WebhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(rw, "read", 400)
		return
	}
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	if err := w.verify(id, ts, r.Header.Get("webhook-signature"), body); err != nil {
		w.mu.Lock()
		w.Rejected = append(w.Rejected, err.Error())
		w.mu.Unlock()
		http.Error(rw, err.Error(), 401)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen[id]++
	if w.failed < w.opts.FailFirst {
		w.failed++
		http.Error(rw, "try again", 503)
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		w.Rejected = append(w.Rejected, "bad JSON: "+err.Error())
		http.Error(rw, "bad json", 400)
		return
	}
	sec, _ := strconv.ParseInt(ts, 10, 64)
	w.hooks = append(w.hooks, Hook{ID: id, Timestamp: time.Unix(sec, 0), Event: ev, Body: body, Attempt: w.seen[id]})
	close(w.changed)
	w.changed = make(chan struct{})
	rw.WriteHeader(204)
}

// verify checks a Standard Webhooks signature: v1,base64(HMAC-SHA256(secret, id.ts.body)),
// any of several space-separated signatures, and a timestamp within five minutes.
func (w *WebhookReceiver) verify(id, ts, sigs string, body []byte) error {
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("missing webhook headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp %q", ts)
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("stale timestamp %q", ts)
	}
	mac := hmac.New(sha256.New, w.secret)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if ok && v == "v1" && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no valid signature in %q", sigs)
}

// Hooks returns the accepted deliveries so far.
func (w *WebhookReceiver) Hooks() []Hook {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Hook(nil), w.hooks...)
}

// WaitFor waits until an accepted delivery satisfies match, or ctx ends.
func (w *WebhookReceiver) WaitFor(ctx context.Context, match func(Hook) bool) (Hook, error) {
	for {
		w.mu.Lock()
		for _, h := range w.hooks {
			if match(h) {
				w.mu.Unlock()
				return h, nil
			}
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Hook{}, fmt.Errorf("webhook not received: %w (got %d hooks)", ctx.Err(), len(w.Hooks()))
		}
	}
}

// WaitEvent waits for the event of the given type about msgID.
func (w *WebhookReceiver) WaitEvent(ctx context.Context, msgID, event string) (Hook, error) {
	return w.WaitFor(ctx, func(h Hook) bool { return h.MessageID() == msgID && h.Type() == event })
}

// CheckTrails replays every message's webhook trail (each webhook-id once, in arrival order,
// which is journal order per message) through the oversight model's transition rules
// (model.CheckTrail) and fails the test on a step the model forbids. Start runs it when the
// test ends, so every end-to-end test holds the code to the model.
func (w *WebhookReceiver) CheckTrails(t testing.TB) {
	t.Helper()
	trails := map[string][]model.Step{}
	var order []string
	seen := map[string]bool{}
	for _, h := range w.Hooks() {
		// received and the trust ladder's oversight_* events are not a sent message's trail.
		if seen[h.ID] || h.Type() == "received" || strings.HasPrefix(h.Type(), "oversight_") || h.MessageID() == "" {
			continue
		}
		seen[h.ID] = true
		id := h.MessageID()
		if _, ok := trails[id]; !ok {
			order = append(order, id)
		}
		rcpt, _ := h.Event["recipient"].(string)
		trails[id] = append(trails[id], model.Step{Event: h.Type(), Recipient: rcpt})
	}
	for _, id := range order {
		if err := model.CheckTrail(trails[id]); err != nil {
			t.Errorf("message %s: the trail %v breaks the oversight model: %v", id, trails[id], err)
		}
	}
}
