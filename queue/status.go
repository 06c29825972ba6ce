package queue

// status.go answers questions about messages (Body, Status, List) and carries out the
// admin actions Retry and Delete.

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// Body returns the stored message body. ErrNotFound once every recipient reached a final
// state (the body is deleted then) or for an unknown message.
func (q *Queue) Body(ctx context.Context, msgID string) ([]byte, error) {
	id, err := parseID(prefixMsg, msgID)
	if err != nil {
		return nil, fmt.Errorf("body %s: %w", msgID, ErrNotFound)
	}
	v, closer, err := q.db.Get(bodyKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("body %s: %w", msgID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("body %s: %w", msgID, err)
	}
	defer closer.Close()
	if len(v) == 0 || v[0] != valueV1 {
		return nil, fmt.Errorf("body %s: %w", msgID, ErrCorrupt)
	}
	return slices.Clone(v[1:]), nil
}

// Status returns a message with its recipients, approval and events.
func (q *Queue) Status(ctx context.Context, msgID string) (*Status, error) {
	id, err := parseID(prefixMsg, msgID)
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", msgID, ErrNotFound)
	}
	st, err := q.status(id)
	if err != nil {
		return nil, fmt.Errorf("status %s: %w", msgID, err)
	}
	if st.Events, err = q.Events(ctx, msgID); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return st, nil
}

// status builds a Status without events.
func (q *Queue) status(id ulid) (*Status, error) {
	m, rcpts, err := q.loadMsgAndRcpts(id)
	if err != nil {
		return nil, err
	}
	st := &Status{ID: m.ID, Mailbox: m.Mailbox, From: m.From, Subject: m.Subject, State: MessageState(rcpts, func(r *rcptRecord) string { return r.Status }),
		Lane: m.Lane, Tags: m.Tags, QueuedAt: m.QueuedAt, ExpiresAt: m.ExpiresAt, SendAt: m.SendAt, Size: m.Size, Test: m.Test}
	for _, r := range rcpts {
		st.Recipients = append(st.Recipients, RecipientStatus{Address: r.Addr, Status: r.Status,
			Attempts: r.Attempts, NextAttempt: r.Next, LastCode: r.LastCode,
			LastEnhanced: r.LastEnhanced, LastDetail: r.LastDetail, UpdatedAt: r.Updated})
	}
	if m.Approval != "" {
		ar, err := q.approvalByID(m.Approval)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if ar != nil {
			st.Approval = &ar.Approval
		}
	}
	return st, nil
}

// MessageState summarises a message's recipient states (status of each): pending_approval,
// deferred or queued while any recipient waits; otherwise the common final state, or
// "completed" when they differ. Both queue backends report it as Status.State.
func MessageState[R any](rcpts []R, status func(R) string) string {
	has := map[string]bool{}
	for _, r := range rcpts {
		has[status(r)] = true
	}
	for _, s := range []string{RcptPendingApproval, RcptDeferred, RcptQueued} {
		if has[s] {
			return s
		}
	}
	if len(has) == 1 {
		for s := range has {
			return s
		}
	}
	return "completed"
}

// List returns messages in id (that is, enqueue-time) order, without events.
func (q *Queue) List(ctx context.Context, f ListFilter) ([]Status, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	from := familyPrefix(famMsg)
	if f.After != "" {
		after, err := parseID(prefixMsg, f.After)
		if err != nil {
			return nil, err
		}
		from = append(msgKey(after), 0)
	}
	var out []Status
	err := q.scanFrom(familyPrefix(famMsg), from, func(k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(k) != headerLen+ulidLen {
			return nil
		}
		st, ok := q.listOne(ulid(k[headerLen:]), f)
		if ok {
			out = append(out, *st)
		}
		if len(out) >= limit {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("list: %w", err)
	}
	return out, nil
}

func (q *Queue) listOne(id ulid, f ListFilter) (*Status, bool) {
	st, err := q.status(id)
	if err != nil {
		q.log.Error("queue: list: skipping unreadable message", "msg_id", formatID(prefixMsg, id), "err", err)
		return nil, false
	}
	if (f.Mailbox != "" && st.Mailbox != f.Mailbox) || (f.State != "" && st.State != f.State) {
		return nil, false
	}
	return st, true
}
