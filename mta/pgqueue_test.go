package mta_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"multimail.dev/multimail/internal/pgtest"
	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/mta/mtatest"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/queue/pgqueue"
	"multimail.dev/multimail/queue/pgqueue/pgqueuetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestPgQueueNodeDies runs three Deliverers, each on its own queue/pgqueue node (own pool)
// of one database. The first node takes leases and hangs at end-of-DATA on a peer that never
// answers (the 10-minute wait); then it dies without a word (its pool is closed under it,
// so nothing it does afterwards reaches the database, and its heartbeat stops). The two
// others deliver everything to the real MX: every message exactly once there, the dead
// node's units after their leases expired.
func TestPgQueueNodeDies(t *testing.T) {
	t.Parallel()
	const n = 30
	dsn := pgtest.DSN(t)
	ctx := testCtx(t)
	good := mtatest.NewMX(t, mtatest.MXOptions{})
	hang := mtatest.NewMX(t, mtatest.MXOptions{Delay: time.Hour})
	type node struct {
		q    *pgqueuetest.Node
		stop func() error
	}
	start := func(mx *mtatest.MX) node {
		q := pgqueuetest.Open(t, dsn, pgqueue.Options{PollInterval: 50 * time.Millisecond,
			Heartbeat: 200 * time.Millisecond, Queue: queue.Options{LeaseTTL: 2 * time.Second}})
		d := mta.New(q, mta.Options{Hostname: "out.example.com",
			Transports: []mta.Transport{{Domain: "*", NextHop: mx.Addr(), TLS: mta.TLSNone}}})
		return node{q: q, stop: runDeliverer(t, d)}
	}
	victim := start(hang)
	var ids []string
	for i := range n {
		r, err := victim.q.Enqueue(ctx, message("agent@example.com", queue.LaneNormal, fmt.Sprintf("r%d@d%d.test", i, i%5)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	eventually(t, "the first node to hang holding leases", func() bool { return hang.Conns() > 0 })
	a, _ := start(good), start(good)
	killed := time.Now()
	victim.q.Kill()
	_ = victim.stop() // its Complete/Postpone fail: the pool is gone
	msgs, err := good.WaitFor(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("all %d delivered %v after the kill; %d connections hung at the dead node's peer",
		n, time.Since(killed).Round(time.Millisecond), hang.Conns())
	seen := map[string]int{}
	for _, m := range good.Messages() {
		for _, r := range m.To {
			seen[r]++
		}
	}
	for i := range n {
		if c := seen[fmt.Sprintf("r%d@d%d.test", i, i%5)]; c != 1 {
			t.Errorf("r%d delivered %d times to the MX", i, c)
		}
	}
	if len(msgs) != n {
		t.Errorf("%d messages at the MX, want %d", len(msgs), n)
	}
	eventually(t, "every message recorded delivered", func() bool {
		for _, id := range ids {
			st, err := a.q.Status(ctx, id)
			if err != nil || st.State != queue.RcptDelivered {
				return false
			}
		}
		return true
	})
}
