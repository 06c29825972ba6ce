package mailbox

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// core is what both stores share: options, ID and UIDVALIDITY generators and
// the watcher hub.
type core struct {
	opts     Options
	ids      idGen
	validity validityGen
	hub      *hub
	auth     *authCache
}

func newCore(opts Options) core {
	opts = opts.withDefaults()
	return core{
		opts:     opts,
		ids:      idGen{now: opts.Now},
		validity: validityGen{now: opts.Now},
		hub:      newHub(opts.WatchBuffer),
		auth:     newAuthCache(opts.AuthCacheTTL, opts.Now),
	}
}

// Watch implements Store for both stores.
func (c *core) Watch(ctx context.Context, mailbox string) <-chan Change {
	a, err := normalizeAddress(mailbox)
	if err != nil {
		a = mailbox // nothing is ever published for it; closes with ctx
	}
	return c.hub.watch(ctx, a)
}

// validityGen hands out UIDVALIDITY values: the current Unix time in seconds,
// but always above every value handed out or seen before, so a folder deleted
// and recreated in the same second still gets a new one (RFC 9051 §2.3.1.1).
type validityGen struct {
	mu   sync.Mutex
	now  func() time.Time
	last uint32
}

func (g *validityGen) next() uint32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := uint32(g.now().Unix())
	if v <= g.last {
		v = g.last + 1
	}
	g.last = v
	return v
}

// observe records a value loaded from storage.
func (g *validityGen) observe(v uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.last = max(g.last, v)
}

// newEmail validates a delivery and builds its Email, without placement
// (Folder, UID, ModSeq).
func (c *core) newEmail(ctx context.Context, mailbox string, raw []byte, o DeliverOptions) (Email, ulid, summary, error) {
	if err := ctx.Err(); err != nil {
		return Email{}, ulid{}, summary{}, err
	}
	addr, err := normalizeAddress(mailbox)
	if err != nil {
		return Email{}, ulid{}, summary{}, err
	}
	e := Email{Mailbox: addr, InternalDate: o.InternalDate, Size: int64(len(raw)), Pending: o.Pending}
	if _, err := applyFlags(&e, slices.Concat(o.Flags, o.Keywords), nil); err != nil {
		return Email{}, ulid{}, summary{}, err
	}
	if e.InternalDate.IsZero() {
		e.InternalDate = c.opts.Now()
	}
	e.InternalDate = e.InternalDate.Round(0)
	sum := parseSummary(raw)
	sum.fill(&e)
	id := c.ids.next()
	e.ID = id.String()
	return e, id, sum, nil
}

// checkAuth decides Authenticate once the mailbox and the API key stored
// under the secret's hash (nil if none) are loaded: a key scoped to the
// mailbox is accepted at the cost of one SHA-256; otherwise the secret must be
// the password (bcrypt, constant time). An empty secret never matches.
func checkAuth(m Mailbox, secret string, key *APIKey, need []string) bool {
	if secret == "" {
		return false
	}
	if key != nil && sameHash(key.Hash, HashAPIKey(secret)) && key.AllowsMailbox(m.Address) {
		usable := UsableScopes(key.Scopes)
		for _, s := range need {
			if !ScopeHeld(usable, s) {
				return false // the key is right but may not do what this door does
			}
		}
		return true
	}
	return checkPassword(m.PasswordHash, secret)
}

// checkAuthCached is checkAuth with the login cache in front of the password's bcrypt.
func (c *core) checkAuthCached(m Mailbox, secret string, key *APIKey, need []string) bool {
	if secret != "" && (key == nil || !sameHash(key.Hash, HashAPIKey(secret))) && c.auth.ok(m.Address, m.PasswordHash, secret) {
		return true
	}
	if !checkAuth(m, secret, key, need) {
		return false
	}
	if key == nil || !sameHash(key.Hash, HashAPIKey(secret)) || !key.AllowsMailbox(m.Address) {
		c.auth.put(m.Address, m.PasswordHash, secret) // it was the password
	}
	return true
}

// prepareDomain validates and completes a Domain for AddDomain.
func (c *core) prepareDomain(d Domain) (Domain, error) {
	name, err := normalizeDomain(d.Name)
	if err != nil {
		return Domain{}, err
	}
	d.Name = name
	if d.DKIMSelector == "" {
		d.DKIMSelector = DefaultDKIMSelector
	}
	if d.Created.IsZero() {
		d.Created = c.opts.Now()
	}
	d.DKIMKeyPEM = bytes.Clone(d.DKIMKeyPEM)
	d.IdentityKeys = cloneIdentityKeys(d.IdentityKeys)
	return d, nil
}

// prepareMailbox validates and completes a Mailbox for AddMailbox/UpdateMailbox.
func (c *core) prepareMailbox(m Mailbox) (Mailbox, error) {
	addr, err := normalizeAddress(m.Address)
	if err != nil {
		return Mailbox{}, err
	}
	m.Address = addr
	if m.Oversight, err = ParseOversight(string(m.Oversight)); err != nil {
		return Mailbox{}, err
	}
	if m.OversightAddress != "" {
		if m.OversightAddress, err = normalizeAddress(m.OversightAddress); err != nil {
			return Mailbox{}, fmt.Errorf("oversight address: %w", err)
		}
	}
	if m.Created.IsZero() {
		m.Created = c.opts.Now()
	}
	return m, nil
}

// prepareAPIKey validates and completes an APIKey for AddAPIKey.
func (c *core) prepareAPIKey(k APIKey) (APIKey, error) {
	if _, err := hex.DecodeString(k.Hash); err != nil || len(k.Hash) != 64 {
		return APIKey{}, fmt.Errorf("mailbox: API key hash must be 64 hex characters")
	}
	k.Hash = strings.ToLower(k.Hash)
	check := CheckScopes
	if k.Test {
		check = CheckTestScopes
	}
	if err := check(k.Scopes); err != nil {
		return APIKey{}, err
	}
	if k.ID == "" {
		k.ID = newKeyID()
	}
	mbs := make([]string, 0, len(k.Mailboxes))
	for _, m := range k.Mailboxes {
		if m == "*" {
			mbs = append(mbs, m)
			continue
		}
		a, err := normalizeAddress(m)
		if err != nil {
			return APIKey{}, err
		}
		mbs = append(mbs, a)
	}
	k.Mailboxes = mbs
	if k.Created.IsZero() {
		k.Created = c.opts.Now()
	}
	return k, nil
}

// cloneIdentityKeys deep-copies keys (nil stays nil).
func cloneIdentityKeys(keys []IdentityKey) []IdentityKey {
	if keys == nil {
		return nil
	}
	out := make([]IdentityKey, len(keys))
	for i, k := range keys {
		k.KeyPEM = bytes.Clone(k.KeyPEM)
		out[i] = k
	}
	return out
}

// checkQuota refuses a message of size bytes that would take usage over quota (0 = none).
func checkQuota(u Usage, size, quota int64) error {
	if quota > 0 && u.Bytes+size > quota {
		return fmt.Errorf("%d bytes in use, %d more, quota %d: %w", u.Bytes, size, quota, ErrOverQuota)
	}
	return nil
}
