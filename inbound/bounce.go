package inbound

import "strings"

// The VERP return path format. It is the same format as submission.BounceAddress, which
// writes it (inbound may not import submission, DESIGN.md): bounce+<msg_id>@<domain>, with
// msg_id "msg_" and a 26-character Crockford base32 ULID.
const (
	bouncePrefix = "bounce+"
	msgIDPrefix  = "msg_"
	ulidLen      = 26
	crockford    = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)

// ParseBounceAddress returns the queue message id carried by a VERP return path
// bounce+<msg_id>@<domain>. Relays that change the case of local parts are tolerated: the id
// comes back in its canonical form ("msg_" and upper case).
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
	u := strings.ToUpper(id[len(msgIDPrefix):])
	if !validULID(u) {
		return "", false
	}
	return msgIDPrefix + u, true
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
