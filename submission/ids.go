package submission

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

// crockford is Crockford's base32 alphabet, the one ULIDs use (no I, L, O, U).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// msgIDPrefix and ulidLen give the queue's message id form: "msg_" + 26 chars.
const (
	msgIDPrefix = "msg_"
	ulidLen     = 26
)

// newMessageID returns a queue message id, "msg_" + a ULID (48-bit millisecond time, 80 random
// bits, Crockford base32), the form queue.Enqueue would assign. We assign it ourselves because
// the VERP return path, signed into the message, must carry it before the enqueue.
func newMessageID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails (Go 1.24+)
	return msgIDPrefix + encodeULID(b)
}

// encodeULID encodes 128 bits as 26 Crockford base32 characters, most significant first.
func encodeULID(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [ulidLen]byte
	for i := ulidLen - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// validULID reports whether s is 26 Crockford base32 characters (upper case) whose first
// character keeps the value within 128 bits.
func validULID(s string) bool {
	if len(s) != ulidLen || s[0] > '7' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(crockford, s[i]) < 0 {
			return false
		}
	}
	return true
}

// bouncePrefix starts the local part of every VERP return path.
const bouncePrefix = "bounce+"

// BounceAddress is the VERP return path of message msgID sent from domain:
// bounce+<msg_id>@<domain>. A DSN sent to it names the message it reports on.
func BounceAddress(msgID, domain string) string {
	return bouncePrefix + msgID + "@" + strings.ToLower(domain)
}

// ParseBounceAddress returns the message id in a VERP return path made by BounceAddress. Relays
// that change the case of local parts are tolerated: the id comes back in its canonical form.
func ParseBounceAddress(addr string) (msgID string, ok bool) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", false
	}
	local := addr[:at]
	if len(local) < len(bouncePrefix) || !strings.EqualFold(local[:len(bouncePrefix)], bouncePrefix) {
		return "", false
	}
	id := local[len(bouncePrefix):]
	if len(id) < len(msgIDPrefix) || !strings.EqualFold(id[:len(msgIDPrefix)], msgIDPrefix) {
		return "", false
	}
	ulid := strings.ToUpper(id[len(msgIDPrefix):])
	if !validULID(ulid) {
		return "", false
	}
	return msgIDPrefix + ulid, true
}
