package pgqueue

// audit.go hands the queue's decisions (sends and approval decisions) to the node's audit
// journal. The journal is the node's own Pebble database, not PostgreSQL, so a record cannot
// join the transaction it records: it is appended after the commit. A crash (or a failed
// append) between the two loses the record, never the change; each node keeps its own chain
// of what it decided.

import (
	"context"

	"multimail.dev/multimail/audit"
)

// Auditor is the audit journal as the queue uses it; *audit.Journal is one.
type Auditor interface {
	// Append commits recs to the journal (synced).
	Append(ctx context.Context, recs ...audit.Record) error
	// RcptHashes returns the keyed hashes under which addresses appear in records.
	RcptHashes(addrs []string) []string
}

var _ Auditor = (*audit.Journal)(nil)

// rcptHashes is the journal's recipient hash, nil without a journal.
func (q *Queue) rcptHashes() func([]string) []string {
	if q.aud == nil {
		return nil
	}
	return q.aud.RcptHashes
}

// audit appends recs after the change they record has committed. A failure is logged: the
// change stands (it was acknowledged by the commit), its record is lost.
func (q *Queue) audit(ctx context.Context, recs ...audit.Record) {
	if q.aud == nil {
		return
	}
	if err := q.aud.Append(context.WithoutCancel(ctx), recs...); err != nil {
		for _, r := range recs {
			q.log.Error("queue: audit record lost after commit", "kind", r.Kind, "object", r.Object, "err", err)
		}
	}
}
