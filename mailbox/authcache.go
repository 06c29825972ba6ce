package mailbox

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// DefaultAuthCacheTTL is how long a verified password spares the next login its bcrypt.
const DefaultAuthCacheTTL = 60 * time.Second

// maxAuthCache bounds the cache; past it, expired entries go, then everything.
const maxAuthCache = 10000

// authCache remembers, per mailbox, that a password was verified a moment ago, so that a
// client opening five IMAP connections pays one bcrypt, not five. It holds no secret: an
// entry is an HMAC of the password under a key drawn at start (and never stored), the
// bcrypt hash it was checked against (so a changed password never matches), and an expiry.
// Only successes are cached; failures always pay the bcrypt, and the login throttle
// (package throttle) runs before the store is asked. UpdateMailbox (password change) flushes
// the mailbox's entry, DeleteAPIKey (revoke) and a restart flush all.
type authCache struct {
	ttl time.Duration
	now func() time.Time
	key [32]byte

	mu sync.Mutex
	m  map[string]authEntry
}

type authEntry struct {
	mac    [32]byte
	pwHash string
	until  time.Time
}

func newAuthCache(ttl time.Duration, now func() time.Time) *authCache {
	c := &authCache{ttl: ttl, now: now, m: make(map[string]authEntry)}
	if _, err := rand.Read(c.key[:]); err != nil {
		c.ttl = -1 // no key, no cache
	}
	return c
}

func (c *authCache) mac(addr, secret string) [32]byte {
	h := hmac.New(sha256.New, c.key[:])
	h.Write([]byte(addr))
	h.Write([]byte{0})
	h.Write([]byte(secret))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// ok reports whether secret was verified against pwHash for addr within the TTL.
func (c *authCache) ok(addr, pwHash, secret string) bool {
	if c == nil || c.ttl <= 0 || pwHash == "" {
		return false
	}
	mac := c.mac(addr, secret)
	c.mu.Lock()
	e, found := c.m[addr]
	c.mu.Unlock()
	if !found || !c.now().Before(e.until) || e.pwHash != pwHash {
		return false
	}
	return hmac.Equal(e.mac[:], mac[:])
}

// put records a successful bcrypt check of secret against pwHash.
func (c *authCache) put(addr, pwHash, secret string) {
	if c == nil || c.ttl <= 0 || pwHash == "" {
		return
	}
	e := authEntry{mac: c.mac(addr, secret), pwHash: pwHash, until: c.now().Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxAuthCache {
		now := c.now()
		for k, v := range c.m {
			if !now.Before(v.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxAuthCache {
			clear(c.m)
		}
	}
	c.m[addr] = e
}

// flush forgets addr's entry, or every entry when addr is "".
func (c *authCache) flush(addr string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if addr == "" {
		clear(c.m)
		return
	}
	delete(c.m, addr)
}
