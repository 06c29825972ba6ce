package mta_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/mta/mtatest"
	"multimail.dev/multimail/queue"
)

// TestPacingThrottlingMX: an MX that answers 421 4.7.28 past a rate slows the sender down
// (the destination is paused, leases are handed back without an attempt) and every message
// is still delivered. Counts only: no wall-clock assertion.
func TestPacingThrottlingMX(t *testing.T) {
	t.Parallel()
	q := openQueue(t, queue.Options{BackoffInitial: 100 * time.Millisecond, BackoffMax: 300 * time.Millisecond})
	mx := mtatest.NewMX(t, mtatest.MXOptions{Throttle: &mtatest.Throttle{Max: 5, Per: 200 * time.Millisecond}})
	reg := prometheus.NewRegistry()
	d := mta.New(q, mta.Options{Hostname: "out.example.com", Registerer: reg,
		Transports: []mta.Transport{{Domain: "*", NextHop: mx.Addr()}},
		Pacing: mta.Pacing{PerMinute: 1800, Burst: 8, MaxWait: 50 * time.Millisecond,
			ThrottleBackoff: 100 * time.Millisecond, MaxThrottleBackoff: 400 * time.Millisecond}})
	runDeliverer(t, d)
	ctx := testCtx(t)
	const n = 40
	for i := range n {
		lane := queue.LaneLow
		if i%8 == 0 {
			lane = queue.LaneHigh
		}
		if _, err := q.Enqueue(ctx, message("news@example.com", lane, fmt.Sprintf("r%d@dest%d.test", i, i%4))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mx.WaitFor(ctx, n); err != nil {
		t.Fatalf("%v: %d of %d delivered", err, mx.Count(), n)
	}
	throttles := mx.Throttled()
	if throttles == 0 {
		t.Fatal("the MX never throttled: the test proves nothing")
	}
	seen := testutil.ToFloat64(metric(t, reg, "multimail_mta_throttled_total"))
	postponed := testutil.ToFloat64(metric(t, reg, "multimail_mta_paced_postponed_total"))
	if seen == 0 || postponed == 0 {
		t.Errorf("throttling replies seen %v, leases postponed %v: the sender did not slow down", seen, postponed)
	}
	t.Logf("%d messages, %d throttling replies, %v seen by the pacer, %v leases postponed", n, throttles, seen, postponed)
}

// metric finds a registered collector's value by name.
func metric(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			v := mf.GetMetric()[0].GetCounter().GetValue()
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "copy"})
			c.Add(v)
			return c
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}
