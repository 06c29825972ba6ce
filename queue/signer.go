package queue

// signer.go holds the node's VERP key and makes and checks what it signs (return paths in
// bounce.go, one-click unsubscribe tokens in unsubscribe.go), apart from the Pebble queue so
// that another backend (queue/pgqueue, with the key in its database) signs the same way.

import (
	"fmt"
	"time"
)

// Signer makes and checks VERP return paths and unsubscribe tokens under one key. The Queue
// uses the one made by its first Open; NewSigner makes one from a key kept elsewhere.
type Signer struct {
	verp        verpKey
	maxLifetime time.Duration // untagged return paths: accepted until verp.Created + this
	clock       Clock
}

// NewSigner returns a Signer for key (at least 16 bytes; a node makes 32 random bytes) created at created; untagged return paths of messages older than the key
// are accepted until created + maxLifetime. clock nil means the real clock.
func NewSigner(key []byte, created time.Time, maxLifetime time.Duration, clock Clock) (*Signer, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("queue: VERP key: %w", ErrCorrupt)
	}
	if clock == nil {
		clock = realClock{}
	}
	return &Signer{verp: verpKey{Key: append([]byte(nil), key...), Created: created}, maxLifetime: maxLifetime, clock: clock}, nil
}

// BounceAddress is Signer.BounceAddress under the queue's key.
func (q *Queue) BounceAddress(msgID, domain string) string {
	return q.sign.BounceAddress(msgID, domain)
}

// ParseBounceAddress is Signer.ParseBounceAddress under the queue's key.
func (q *Queue) ParseBounceAddress(addr string) (string, bool) {
	return q.sign.ParseBounceAddress(addr)
}

// UnsubscribeToken is Signer.UnsubscribeToken under the queue's key.
func (q *Queue) UnsubscribeToken(domain, rcpt, msgID string) string {
	return q.sign.UnsubscribeToken(domain, rcpt, msgID)
}

// ParseUnsubscribeToken is Signer.ParseUnsubscribeToken under the queue's key.
func (q *Queue) ParseUnsubscribeToken(tok string) (domain, rcpt, msgID string, ok bool) {
	return q.sign.ParseUnsubscribeToken(tok)
}

var _ ReturnPaths = (*Signer)(nil)
