package mailbox

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Email IDs are "em_" + a ULID in Crockford base32 (26 characters): 48 bits of
// Unix milliseconds then 80 random bits, so they sort by creation time both as
// text and as the 16 raw bytes stored in keys.
const (
	emailIDPrefix = "em_"
	ulidLen       = 16 // raw bytes
	ulidTextLen   = 26 // Crockford base32 characters
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// ulid is the raw 16-byte form of an email ID.
type ulid [ulidLen]byte

// idGen makes monotonic ULIDs: within one millisecond the random part is
// incremented, so IDs from one store never go backwards or repeat.
type idGen struct {
	mu   sync.Mutex
	now  func() time.Time
	last ulid
}

func (g *idGen) next() ulid {
	g.mu.Lock()
	defer g.mu.Unlock()
	var id ulid
	ms := uint64(g.now().UnixMilli())
	putMillis(&id, ms)
	if ms <= millis(g.last) {
		id = g.last
		incrementRandom(&id)
	} else {
		rand.Read(id[6:])
	}
	g.last = id
	return id
}

func putMillis(id *ulid, ms uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], ms)
	copy(id[:6], b[2:])
}

func millis(id ulid) uint64 {
	var b [8]byte
	copy(b[2:], id[:6])
	return binary.BigEndian.Uint64(b[:])
}

// incrementRandom adds one to the 80-bit random part, carrying into the time.
func incrementRandom(id *ulid) {
	for i := ulidLen - 1; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			return
		}
	}
}

// String formats the ID as "em_" + 26 Crockford base32 characters.
func (id ulid) String() string { return formatID(emailIDPrefix, id) }

// formatID formats 16 bytes as prefix + 26 Crockford base32 characters (email and thread IDs).
func formatID(prefix string, id [ulidLen]byte) string {
	var out [ulidTextLen]byte
	// 128 bits in 26 characters of 5 bits: the first character holds 3 bits.
	hi := binary.BigEndian.Uint64(id[:8])
	lo := binary.BigEndian.Uint64(id[8:])
	for i := ulidTextLen - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return prefix + string(out[:])
}

// parseEmailID parses "em_" + 26 Crockford characters (case-insensitive).
func parseEmailID(s string) (ulid, error) {
	id, ok := parseID(emailIDPrefix, s)
	if !ok {
		return id, fmt.Errorf("%w: email id %q", ErrNotFound, s)
	}
	return id, nil
}

// parseID parses prefix + 26 Crockford characters (case-insensitive).
func parseID(prefix, s string) (ulid, bool) {
	var id ulid
	text, ok := strings.CutPrefix(s, prefix)
	if !ok || len(text) != ulidTextLen {
		return id, false
	}
	var hi, lo uint64
	for i := 0; i < ulidTextLen; i++ {
		v := crockfordValue(text[i])
		if v < 0 || (i == 0 && v > 7) {
			return id, false
		}
		hi = hi<<5 | lo>>59
		lo = lo<<5 | uint64(v)
	}
	binary.BigEndian.PutUint64(id[:8], hi)
	binary.BigEndian.PutUint64(id[8:], lo)
	return id, true
}

func crockfordValue(c byte) int {
	if c >= 'a' && c <= 'z' {
		c -= 'a' - 'A'
	}
	return strings.IndexByte(crockford, c)
}
