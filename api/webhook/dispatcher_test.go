package webhook

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/queue"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is a webhook endpoint that fails the first `fail` requests (or hangs on them
// when hang is set) and records every request.
type receiver struct {
	t    testing.TB
	fail int
	hang bool

	mu       sync.Mutex
	calls    int
	attempts map[string][]string // webhook-id -> bodies received
	accepted []delivery          // 2xx answers, in order
}

type delivery struct{ id, body string }

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := Verify(testSecret, r.Header, body, time.Minute); err != nil {
		rc.t.Errorf("bad signature: %v", err)
	}
	id := r.Header.Get(HeaderID)
	rc.mu.Lock()
	rc.calls++
	n := rc.calls
	rc.attempts[id] = append(rc.attempts[id], string(body))
	rc.mu.Unlock()
	if n <= rc.fail {
		if rc.hang {
			<-r.Context().Done()
			return
		}
		http.Error(w, "not yet", http.StatusServiceUnavailable)
		return
	}
	rc.mu.Lock()
	rc.accepted = append(rc.accepted, delivery{id, string(body)})
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) snapshot() ([]delivery, map[string][]string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	att := map[string][]string{}
	for k, v := range rc.attempts {
		att[k] = append([]string(nil), v...)
	}
	return append([]delivery(nil), rc.accepted...), att
}

// openQueue opens a queue on Pebble in a temp dir with one subscriber "wh0".
func openQueue(tb testing.TB) *queue.Queue {
	tb.Helper()
	db, err := pebble.Open(tb.TempDir(), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		tb.Fatal(err)
	}
	q, err := queue.Open(db, queue.Options{Subscribers: Subscribers([]Endpoint{{ID: "wh0"}})})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = q.Close()
		_ = db.Close()
	})
	return q
}

// produce enqueues n messages to two recipients each and delivers them, so each message has
// the events queued, delivered, delivered.
func produce(tb testing.TB, q *queue.Queue, n int) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ids []string
	for i := range n {
		rc, err := q.Enqueue(ctx, &queue.Message{Mailbox: "a@example.com", From: "a@example.com",
			To:   []string{fmt.Sprintf("u%d@one.example", i), fmt.Sprintf("u%d@two.example", i)},
			Body: []byte("Subject: x\r\n\r\nhi\r\n"), Tags: []string{"auth"}})
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, rc.ID)
	}
	for range 2 * n {
		l, err := q.Next(ctx, queue.LaneHigh, queue.LaneNormal, queue.LaneLow)
		if err != nil {
			tb.Fatal(err)
		}
		var res []queue.Result
		for _, r := range l.Recipients {
			res = append(res, queue.Result{Recipient: r, Outcome: queue.Delivered, SMTPCode: 250, MXHost: "mx." + l.Domain})
		}
		if _, err := q.Complete(ctx, l, res, false); err != nil {
			tb.Fatal(err)
		}
	}
	return ids
}

func runDispatcher(tb testing.TB, q *queue.Queue, url string, opts Options) *prometheus.Registry {
	tb.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	d, err := NewDispatcher(q, []Endpoint{{ID: "wh0", URL: url, Secret: testSecret}}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	return reg
}

func TestDispatcherRetriesInOrderWithStableIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rc   *receiver
		opts Options
	}{
		{"failing endpoint", &receiver{fail: 5}, Options{Backoff: []time.Duration{20 * time.Millisecond}}},
		{"hanging endpoint", &receiver{fail: 2, hang: true}, Options{Backoff: []time.Duration{20 * time.Millisecond}, Timeout: 100 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.rc.t, tc.rc.attempts = t, map[string][]string{}
			srv := httptest.NewServer(tc.rc)
			defer srv.Close()
			q := openQueue(t)
			ids := produce(t, q, 4)
			reg := runDispatcher(t, q, srv.URL, tc.opts)
			var got []delivery
			var attempts map[string][]string
			waitFor(t, "12 events acknowledged", func() bool {
				got, attempts = tc.rc.snapshot()
				return len(unique(got)) >= 12
			})
			if len(got) != 12 {
				t.Errorf("%d acknowledged deliveries for 12 events (duplicates)", len(got))
			}
			checkOrder(t, ids, got)
			for id, bodies := range attempts {
				for _, b := range bodies[1:] {
					if b != bodies[0] {
						t.Errorf("webhook %s retried with another body:\n%s\n%s", id, bodies[0], b)
					}
				}
			}
			if n := counter(reg, "multimail_webhook_failures_total"); n < float64(tc.rc.fail) {
				t.Errorf("failures metric %v, want >= %d", n, tc.rc.fail)
			}
		})
	}
}

// counter sums the samples of a counter family in reg.
func counter(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.Metric {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func unique(ds []delivery) map[string]bool {
	u := map[string]bool{}
	for _, d := range ds {
		u[d.id] = true
	}
	return u
}

// checkOrder checks every message's events arrived once each (by webhook-id) and in order:
// queued, then its two delivered events.
func checkOrder(t *testing.T, ids []string, got []delivery) {
	t.Helper()
	seen := map[string]bool{}
	perMsg := map[string][]string{}
	for _, d := range got {
		if seen[d.id] {
			continue // at-least-once: a duplicate after a lost ack is allowed
		}
		seen[d.id] = true
		var ev struct {
			Event     string `json:"event"`
			MessageID string `json:"message_id"`
			Seq       int    `json:"seq"`
		}
		if err := jsonUnmarshal(d.body, &ev); err != nil {
			t.Fatal(err)
		}
		perMsg[ev.MessageID] = append(perMsg[ev.MessageID], fmt.Sprint(ev.Seq, ev.Event))
	}
	for _, id := range ids {
		want := []string{"1queued", "2delivered", "3delivered"}
		if fmt.Sprint(perMsg[id]) != fmt.Sprint(want) {
			t.Errorf("message %s events %v, want %v", id, perMsg[id], want)
		}
	}
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	waitForWithin(tb, what, 30*time.Second, cond)
}

func waitForWithin(tb testing.TB, what string, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	d := &Dispatcher{opts: withDefaults(Options{})}
	if first := d.backoff(1); first <= 0 || first > 10*time.Second {
		t.Errorf("first retry after %s, want within 10s", first)
	}
	var total time.Duration
	for i := 1; total < 24*time.Hour; i++ {
		if i > 100 {
			t.Fatalf("retries stop before 24h (at %s)", total)
		}
		total += d.backoff(i)
	}
	if last := d.backoff(1000); last > 4*time.Hour {
		t.Errorf("retries %s apart at the end", last)
	}
}

// quietLogger silences Pebble.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// TestDispatcherMoreChainsThanSlots: with more due messages than attempts in flight, every
// event still arrives promptly (OutboxDue leases what it returns; fetching more than the
// dispatcher can start would strand those chains until the lease expires).
func TestDispatcherMoreChainsThanSlots(t *testing.T) {
	t.Parallel()
	rc := &receiver{t: t, attempts: map[string][]string{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	q := openQueue(t)
	ids := produce(t, q, 30)
	runDispatcher(t, q, srv.URL, Options{Concurrency: 2, BatchSize: 64})
	var got []delivery
	waitFor(t, "90 events", func() bool {
		got, _ = rc.snapshot()
		return len(unique(got)) >= 90
	})
	checkOrder(t, ids, got)
}

// TestDispatcherEveryEndpointGetsEveryEvent: two endpoints share webhook-ids (an event's id
// is the same for everyone), yet each must receive its own copy of every event.
func TestDispatcherEveryEndpointGetsEveryEvent(t *testing.T) {
	t.Parallel()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	eps := []Endpoint{{ID: "wh0", Secret: testSecret}, {ID: "wh1", Secret: testSecret}}
	q, err := queue.Open(db, queue.Options{Subscribers: Subscribers(eps)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close(); _ = db.Close() })
	var rcs []*receiver
	for i := range eps {
		rc := &receiver{t: t, attempts: map[string][]string{}}
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		eps[i].URL = srv.URL
		rcs = append(rcs, rc)
	}
	d, err := NewDispatcher(q, eps, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	ids := produce(t, q, 5)
	for i, rc := range rcs {
		waitFor(t, fmt.Sprintf("endpoint %d gets 15 events", i), func() bool {
			got, _ := rc.snapshot()
			return len(unique(got)) == 15
		})
		got, _ := rc.snapshot()
		checkOrder(t, ids, got)
	}
}
