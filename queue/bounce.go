package queue

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// NewMessageID returns a fresh message id ("msg_" + a ULID for t). A caller that must know the
// id before Enqueue (submission signs the VERP return path into the message) sets Message.ID
// to it; Enqueue refuses an id that already exists.
func NewMessageID(t time.Time) string { return formatID(prefixMsg, newULID(t)) }

// NewApprovalID returns a fresh approval id ("apr_" + a ULID for t), for a caller that must
// name the approval in the message before Enqueue (the identity header of a send an approval
// rule releases); it sets Message.Approval.ID to it.
func NewApprovalID(t time.Time) string { return formatID(prefixApproval, newULID(t)) }

// bouncePrefix starts the local part of every VERP return path.
const bouncePrefix = "bounce+"

// verpTagLen is the length of the tag: 10 bytes of HMAC-SHA256 in base32 (80 bits).
const verpTagLen = 16

// verpKey is the node's VERP key, made on the first Open after the upgrade that introduced
// tags; Created tells which untagged return paths may still be genuine.
type verpKey struct {
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
}

const verpKeyName = "verp"

// loadVERPKey reads the VERP key, making and storing it (synced) on first use.
func (q *Queue) loadVERPKey() error {
	var k verpKey
	err := q.get(secretKey(verpKeyName), &k)
	if errors.Is(err, ErrNotFound) {
		k = verpKey{Key: make([]byte, 32), Created: q.clock.Now().UTC()}
		if _, err := rand.Read(k.Key); err != nil {
			return err
		}
		if err := q.db.Set(secretKey(verpKeyName), encodeValue(k), pebble.Sync); err != nil {
			return fmt.Errorf("queue: store VERP key: %w", err)
		}
		q.sign = Signer{verp: k, maxLifetime: q.opts.MaxLifetime, clock: q.clock}
		return nil
	}
	if err != nil {
		return err
	}
	if len(k.Key) < 16 {
		return fmt.Errorf("queue: VERP key: %w", ErrCorrupt)
	}
	q.sign = Signer{verp: k, maxLifetime: q.opts.MaxLifetime, clock: q.clock}
	return nil
}

// verpTag is the HMAC tag of msgID (canonical form): base32 without padding, lower-case,
// compared case-insensitively because relays may change the case of local parts.
func (s *Signer) verpTag(msgID string) string {
	m := hmac.New(sha256.New, s.verp.Key)
	m.Write([]byte("multimail verp v1\x00" + msgID))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(m.Sum(nil)[:10]))
}

// BounceAddress is the VERP return path of message msgID sent from domain:
// bounce+<msg_id>.<tag>@<domain>, where tag is an HMAC of the id under the node's VERP key.
// A DSN sent to it names the message it reports on; inbound turns it into a "bounced" event
// on that message. Without the key a forger who knows a message id cannot make the address.
func (s *Signer) BounceAddress(msgID, domain string) string {
	return bouncePrefix + msgID + "." + s.verpTag(msgID) + "@" + strings.ToLower(domain)
}

// ParseBounceAddress returns the message id a return path made by BounceAddress names, if its
// tag verifies. Relays that change the case of local parts are tolerated: the id comes back
// in canonical form. An untagged return path (bounce+<msg_id>@, the format before tags) is
// accepted only for a message created before the key, and only until MaxLifetime after the
// key was made: after that no such message can still be in flight.
func (s *Signer) ParseBounceAddress(addr string) (msgID string, ok bool) {
	id, tag, ok := parseBounceAddress(addr)
	if !ok {
		return "", false
	}
	if tag == "" {
		u, _ := parseID(prefixMsg, id)
		legacy := u.time().Before(s.verp.Created) &&
			s.clock.Now().Before(s.verp.Created.Add(s.maxLifetime))
		return id, legacy
	}
	want := s.verpTag(id)
	return id, hmac.Equal([]byte(strings.ToLower(tag)), []byte(want))
}

// parseBounceAddress splits a VERP return path into the canonical message id and the tag
// ("" when untagged), checking only the syntax.
func parseBounceAddress(addr string) (msgID, tag string, ok bool) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", "", false
	}
	local := addr[:at]
	if len(local) < len(bouncePrefix) || !strings.EqualFold(local[:len(bouncePrefix)], bouncePrefix) {
		return "", "", false
	}
	id := local[len(bouncePrefix):]
	if i := strings.IndexByte(id, '.'); i >= 0 {
		id, tag = id[:i], id[i+1:]
		if len(tag) != verpTagLen {
			return "", "", false
		}
	}
	if len(id) < len(prefixMsg) || !strings.EqualFold(id[:len(prefixMsg)], prefixMsg) {
		return "", "", false
	}
	u := strings.ToUpper(id[len(prefixMsg):])
	if !canonicalULID(u) {
		return "", "", false
	}
	return prefixMsg + u, tag, true
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
