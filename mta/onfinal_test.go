package mta_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/mta/mtatest"
	"multimail.dev/multimail/queue"
)

// stepClock is a queue.Clock that moves only when told.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestDelivererDSNForQueueFinals: recipients the queue finalises inside Next (past
// MaxLifetime after downtime, past ExpiresAt) reach the Deliverer through the OnFinal hook
// that New registers: failed gets a DSN with the original header, expired gets none.
func TestDelivererDSNForQueueFinals(t *testing.T) {
	t.Parallel()
	clock := &stepClock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	q := openQueue(t, queue.Options{MaxLifetime: time.Hour, Clock: clock})
	mx := mtatest.NewMX(t, mtatest.MXOptions{})
	sink := &dsnSink{}
	d := mta.New(q, mta.Options{Hostname: "out.example.com", DSN: sink.send, Clock: clock,
		Transports: []mta.Transport{{Domain: "*", NextHop: mx.Addr(), TLS: mta.TLSNone}}})
	ctx := testCtx(t)
	expiring := message("agent@example.com", queue.LaneNormal, "ok-2@dest.test")
	expiring.ExpiresAt = clock.Now().Add(time.Minute)
	msgs := []*queue.Message{message("agent@example.com", queue.LaneNormal, "ok-1@dest.test"), expiring}
	var ids []string
	for _, m := range msgs {
		rc, err := q.Enqueue(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rc.ID)
	}
	clock.advance(2 * time.Hour) // the node was down
	runDeliverer(t, d)
	eventually(t, "failed and expired", func() bool {
		return statusOf(t, q, ids[0])["ok-1@dest.test"] == "failed" &&
			statusOf(t, q, ids[1])["ok-2@dest.test"] == "expired"
	})
	eventually(t, "the DSN", func() bool { return len(sink.all()) >= 1 })
	dsns := sink.all()
	if len(dsns) != 1 || dsns[0].To[0] != "agent@example.com" || dsns[0].From != "" {
		t.Fatalf("DSNs %+v, want exactly one, to agent@example.com", dsns)
	}
	body := string(dsns[0].Body)
	for _, s := range []string{"Final-Recipient: rfc822; ok-1@dest.test", "Action: failed",
		"Status: 4.4.7", "Original-Envelope-Id: " + ids[0], "Subject: hello", "<m1@example.com>"} {
		if !strings.Contains(body, s) {
			t.Errorf("DSN lacks %q:\n%s", s, body)
		}
	}
	if strings.Contains(body, "ok-2@dest.test") {
		t.Errorf("DSN reports the expired recipient:\n%s", body)
	}
	for _, id := range ids {
		eventually(t, "the body of "+id+" deleted", func() bool {
			_, err := q.Body(ctx, id)
			return err != nil
		})
	}
	if n := len(mx.Messages()); n != 0 {
		t.Errorf("MX got %d messages, want none", n)
	}
}
