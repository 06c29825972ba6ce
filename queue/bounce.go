package queue

import (
	"strings"
	"time"
)

// NewMessageID returns a fresh message id ("msg_" + a ULID for t). A caller that must know the
// id before Enqueue (submission signs the VERP return path into the message) sets Message.ID
// to it; Enqueue refuses an id that already exists.
func NewMessageID(t time.Time) string { return formatID(prefixMsg, newULID(t)) }

// bouncePrefix starts the local part of every VERP return path.
const bouncePrefix = "bounce+"

// BounceAddress is the VERP return path of message msgID sent from domain:
// bounce+<msg_id>@<domain>. A DSN sent to it names the message it reports on; inbound turns it
// into a "bounced" event on that message.
func BounceAddress(msgID, domain string) string {
	return bouncePrefix + msgID + "@" + strings.ToLower(domain)
}

// ParseBounceAddress returns the message id in a return path made by BounceAddress. Relays
// that change the case of local parts are tolerated: the id comes back in canonical form.
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
	if len(id) < len(prefixMsg) || !strings.EqualFold(id[:len(prefixMsg)], prefixMsg) {
		return "", false
	}
	u := strings.ToUpper(id[len(prefixMsg):])
	if !canonicalULID(u) {
		return "", false
	}
	return prefixMsg + u, true
}

// canonicalULID reports whether s is 26 upper-case Crockford base32 characters whose value
// fits in 128 bits (the first character at most '7').
func canonicalULID(s string) bool {
	if len(s) != ulidStrLen || s[0] > '7' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(crockford, s[i]) < 0 {
			return false
		}
	}
	return true
}
