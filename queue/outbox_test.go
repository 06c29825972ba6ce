package queue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestOutboxOrderPerChain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Subscribers: []Subscriber{{ID: "a"}, {ID: "b", Events: []EventType{EventDelivered}}}})
	ctx := context.Background()
	select {
	case <-h.q.OutboxKick():
		t.Fatal("kick before any event")
	default:
	}
	id := h.send(LaneNormal, "x@x.example")
	select {
	case <-h.q.OutboxKick():
	default:
		t.Fatal("no kick after enqueue")
	}
	h.complete(h.next(), false, delivered("x@x.example")...)
	// chain (a, id) has queued then delivered; chain (b, id) has delivered.
	items, err := h.q.OutboxDue(ctx, 10)
	if err != nil || len(items) != 2 {
		t.Fatalf("due %+v %v", items, err)
	}
	byS := map[string]OutboxItem{}
	for _, it := range items {
		byS[it.Subscriber] = it
	}
	if byS["a"].Event.Type != EventQueued || byS["b"].Event.Type != EventDelivered || byS["a"].ID != id+".1" {
		t.Fatalf("heads %+v", byS)
	}
	if again, _ := h.q.OutboxDue(ctx, 10); len(again) != 0 {
		t.Fatalf("in-flight items handed out again: %+v", again)
	}
	if err := h.q.OutboxAck(ctx, byS["a"]); err != nil {
		t.Fatal(err)
	}
	next, _ := h.q.OutboxDue(ctx, 10)
	if len(next) != 1 || next[0].Subscriber != "a" || next[0].Event.Type != EventDelivered || next[0].Event.Seq != 2 {
		t.Fatalf("after ack %+v", next)
	}
	// Retry: the chain waits until the retry time, then the same item comes back.
	at := h.clock.Now().Add(10 * time.Second)
	if err := h.q.OutboxRetry(ctx, next[0], at, "HTTP 500"); err != nil {
		t.Fatal(err)
	}
	if due, ok := h.q.OutboxNextDue(ctx); !ok || due.After(at) {
		t.Fatalf("next due %v %v", due, ok)
	}
	h.clock.Advance(5 * time.Second)
	if items, _ := h.q.OutboxDue(ctx, 10); len(items) != 0 {
		t.Fatalf("due before retry time: %+v", items)
	}
	h.clock.Advance(5 * time.Second)
	items, _ = h.q.OutboxDue(ctx, 10)
	if len(items) != 1 || items[0].ID != next[0].ID || items[0].Attempts != 1 {
		t.Fatalf("retried item %+v", items)
	}
}

func TestOutboxDropsAfterMaxAge(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Subscribers: []Subscriber{{ID: "a"}}, OutboxMaxAge: 24 * time.Hour})
	ctx := context.Background()
	id := h.send(LaneNormal, "x@x.example")
	h.complete(h.next(), false, delivered("x@x.example")...)
	it, _ := h.q.OutboxDue(ctx, 1)
	h.clock.Advance(25 * time.Hour)
	if err := h.q.OutboxRetry(ctx, it[0], h.clock.Now(), "timeout"); err != nil {
		t.Fatal(err)
	}
	items, _ := h.q.OutboxDue(ctx, 10)
	if len(items) != 1 || items[0].Event.Seq != 2 || items[0].Event.MsgID != id {
		t.Fatalf("chain did not move on: %+v", items)
	}
	if _, err := Open(h.db, Options{OutboxMaxAge: time.Hour}); !isErr(err, ErrInvalid) {
		t.Fatalf("OutboxMaxAge < 24h accepted: %v", err)
	}
}

func TestOutboxLimitAndNoSubscribers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Subscribers: []Subscriber{{ID: "a"}}})
	for range 5 {
		h.send(LaneNormal, "x@x.example")
	}
	if items, _ := h.q.OutboxDue(context.Background(), 3); len(items) != 3 {
		t.Fatalf("limit: %d items", len(items))
	}
	h2 := newHarness(t, Options{})
	h2.send(LaneNormal, "x@x.example")
	if _, ok := h2.q.OutboxNextDue(context.Background()); ok {
		t.Fatal("outbox entries without subscribers")
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	h := newHarness(t, Options{Registerer: reg})
	h.send(LaneNormal, "a@x.example", "b@y.example")
	h.send(LaneLow, "a@x.example")
	h.complete(h.next(LaneNormal), false, deferred("a@x.example")...)
	h.clock.Advance(time.Minute)
	got := gather(t, reg)
	for name, want := range map[string]float64{
		"multimail_queue_deferred":                         1,
		`multimail_queue_depth{lane="high"}`:               0,
		`multimail_queue_depth{lane="normal"}`:             2,
		`multimail_queue_depth{lane="low"}`:                1,
		"multimail_queue_oldest_age_seconds":               60,
		`multimail_queue_enqueued_total{lane="normal"}`:    1,
		`multimail_queue_enqueued_total{lane="low"}`:       1,
		`multimail_queue_outcomes_total{event="queued"}`:   2,
		`multimail_queue_outcomes_total{event="deferred"}`: 1,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	h.restart() // Close unregisters, so the new queue can register again
}

// gather flattens a registry into "name{label=\"v\"}" -> value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, lp := range m.GetLabel() {
				name += fmt.Sprintf("{%s=%q}", lp.GetName(), lp.GetValue())
			}
			switch {
			case m.Gauge != nil:
				out[name] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[name] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}
