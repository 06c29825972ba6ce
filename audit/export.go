package audit

// export.go pages the journal out as JSONL lines: the export format of docs/audit.md.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Filter selects what a page of the export holds.
type Filter struct {
	After   uint64    // records with seq > After (the cursor)
	Limit   int       // records per page; default 500
	Since   time.Time // records at or after this time
	Mailbox string    // only this mailbox's records ("" = all)
	// Mailboxes, when set, restricts to records of these mailboxes and leaves out everything
	// else, checkpoints and stubs included (a mailbox-scoped admin's view).
	Mailboxes []string
}

// Page returns export lines after f.After and the cursor of the next page (0 = done). A full
// export (no Since, Mailbox or Mailboxes) starts with a header line ({"audit_journal":1,
// "origin","key","complete"}) and the anchor of a pruned journal, and carries every stored checkpoint
// after the record it covers. With Mailbox, other records become stubs {"seq","hash",
// "omitted":true} so the chain still links; with Mailboxes they are left out.
func (j *Journal) Page(ctx context.Context, f Filter) ([]string, uint64, error) {
	if f.Limit <= 0 || f.Limit > 5000 {
		f.Limit = 500
	}
	scoped := f.Mailboxes != nil
	var out []string
	if f.After == 0 && !scoped {
		out = append(out, j.headerLine(f.Since.IsZero()))
		if a, err := j.Anchor(); err == nil {
			out = append(out, checkpointLine(a.Note))
		}
	}
	ckpts, err := j.checkpointsAfter(f.After)
	if err != nil {
		return nil, 0, err
	}
	var last uint64
	n := 0
	err = j.scan(recordKey(f.After+1), func(seq uint64, v []byte) (bool, error) {
		if n >= f.Limit {
			return false, ctx.Err()
		}
		n++
		last = seq
		if line, ok := f.line(seq, v); ok {
			out = append(out, line)
		}
		if c, ok := ckpts[seq]; ok && !scoped {
			out = append(out, checkpointLine(c))
		}
		return true, ctx.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	if n < f.Limit {
		last = 0
	}
	return out, last, nil
}

// line is the export line of a stored record under f (false: left out).
func (f Filter) line(seq uint64, v []byte) (string, bool) {
	if f.Since.IsZero() && f.Mailbox == "" && f.Mailboxes == nil {
		return string(v), true
	}
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return "", false
	}
	if t, err := time.Parse(time.RFC3339Nano, r.Time); err == nil && t.Before(f.Since) {
		return "", false
	}
	switch {
	case f.Mailboxes != nil && !slices.Contains(f.Mailboxes, r.Mailbox):
		return "", false
	case f.Mailbox != "" && r.Mailbox != f.Mailbox:
		return fmt.Sprintf(`{"seq":%d,"hash":%q,"omitted":true}`, seq, Hash(v)), true
	}
	return string(v), true
}

// headerLine heads an export; complete says it starts at the journal's start (record 1 or
// the anchor), which a --since export does not.
func (j *Journal) headerLine(complete bool) string {
	b, _ := json.Marshal(struct {
		Version  int    `json:"audit_journal"`
		Origin   string `json:"origin"`
		Key      string `json:"key"`
		Complete bool   `json:"complete"`
	}{1, j.origin, j.vkey, complete})
	return string(b)
}

func checkpointLine(note string) string {
	b, _ := json.Marshal(struct {
		Checkpoint string `json:"checkpoint"`
	}{note})
	return string(b)
}

// checkpointsAfter returns the stored checkpoints of size > after, by size.
func (j *Journal) checkpointsAfter(after uint64) (map[uint64]string, error) {
	out := map[uint64]string{}
	it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: ckptKey(after + 1), UpperBound: prefixEnd(famKey(famCkpt))})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if seq, ok := seqOf(it.Key()); ok {
			out[seq] = string(it.Value())
		}
	}
	return out, it.Close()
}

// scan calls fn for records from key from on, until fn returns false.
func (j *Journal) scan(from []byte, fn func(seq uint64, v []byte) (bool, error)) error {
	it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: from, UpperBound: prefixEnd(famKey(famRecord))})
	if err != nil {
		return fmt.Errorf("audit: scan: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		seq, ok := seqOf(it.Key())
		if !ok {
			continue
		}
		more, err := fn(seq, it.Value())
		if err != nil || !more {
			return err
		}
	}
	return it.Close()
}

// Prune deletes the records older than before, after signing a checkpoint over the last of
// them and keeping it as the anchor. It returns how many records it deleted.
func (j *Journal) Prune(ctx context.Context, before time.Time) (int, error) {
	var last uint64
	var lastHash string
	n := 0
	err := j.scan(famKey(famRecord), func(seq uint64, v []byte) (bool, error) {
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			return false, fmt.Errorf("audit: prune: record %d: %w", seq, err)
		}
		t, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil || !t.Before(before) {
			return false, err
		}
		last, lastHash, n = seq, Hash(v), n+1
		return true, ctx.Err()
	})
	if err != nil || n == 0 {
		return 0, err
	}
	c, err := j.sign(last, lastHash)
	if err != nil {
		return 0, err
	}
	b := j.db.NewBatch()
	defer b.Close()
	_ = b.Set(anchorKey(), []byte(c.Note), nil)
	_ = b.DeleteRange(famKey(famRecord), recordKey(last+1), nil)
	_ = b.DeleteRange(famKey(famCkpt), ckptKey(last), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("audit: prune: %w", err)
	}
	return n, nil
}

// Export writes every page of f to w, one line each. A full export is preceded by a fresh
// checkpoint of the head, so its last line signs its last record.
func (j *Journal) Export(ctx context.Context, w io.Writer, f Filter) error {
	if f.Since.IsZero() && f.Mailbox == "" && f.Mailboxes == nil {
		if _, err := j.Checkpoint(ctx); err != nil {
			return err
		}
	}
	for {
		lines, next, err := j.Page(ctx, f)
		if err != nil {
			return err
		}
		for _, l := range lines {
			if _, err := io.WriteString(w, l+"\n"); err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		f.After = next
	}
}
