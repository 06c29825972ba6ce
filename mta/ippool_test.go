package mta_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/mta/mtatest"
	"multimail.dev/multimail/queue"
)

// TestIPPoolsBindAndGreet sends from two mailboxes configured to two pools: the MX sees each
// pool's source address and HELO name, the delivered events say which address was used, and
// no session carries the other pool's mail.
func TestIPPoolsBindAndGreet(t *testing.T) {
	t.Parallel()
	q := openQueue(t, queue.Options{})
	mx := mtatest.NewMX(t, mtatest.MXOptions{})
	pools := []mta.IPPool{
		{Name: "auth", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}, HELO: "auth-out.example.com"},
		{Name: "news", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.3")}, HELO: "news-out.example.com"},
	}
	poolFor := func(l *queue.Lease) string {
		return map[string]string{"auth@example.com": "auth", "news@example.com": "news"}[l.Mailbox]
	}
	d := mta.New(q, mta.Options{Hostname: "out.example.com", IPPools: pools, PoolFor: poolFor,
		Transports: []mta.Transport{{Domain: "*", NextHop: mx.Addr()}}})
	runDeliverer(t, d)
	ctx := testCtx(t)
	ids := map[string]string{}
	for i := range 6 {
		from := []string{"auth@example.com", "news@example.com", "other@example.com"}[i%3]
		rc, err := q.Enqueue(ctx, message(from, queue.LaneNormal, fmt.Sprintf("u%d@dest.test", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids[rc.ID] = from
	}
	msgs, err := mx.WaitFor(ctx, 6)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{"auth@example.com": {"127.0.0.2", "auth-out.example.com"},
		"news@example.com": {"127.0.0.3", "news-out.example.com"}, "other@example.com": {"127.0.0.1", "out.example.com"}}
	connFrom := map[uint64]string{}
	for _, m := range msgs {
		w := want[m.From]
		if m.RemoteIP != w[0] || m.Helo != w[1] {
			t.Errorf("%s left from %s greeting %s, want %v", m.From, m.RemoteIP, m.Helo, w)
		}
		if prev, ok := connFrom[m.Conn]; ok && prev != m.From {
			t.Errorf("connection %d carried mail of %s and %s", m.Conn, prev, m.From)
		}
		connFrom[m.Conn] = m.From
	}
	for id, from := range ids {
		eventually(t, "delivered "+id, func() bool {
			evs, _ := q.Events(context.Background(), id)
			for _, ev := range evs {
				if ev.Type == queue.EventDelivered {
					return true
				}
			}
			return false
		})
		evs, _ := q.Events(context.Background(), id)
		for _, ev := range evs {
			if ev.Type != queue.EventDelivered {
				continue
			}
			wantIP, wantPool := want[from][0], map[string]string{"auth@example.com": "auth", "news@example.com": "news"}[from]
			if wantPool == "" {
				wantIP = "" // the default source: the kernel's choice, not recorded
			}
			if ev.SourceIP != wantIP || ev.IPPool != wantPool {
				t.Errorf("%s delivered event source %q pool %q, want %q %q", from, ev.SourceIP, ev.IPPool, wantIP, wantPool)
			}
		}
	}
}

// TestIPPoolWarmupQuota: an address past its warm-up quota for the day sends no more; the
// lease is postponed (no attempt counted) instead of deferred.
func TestIPPoolWarmupQuota(t *testing.T) {
	t.Parallel()
	q := openQueue(t, queue.Options{})
	mx := mtatest.NewMX(t, mtatest.MXOptions{})
	pools := []mta.IPPool{{Name: "new", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.4")},
		HELO: "new-out.example.com", Warmup: []int{2, 4}}}
	d := mta.New(q, mta.Options{Hostname: "out.example.com", IPPools: pools,
		PoolFor:    func(*queue.Lease) string { return "new" },
		Transports: []mta.Transport{{Domain: "*", NextHop: mx.Addr()}}, HighWorkers: 1, BulkWorkers: 1})
	runDeliverer(t, d)
	ctx := testCtx(t)
	var last string
	for i := range 3 {
		rc, err := q.Enqueue(ctx, message("a@example.com", queue.LaneNormal, fmt.Sprintf("w%d@dest.test", i)))
		if err != nil {
			t.Fatal(err)
		}
		last = rc.ID
		if i < 2 {
			if _, err := mx.WaitFor(ctx, i+1); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, "the third message postponed to tomorrow", func() bool {
		st, err := q.Status(context.Background(), last)
		return err == nil && len(st.Recipients) == 1 && st.Recipients[0].Status == "queued" &&
			st.Recipients[0].Attempts == 0 && !st.Recipients[0].NextAttempt.IsZero()
	})
	if n := mx.Count(); n != 2 {
		t.Errorf("the MX got %d messages, want the quota of 2", n)
	}
}
