package mailbox

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"time"

	"multimail.dev/multimail/mailbox/textindex"
)

// sortKey orders emails for Query: by InternalDate, then ID; Query walks it
// from the largest (newest) down.
type sortKey struct {
	date int64 // InternalDate in Unix nanoseconds
	id   ulid
}

const sortKeyLen = 8 + ulidLen

func sortKeyOf(date time.Time, id ulid) sortKey { return sortKey{date.UnixNano(), id} }

// bytes encodes the key so that byte order is sort order: the date with its
// sign bit flipped (dates before 1970 sort first), big-endian, then the ID.
func (k sortKey) bytes() []byte {
	b := make([]byte, sortKeyLen)
	binary.BigEndian.PutUint64(b, uint64(k.date)^(1<<63))
	copy(b[8:], k.id[:])
	return b
}

func decodeSortKey(b []byte) (sortKey, error) {
	var k sortKey
	if len(b) != sortKeyLen {
		return k, fmt.Errorf("%w: sort key of %d bytes", ErrCorrupt, len(b))
	}
	k.date = int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	copy(k.id[:], b[8:])
	return k, nil
}

// less orders keys ascending.
func (k sortKey) less(o sortKey) bool {
	if k.date != o.date {
		return k.date < o.date
	}
	return string(k.id[:]) < string(o.id[:])
}

// cursor is the opaque Query cursor: URL-safe base64 of the last returned
// email's sort key; the next page starts strictly below it.
func (k sortKey) cursor() string { return base64.RawURLEncoding.EncodeToString(k.bytes()) }

func parseCursor(c string) (sortKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return sortKey{}, fmt.Errorf("%w: %v", ErrInvalidCursor, err)
	}
	k, err := decodeSortKey(b)
	if err != nil {
		return sortKey{}, fmt.Errorf("%w: %v", ErrInvalidCursor, err)
	}
	return k, nil
}

// queryLimit applies the default and the cap.
func queryLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultQueryLimit
	case n > MaxQueryLimit:
		return MaxQueryLimit
	}
	return n
}

// matchFlags applies Query's Unread and IncludePending filters.
func (q Query) matchFlags(e Email) bool {
	if e.Pending && !q.IncludePending {
		return false
	}
	return q.Unread == nil || *q.Unread == !e.seen()
}

// TextMatches reports whether raw holds text as Query.Text asks: IMAP SEARCH
// TEXT, case-insensitive, over header field values and decoded bodies.
func TextMatches(raw []byte, text string) bool {
	return textindex.Contains(textindex.Segments(raw), text, true)
}

// textScanBudget is TextScanBudget, lowered by tests.
var textScanBudget = TextScanBudget
