package queue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestApprovalFlows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		approval   Approval
		decide     func(q *Queue, id string) error
		wantStatus string
		wantEvents []EventType
		leasable   bool
	}{
		{"pending then approved", Approval{}, func(q *Queue, id string) error { return q.Approve(ctx, id, "api:k1", "looks fine") },
			StatusPendingApproval, []EventType{EventPendingApproval, EventApproved, EventQueued}, true},
		{"pending then rejected", Approval{}, func(q *Queue, id string) error { return q.Reject(ctx, id, "cli", "spam") },
			StatusPendingApproval, []EventType{EventPendingApproval, EventRejected}, false},
		{"auto-approved by rule", Approval{State: ApprovalApproved, By: "rule:0", Rule: "auth tag"}, nil,
			StatusQueued, []EventType{EventApproved, EventQueued}, true},
		{"rejected by rule", Approval{State: ApprovalRejected, By: "rule:2", Rule: "no partners"}, nil,
			StatusRejected, []EventType{EventRejected}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{})
			a := tc.approval
			m := &Message{Mailbox: "gated@x", Subject: "s", To: []string{"a@x.example", "b@y.example"}, Tags: []string{"t"}, Approval: &a}
			r := h.enqueue(m)
			if r.Status != tc.wantStatus || !strings.HasPrefix(a.ID, "apr_") {
				t.Fatalf("receipt %+v approval id %q", r, a.ID)
			}
			if tc.wantStatus == StatusPendingApproval {
				h.none()
				if st := h.status(m.ID); st.State != RcptPendingApproval || st.Approval.State != ApprovalPending {
					t.Fatalf("held status %+v", st)
				}
			}
			if tc.decide != nil {
				if err := tc.decide(h.q, a.ID); err != nil {
					t.Fatal(err)
				}
				if err := tc.decide(h.q, a.ID); !isErr(err, ErrNotPending) {
					t.Fatalf("second decision = %v, want ErrNotPending", err)
				}
			}
			if ev := h.eventTypes(m.ID); !slices.Equal(ev, tc.wantEvents) {
				t.Fatalf("events %v, want %v", ev, tc.wantEvents)
			}
			ar, err := h.q.Approval(ctx, a.ID)
			if err != nil || ar.MsgID != m.ID || ar.Mailbox != "gated@x" || len(ar.To) != 2 || ar.State == ApprovalPending {
				t.Fatalf("approval record %+v %v", ar, err)
			}
			if pend, _ := h.q.Approvals(ctx, ApprovalPending); len(pend) != 0 {
				t.Fatalf("still pending: %+v", pend)
			}
			if all, _ := h.q.Approvals(ctx, ""); len(all) != 1 {
				t.Fatalf("all approvals %+v", all)
			}
			if tc.leasable {
				h.next()
				h.next()
			} else {
				h.none()
				if _, err := h.q.Body(ctx, m.ID); !isErr(err, ErrNotFound) {
					t.Fatalf("rejected body kept: %v", err)
				}
			}
		})
	}
}

func TestApprovalErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ctx := context.Background()
	for _, id := range []string{"", "apr_nope", formatID(prefixApproval, fixedULID(1))} {
		if err := h.q.Approve(ctx, id, "x", ""); !isErr(err, ErrNotFound) {
			t.Fatalf("Approve(%q) = %v", id, err)
		}
		if _, err := h.q.Approval(ctx, id); !isErr(err, ErrNotFound) {
			t.Fatalf("Approval(%q) = %v", id, err)
		}
	}
}

// ApproveRelease delivers the body the release function returns, in the same commit as the
// decision; a failing release leaves the message held and undecided.
func TestApproveRelease(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	ctx := context.Background()
	a := Approval{}
	m := &Message{Mailbox: "gated@x", Subject: "s", To: []string{"a@x.example"}, Body: []byte("held\r\n"), Approval: &a}
	h.enqueue(m)
	boom := errors.New("no key")
	if err := h.q.ApproveRelease(ctx, a.ID, "cli", "", func(*ApprovalRecord, []byte) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("failing release = %v", err)
	}
	h.none()
	if ar, _ := h.q.Approval(ctx, a.ID); ar.State != ApprovalPending {
		t.Fatalf("after a failed release the approval is %s", ar.State)
	}
	var seen *ApprovalRecord
	err := h.q.ApproveRelease(ctx, a.ID, "cli", "ok", func(ar *ApprovalRecord, body []byte) ([]byte, error) {
		seen = ar
		return append([]byte("X-Released: yes\r\n"), body...), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == nil || seen.State != ApprovalApproved || seen.ID != a.ID || seen.By != "cli" {
		t.Fatalf("release saw %+v", seen)
	}
	want := "X-Released: yes\r\nheld\r\n"
	if b, err := h.q.Body(ctx, m.ID); err != nil || string(b) != want {
		t.Fatalf("body %q %v", b, err)
	}
	if st := h.status(m.ID); st.Size != len(want) {
		t.Fatalf("size %d, want %d", st.Size, len(want))
	}
	h.next()
}
