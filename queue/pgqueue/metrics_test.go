package pgqueue_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/queue/pgqueue"
)

// TestMetrics: the Pebble queue's metric names, the gauges read from the database (so a
// second node sees the first node's work), the counters this node's.
func TestMetrics(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a, err := pgqueue.Open(context.Background(), pool, pgqueue.Options{Registerer: regA, PollInterval: testPoll})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := pgqueue.Open(context.Background(), pool, pgqueue.Options{Queue: queue.Options{Registerer: regB}, PollInterval: testPoll})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	for _, l := range []queue.Lane{queue.LaneHigh, queue.LaneLow, queue.LaneLow} {
		if _, err := a.Enqueue(ctx, &queue.Message{To: []string{"x@d.example", "y@e.example"}, Lane: l, Body: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	gauge := func(reg *prometheus.Registry, name, lane string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				if lane == "" || len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == lane {
					if m.Gauge != nil {
						return m.GetGauge().GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
		t.Fatalf("no %s{lane=%q}", name, lane)
		return 0
	}
	for _, reg := range []*prometheus.Registry{regA, regB} {
		if h, l, n := gauge(reg, "multimail_queue_depth", "high"), gauge(reg, "multimail_queue_depth", "low"),
			gauge(reg, "multimail_queue_depth", "normal"); h != 2 || l != 4 || n != 0 {
			t.Fatalf("depth high %v low %v normal %v, want 2 4 0", h, l, n)
		}
		if d := gauge(reg, "multimail_queue_deferred", ""); d != 0 {
			t.Fatalf("deferred %v", d)
		}
		gauge(reg, "multimail_queue_oldest_age_seconds", "")
	}
	if n := gauge(regA, "multimail_queue_enqueued_total", "low"); n != 2 {
		t.Fatalf("enqueued low on A = %v, want 2", n)
	}
	if n := testutil.CollectAndCount(regB, "multimail_queue_enqueued_total"); n != 0 {
		t.Fatalf("B counted %d enqueues, want none (A's)", n)
	}
	l, err := b.Next(ctx, queue.LaneHigh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Complete(ctx, l, []queue.Result{{Recipient: l.Recipients[0], Outcome: queue.Deferred}}, false); err != nil {
		t.Fatal(err)
	}
	if d := gauge(regA, "multimail_queue_deferred", ""); d != 1 {
		t.Fatalf("deferred %v, want 1", d)
	}
	if n := gauge(regB, "multimail_queue_outcomes_total", ""); n != 1 {
		t.Fatalf("outcomes on B = %v, want 1 (deferred)", n)
	}
}
