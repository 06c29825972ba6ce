package queue

// audit.go journals the queue's decisions (sends and their release, approvals, rejections) in
// the audit journal, inside the very batch that makes the change (see package audit).

import (
	"strconv"

	"github.com/cockroachdb/pebble/v2"

	"multimail.dev/multimail/audit"
)

// commitAudited commits b with pebble.Sync, carrying recs into the audit journal when one is
// configured (Options.Audit): one atomic write, chained in commit order.
func (q *Queue) commitAudited(b *pebble.Batch, recs ...audit.Record) error {
	if q.opts.Audit == nil {
		return commit(b, pebble.Sync)
	}
	return q.opts.Audit.Commit(b, recs...)
}

// sendRecord is the audit record of an enqueue: who sent as which mailbox, to whom (keyed
// hashes), and how it was released: at once, by a rule, held, or refused by a rule.
func (q *Queue) sendRecord(m *Message, status string) audit.Record {
	var hash func([]string) []string
	if q.opts.Audit != nil {
		hash = q.opts.Audit.RcptHashes
	}
	return SendRecord(m, status, hash)
}

// SendRecord is the audit record of an enqueue of m with receipt status, as the Pebble queue
// records it (queue/pgqueue records the same); hash makes the recipients' keyed hashes
// (audit.Journal.RcptHashes), nil for none.
func SendRecord(m *Message, status string, hash func([]string) []string) audit.Record {
	r := audit.Record{Kind: audit.KindSend, Actor: m.Actor, Mailbox: m.Mailbox, Object: m.ID,
		Detail: map[string]string{"status": status, "lane": m.Lane.String(), "source": m.Source,
			"release": "immediate"}}
	if r.Actor == "" {
		r.Actor = m.Source
	}
	if hash != nil {
		r.Rcpts = hash(m.To)
	}
	if a := m.Approval; a != nil {
		r.Detail["approval"] = a.ID
		r.Detail["release"] = string(a.State)
		if a.State != ApprovalPending {
			r.Detail["release"] = "rule"
			r.Detail["decided_by"] = a.By
			r.Rule, r.Reason = a.Rule, a.Reason
		}
	}
	if m.Monitored {
		r.Detail["monitored"] = strconv.FormatBool(true)
	}
	return r
}

// DecisionRecord is the audit record of a human (or CLI) decision on a held send.
func DecisionRecord(ar *ApprovalRecord, state ApprovalState) audit.Record {
	kind := audit.KindApprove
	if state == ApprovalRejected {
		kind = audit.KindReject
	}
	return audit.Record{Kind: kind, Actor: ar.By, Mailbox: ar.Mailbox, Object: ar.MsgID,
		Reason: ar.Reason, Detail: map[string]string{"approval": ar.ID}}
}
