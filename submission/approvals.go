package submission

import (
	"context"
	"fmt"

	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/queue"
)

// Approvals lists approval records in state ("" = all). A principal bound to one mailbox sees
// that mailbox's records only; "*" sees all.
func (s *Submitter) Approvals(ctx context.Context, state queue.ApprovalState, auth Principal) ([]queue.ApprovalRecord, error) {
	recs, err := s.opts.Queue.Approvals(ctx, state)
	if err != nil {
		return nil, fmt.Errorf("submission: approvals: %w", err)
	}
	if auth.Mailbox == "*" {
		return recs, nil
	}
	out := recs[:0:0]
	for _, r := range recs {
		if auth.may(r.Mailbox) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Approve releases a held message for delivery and copies it to the sender's Sent folder. Only
// a principal that may decide (Principal.MayDecide: approve scope, no send on that mailbox, or
// the CLI) decides: an agent's own key never approves its own gated sends. The decision, by auth.by(), is an event in the message's trail.
// Errors: ErrForbidden, queue.ErrNotFound, queue.ErrNotPending.
func (s *Submitter) Approve(ctx context.Context, id, reason string, auth Principal) error {
	rec, err := s.decidable(ctx, id, auth)
	if err != nil {
		return err
	}
	snd, err := s.sender(ctx, rec.Mailbox)
	if err != nil {
		return fmt.Errorf("submission: approve %s: %w", id, err)
	}
	// The release adds the identity header in the queue's commit of the decision (identity.go).
	release := func(ar *queue.ApprovalRecord, body []byte) ([]byte, error) {
		return s.release(body, snd.domain, identity.Header{Mailbox: ar.Mailbox, Mode: string(snd.mbox.Oversight),
			Release: identity.ReleaseApproved, Ref: ar.ID, At: ar.DecidedAt, Msg: ar.MsgID})
	}
	if rec.Test { // test mail carries no identity header and has no Sent copy
		release = nil
	}
	if err := s.opts.Queue.ApproveRelease(ctx, id, auth.by(), reason, release); err != nil {
		return fmt.Errorf("submission: approve %s: %w", id, err)
	}
	s.log.InfoContext(ctx, "approved", "msg_id", rec.MsgID, "mailbox", rec.Mailbox, "by", auth.by())
	if rec.Test {
		return nil
	}
	body, err := s.opts.Queue.Body(ctx, rec.MsgID)
	if err != nil {
		s.log.ErrorContext(ctx, "copy to Sent failed", "msg_id", rec.MsgID, "err", err)
		return nil
	}
	s.copyToSent(ctx, rec.Mailbox, rec.MsgID, body)
	return nil
}

// Reject refuses a held message for good: it is never sent, and the decision is an event in
// its trail. Same rules as Approve.
func (s *Submitter) Reject(ctx context.Context, id, reason string, auth Principal) error {
	rec, err := s.decidable(ctx, id, auth)
	if err != nil {
		return err
	}
	if err := s.opts.Queue.Reject(ctx, id, auth.by(), reason); err != nil {
		return fmt.Errorf("submission: reject %s: %w", id, err)
	}
	s.log.InfoContext(ctx, "rejected", "msg_id", rec.MsgID, "mailbox", rec.Mailbox, "by", auth.by())
	return nil
}

// decidable loads the approval and checks that auth may decide it.
func (s *Submitter) decidable(ctx context.Context, id string, auth Principal) (*queue.ApprovalRecord, error) {
	rec, err := s.opts.Queue.Approval(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("submission: approval %s: %w", id, err)
	}
	if err := auth.MayDecide(rec.Mailbox); err != nil {
		return nil, fmt.Errorf("approval %s: %w", id, err)
	}
	return rec, nil
}
