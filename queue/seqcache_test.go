package queue

import (
	"context"
	"slices"
	"testing"
)

// TestCompleteSeesWritesDuringLease: Complete reuses the recipients Next read only when
// nothing wrote them since; every write during the lease makes it read them again.
func TestCompleteSeesWritesDuringLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		during func(h *harness, id string, other *Lease)
		want   map[string]string
	}{
		{"nothing", func(*harness, string, *Lease) {},
			map[string]string{"a@x.example": RcptDelivered, "b@x.example": RcptDelivered, "c@y.example": RcptQueued}},
		{"late bounce", func(h *harness, id string, _ *Lease) {
			ev := Event{Type: EventBounced, MsgID: id, Recipient: "a@x.example", SMTPCode: 550, Detail: "dsn"}
			if err := h.q.Record(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}, map[string]string{"a@x.example": RcptBounced, "b@x.example": RcptDelivered, "c@y.example": RcptQueued}},
		{"other domain completed", func(h *harness, _ string, other *Lease) {
			h.complete(other, false, delivered("c@y.example")...)
		}, map[string]string{"a@x.example": RcptDelivered, "b@x.example": RcptDelivered, "c@y.example": RcptDelivered}},
		{"retry", func(h *harness, id string, _ *Lease) {
			if err := h.q.Retry(ctx, id); err != nil {
				t.Fatal(err)
			}
		}, map[string]string{"a@x.example": RcptDelivered, "b@x.example": RcptDelivered, "c@y.example": RcptQueued}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{})
			id := h.send(LaneNormal, "a@x.example", "b@x.example", "c@y.example")
			l1, l2 := h.next(), h.next()
			if l1.Domain != "x.example" {
				l1, l2 = l2, l1
			}
			tc.during(h, id, l2)
			h.complete(l1, false, delivered("a@x.example", "b@x.example")...)
			got := map[string]string{}
			for _, r := range h.status(id).Recipients {
				got[r.Address] = r.Status
			}
			for a, want := range tc.want {
				if got[a] != want {
					t.Errorf("%s: %s, want %s", a, got[a], want)
				}
			}
			evs := h.eventTypes(id) // also checks that sequence numbers have no gaps or repeats
			if !slices.Contains(evs, EventDelivered) {
				t.Fatalf("events %v", evs)
			}
		})
	}
}
