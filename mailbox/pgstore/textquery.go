package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mailbox/textindex"
)

// textScanBatch is how many emails (with their raw messages, streamed a row
// at a time) one round trip of a Text query reads.
const textScanBatch = 100

// textScan is Query with Text: PostgreSQL has no index of the decoded text
// here, so it reads the filtered emails newest first, a batch at a time, and
// verifies each raw message with textindex, as IMAP SEARCH TEXT does. It
// stops once the page is full, so the work is bounded by the page, not by the
// mailbox, when matches are frequent; a rare needle scans the mailbox.
type textScan struct {
	s         *Store
	tx        pgx.Tx
	where     []string
	args      []any
	text      string
	limit     int
	after     bool
	afterDate int64
	afterID   string
}

// run returns the page and, when it stopped before the end (the page full or
// mailbox.TextScanBudget emails verified), the cursor at the last email read.
func (t *textScan) run(ctx context.Context) ([]mailbox.Email, string, error) {
	lower := textindex.Lower(t.text)
	out := make([]mailbox.Email, 0, t.limit)
	verified := 0
	for {
		n, err := t.batch(ctx, func(e mailbox.Email, raw []byte) bool {
			if textindex.ContainsLower(textindex.Segments(raw), lower, true) {
				out = append(out, e)
			}
			verified++
			return len(out) < t.limit && verified < mailbox.TextScanBudget
		})
		if err != nil {
			return nil, "", fmt.Errorf("query text of %s: %w", t.args[0], err)
		}
		if len(out) == t.limit || verified >= mailbox.TextScanBudget {
			return out, mailbox.QueryCursor(time.Unix(0, t.afterDate), t.afterID), nil
		}
		if n < textScanBatch {
			return out, "", nil
		}
	}
}

// batch reads the next textScanBatch emails after the scan's position and
// hands each to fn until fn returns false; it returns how many rows it read
// and moves the position past the last one.
func (t *textScan) batch(ctx context.Context, fn func(mailbox.Email, []byte) bool) (int, error) {
	where, args := append([]string{}, t.where...), append([]any{}, t.args...)
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if t.after {
		d, id := arg(t.afterDate), arg(t.afterID)
		where = append(where, "(e.internal_date < "+d+" OR (e.internal_date = "+d+" AND e.id < "+id+"))")
	}
	rows, err := t.tx.Query(ctx, "SELECT "+emailCols+", b.raw, e.internal_date, e.id FROM mm_email e JOIN mm_folder f ON f.id = e.folder_id"+
		" JOIN mm_body b ON b.id = e.body_id WHERE "+strings.Join(where, " AND ")+
		" ORDER BY e.internal_date DESC, e.id DESC LIMIT "+arg(textScanBatch), args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var tail rawTail
		e, err := scanEmail(withRaw{rows, &tail})
		if err == nil || errors.Is(err, mailbox.ErrCorrupt) {
			t.after, t.afterDate, t.afterID = true, tail.date, tail.id // past a corrupt row too
		}
		if errors.Is(err, mailbox.ErrCorrupt) {
			t.s.kit.Options().Logger.Warn("pgstore: corrupt email record skipped", "err", err)
			continue
		}
		if err != nil {
			return n, err
		}
		if !fn(e, tail.raw) {
			break
		}
	}
	return n, rows.Err()
}

// rawTail is what a Text query selects after emailCols: the raw message, and
// the position (date, id) even of a row whose summary does not decode.
type rawTail struct {
	raw  []byte
	date int64
	id   string
}

// withRaw is a row whose last columns, rawTail, scanEmail does not know.
type withRaw struct {
	pgx.Row
	tail *rawTail
}

func (r withRaw) Scan(dest ...any) error {
	return r.Row.Scan(append(dest, &r.tail.raw, &r.tail.date, &r.tail.id)...)
}
