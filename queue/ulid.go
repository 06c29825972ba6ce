package queue

// ULID-style identifiers: 48 bits of Unix milliseconds then 80 random bits, written as 26
// Crockford base32 characters after a type prefix ("msg_", "apr_", "lse_"). The binary form
// (16 bytes) is what keys hold, so keys sort by creation time.

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"time"
)

const (
	ulidLen    = 16 // binary length
	ulidStrLen = 26 // Crockford base32 length
	crockford  = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

	prefixMsg      = "msg_"
	prefixApproval = "apr_"
	prefixLease    = "lse_"
)

// ulid is the binary form of an id.
type ulid [ulidLen]byte

// newULID makes an id for time t with random low bits.
func newULID(t time.Time) ulid {
	var u ulid
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		u[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(u[6:]) // crypto/rand.Read never fails (Go >= 1.24)
	return u
}

// time returns the millisecond timestamp embedded in u.
func (u ulid) time() time.Time {
	var ms uint64
	for i := 0; i < 6; i++ {
		ms = ms<<8 | uint64(u[i])
	}
	return time.UnixMilli(int64(ms))
}

// encode writes u as 26 Crockford base32 characters (the top 2 bits of 130 are zero).
func (u ulid) encode() string {
	var out [ulidStrLen]byte
	// Treat u as a 128-bit big-endian number; emit 5 bits at a time from bit 129 down.
	for i := 0; i < ulidStrLen; i++ {
		out[i] = crockford[u.bits5(i)]
	}
	return string(out[:])
}

// bits5 returns the i-th 5-bit group of the 130-bit zero-padded value.
func (u ulid) bits5(i int) byte {
	start := i*5 - 2 // bit offset in the 128-bit value (negative = padding)
	var v byte
	for b := 0; b < 5; b++ {
		v <<= 1
		pos := start + b
		if pos >= 0 && u[pos/8]&(0x80>>(pos%8)) != 0 {
			v |= 1
		}
	}
	return v
}

// decodeULID parses 26 Crockford base32 characters.
func decodeULID(s string) (ulid, error) {
	var u ulid
	if len(s) != ulidStrLen {
		return u, fmt.Errorf("%w: id length %d", ErrInvalid, len(s))
	}
	if strings.IndexByte("01234567", s[0]) < 0 {
		return u, fmt.Errorf("%w: id overflows 128 bits", ErrInvalid)
	}
	for i := 0; i < ulidStrLen; i++ {
		v := strings.IndexByte(crockford, upperASCII(s[i]))
		if v < 0 {
			return u, fmt.Errorf("%w: id character %q", ErrInvalid, s[i])
		}
		u.setBits5(i, byte(v))
	}
	return u, nil
}

func (u *ulid) setBits5(i int, v byte) {
	start := i*5 - 2
	for b := 0; b < 5; b++ {
		pos := start + b
		if pos >= 0 && v&(0x10>>b) != 0 {
			u[pos/8] |= 0x80 >> (pos % 8)
		}
	}
}

func upperASCII(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// parseID parses prefix + ULID, e.g. "msg_01J…".
func parseID(prefix, id string) (ulid, error) {
	if !strings.HasPrefix(id, prefix) {
		return ulid{}, fmt.Errorf("%w: id %q lacks prefix %q", ErrInvalid, id, prefix)
	}
	return decodeULID(id[len(prefix):])
}

// formatID renders prefix + ULID.
func formatID(prefix string, u ulid) string { return prefix + u.encode() }

// idGen makes ids that are strictly increasing within one Queue, even within one
// millisecond (the random part is incremented then), so enqueue order is id order.
type idGen struct {
	mu   sync.Mutex
	last ulid
}

func (g *idGen) next(t time.Time) ulid {
	u := newULID(t)
	g.mu.Lock()
	defer g.mu.Unlock()
	if string(u[:6]) <= string(g.last[:6]) {
		u = g.last
		for i := ulidLen - 1; i >= 6; i-- { // +1 on the 80-bit random part
			u[i]++
			if u[i] != 0 {
				break
			}
		}
	}
	g.last = u
	return u
}
