package queuetest

// heldadmin.go: the admin actions on held messages (Cancel and Delete close the pending
// approval) and HoldInFlight, on a queue with both queue.Admin and queue.Oversight.

import (
	"slices"
	"testing"

	"multimail.dev/multimail/queue"
)

// HeldAdminQueue is a queue with the admin actions and the approval workflow.
type HeldAdminQueue interface {
	queue.Core
	queue.Admin
	queue.Oversight
}

// OpenHeldAdmin opens a fresh, empty HeldAdminQueue with o.
type OpenHeldAdmin func(t *testing.T, o queue.Options) HeldAdminQueue

// RunHeldAdmin runs the tests of the admin actions on held messages.
func RunHeldAdmin(t *testing.T, open OpenHeldAdmin) {
	t.Run("CancelHeld", func(t *testing.T) { testCancelHeld(t, open(t, queue.Options{})) })
	t.Run("DeleteHeld", func(t *testing.T) { testDeleteHeld(t, open(t, queue.Options{})) })
	t.Run("HoldInFlight", func(t *testing.T) { testHoldInFlight(t, open(t, queue.Options{})) })
}

// testCancelHeld: the sender cancels a held message; its approval is closed as cancelled (not
// decided) and can no longer be approved.
func testCancelHeld(t *testing.T, q HeldAdminQueue) {
	r, a := hold(t, q, &queue.Message{})
	res, err := q.Cancel(ctx(t), r.ID, "api:k1")
	must(t, err)
	if len(res.Cancelled) != 2 || len(res.InFlight) != 0 {
		t.Fatalf("Cancel = %+v, want both recipients cancelled", res)
	}
	ar, err := q.Approval(ctx(t), a.ID)
	must(t, err)
	if ar.State != queue.ApprovalCancelled || ar.By != "api:k1" || ar.DecidedAt.IsZero() {
		t.Fatalf("approval after Cancel %+v, want cancelled by api:k1", ar)
	}
	wantErr(t, "Approve after Cancel", q.Approve(ctx(t), a.ID, "api:op", ""), queue.ErrNotPending)
	if pend, _ := q.Approvals(ctx(t), queue.ApprovalPending); len(pend) != 0 {
		t.Fatalf("still pending: %+v", pend)
	}
	noNext(t, q)
	wantTypes(t, eventTypes(t, q, r.ID), queue.EventPendingApproval, queue.EventCancelled, queue.EventCancelled)
}

// testDeleteHeld: an admin deletes a held message; its approval is rejected by "admin".
func testDeleteHeld(t *testing.T, q HeldAdminQueue) {
	r, a := hold(t, q, &queue.Message{})
	must(t, q.Delete(ctx(t), r.ID))
	ar, err := q.Approval(ctx(t), a.ID)
	must(t, err)
	if ar.State != queue.ApprovalRejected || ar.By != "admin" {
		t.Fatalf("approval after Delete %+v, want rejected by admin", ar)
	}
	wantErr(t, "Approve after Delete", q.Approve(ctx(t), a.ID, "api:op", ""), queue.ErrNotPending)
	st, err := q.Status(ctx(t), r.ID)
	must(t, err)
	for _, rs := range st.Recipients {
		if rs.Status != queue.RcptFailed {
			t.Fatalf("recipient %+v after Delete, want failed", rs)
		}
	}
	noNext(t, q)
}

// testHoldInFlight: after a restore every queued or deferred message is held under a new
// approval, delivered ones are not; approving a held one sends it.
func testHoldInFlight(t *testing.T, q HeldAdminQueue) {
	done := enqueue(t, q, &queue.Message{Mailbox: "a@example.com", To: []string{"x@d.example"}}).ID
	complete(t, q, next(t, q), queue.Delivered, 250, "2.0.0")
	waiting := enqueue(t, q, &queue.Message{Mailbox: "a@example.com", Subject: "s", To: []string{"y@d.example", "z@e.example"}}).ID
	held, err := q.HoldInFlight(ctx(t), "restored")
	must(t, err)
	if !slices.Equal(held, []string{waiting}) {
		t.Fatalf("HoldInFlight = %v, want [%s] (not the delivered %s)", held, waiting, done)
	}
	noNext(t, q)
	pend, err := q.Approvals(ctx(t), queue.ApprovalPending)
	must(t, err)
	if len(pend) != 1 || pend[0].MsgID != waiting || pend[0].By != "restore" || pend[0].Reason != "restored" ||
		len(pend[0].To) != 2 {
		t.Fatalf("pending approvals %+v", pend)
	}
	st, err := q.Status(ctx(t), waiting)
	must(t, err)
	for _, rs := range st.Recipients {
		if rs.Status != queue.RcptPendingApproval {
			t.Fatalf("recipient %+v after HoldInFlight, want pending_approval", rs)
		}
	}
	if again, err := q.HoldInFlight(ctx(t), "restored"); err != nil || len(again) != 0 {
		t.Fatalf("second HoldInFlight = %v, %v; want nothing more held", again, err)
	}
	must(t, q.Approve(ctx(t), pend[0].ID, "api:op", ""))
	for range 2 {
		complete(t, q, next(t, q), queue.Delivered, 250, "2.0.0")
	}
	noNext(t, q)
	wantTypes(t, eventTypes(t, q, waiting), queue.EventQueued, queue.EventPendingApproval, queue.EventApproved,
		queue.EventQueued, queue.EventDelivered, queue.EventDelivered)
}
