package queue

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestRestartInEachState puts a message in each state, restarts the queue on the same
// database and checks what the new queue does with it.
func TestRestartInEachState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup func(h *harness) string
		check func(h *harness, id string)
	}{
		{"queued", func(h *harness) string {
			return h.send(LaneNormal, "a@x.example")
		}, func(h *harness, id string) {
			if h.q.Depth(LaneNormal) != 1 || h.q.OldestAge() != time.Second {
				t.Errorf("depth %d oldest %v", h.q.Depth(LaneNormal), h.q.OldestAge())
			}
			if l := h.next(); l.MsgID != id || l.Attempt != 1 {
				t.Errorf("lease %+v", l)
			}
		}},
		{"leased", func(h *harness) string {
			id := h.send(LaneHigh, "a@x.example")
			h.next()
			return id
		}, func(h *harness, id string) {
			l := h.next() // orphaned lease is ready at once, not after LeaseTTL
			if l.MsgID != id || l.Lane != LaneHigh {
				t.Errorf("lease %+v", l)
			}
			if n := countKeys(h, famLease); n != 1 {
				t.Errorf("%d lease keys, want just the new one", n)
			}
		}},
		{"leased past expiry", func(h *harness) string {
			id := h.send(LaneNormal, "a@x.example")
			h.next()
			h.clock.Advance(time.Hour)
			return id
		}, func(h *harness, id string) {
			if l := h.next(); l.MsgID != id {
				t.Errorf("lease %+v", l)
			}
		}},
		{"deferred", func(h *harness) string {
			id := h.send(LaneNormal, "a@x.example")
			h.complete(h.next(), false, deferred("a@x.example")...)
			return id
		}, func(h *harness, id string) {
			h.none()
			if h.q.DeferredCount() != 1 {
				t.Errorf("deferred count %d", h.q.DeferredCount())
			}
			h.advance(2 * time.Minute)
			if l := h.next(); l.MsgID != id || l.Attempt != 2 {
				t.Errorf("lease %+v", l)
			}
		}},
		{"domain backing off", func(h *harness) string {
			h.complete(h.next2(h.send(LaneNormal, "a@x.example")), true, deferred("a@x.example")...)
			return h.send(LaneNormal, "b@x.example")
		}, func(h *harness, id string) {
			h.none()
			h.advance(2 * time.Minute)
			h.next()
			h.next()
		}},
		{"held", func(h *harness) string {
			return h.enqueue(&Message{To: []string{"a@x.example"}, Approval: &Approval{}}).ID
		}, func(h *harness, id string) {
			h.none()
			aps, err := h.q.Approvals(ctx, ApprovalPending)
			if err != nil || len(aps) != 1 || aps[0].MsgID != id {
				t.Fatalf("approvals %+v %v", aps, err)
			}
			if err := h.q.Approve(ctx, aps[0].ID, "cli", "ok"); err != nil {
				t.Fatal(err)
			}
			if l := h.next(); l.MsgID != id {
				t.Errorf("lease %+v", l)
			}
		}},
		{"delivered", func(h *harness) string {
			id := h.send(LaneNormal, "a@x.example")
			h.complete(h.next(), false, delivered("a@x.example")...)
			return id
		}, func(h *harness, id string) {
			h.none()
			if st := h.status(id); st.State != RcptDelivered {
				t.Errorf("state %s", st.State)
			}
		}},
		{"rejected", func(h *harness) string {
			return h.enqueue(&Message{To: []string{"a@x.example"}, Approval: &Approval{State: ApprovalRejected, By: "rule:1"}}).ID
		}, func(h *harness, id string) {
			h.none()
			if st := h.status(id); st.State != RcptRejected || st.Approval.State != ApprovalRejected {
				t.Errorf("status %+v", st)
			}
		}},
		{"bounced", func(h *harness) string {
			id := h.send(LaneNormal, "a@x.example")
			h.complete(h.next(), false, Result{Recipient: "a@x.example", Outcome: Bounced, SMTPCode: 550})
			return id
		}, func(h *harness, id string) {
			h.none()
			if st := h.status(id); st.State != RcptBounced {
				t.Errorf("state %s", st.State)
			}
		}},
		{"deleted", func(h *harness) string {
			id := h.send(LaneNormal, "a@x.example")
			if err := h.q.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			return id
		}, func(h *harness, id string) {
			h.none()
			if h.q.Depth(LaneNormal) != 0 {
				t.Errorf("depth %d", h.q.Depth(LaneNormal))
			}
		}},
		{"outbox pending", func(h *harness) string {
			return h.send(LaneNormal, "a@x.example")
		}, func(h *harness, id string) {
			items, err := h.q.OutboxDue(ctx, 10)
			if err != nil || len(items) != 1 || items[0].Event.MsgID != id {
				t.Errorf("outbox %+v %v", items, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{Subscribers: []Subscriber{{ID: "wh0", Events: []EventType{EventQueued}}}})
			id := tc.setup(h)
			before := h.eventTypes(id)
			h.clock.Advance(time.Second)
			h.restart()
			if after := h.eventTypes(id); !slices.Equal(before, after) {
				t.Fatalf("events changed across restart: %v -> %v", before, after)
			}
			tc.check(h, id)
		})
	}
}

// next2 leases the given message (which must be the only one ready).
func (h *harness) next2(id string) *Lease {
	h.t.Helper()
	l := h.next()
	if l.MsgID != id {
		h.t.Fatalf("lease of %s, want %s", l.MsgID, id)
	}
	return l
}

func countKeys(h *harness, fam byte) int {
	n := 0
	_ = h.q.scan(familyPrefix(fam), func(k, v []byte) error { n++; return nil })
	return n
}
