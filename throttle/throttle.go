// throttle.go: the Limiter, its options and the three calls a door makes per login attempt.
package throttle

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/prometheus/client_golang/prometheus"
)

// Door names where a login attempt came in; it labels the metrics.
type Door string

// The doors that check a secret.
const (
	IMAP Door = "imap"
	SMTP Door = "smtp"
	HTTP Door = "http"
)

// ErrThrottled is what a refused attempt's error matches (errors.Is).
var ErrThrottled = errors.New("throttle: too many failed logins")

// Refusal is the error Check returns for a refused attempt.
type Refusal struct {
	// RetryAfter is how long until this client may try again (HTTP Retry-After); positive.
	RetryAfter time.Duration
	// Account is true when the account is under attack and this client has failed before;
	// false when the client itself is over its threshold.
	Account bool
}

func (r *Refusal) Error() string {
	scope := "client"
	if r.Account {
		scope = "account"
	}
	return fmt.Sprintf("%v (%s, retry after %s)", ErrThrottled, scope, r.RetryAfter)
}

// Is makes errors.Is(r, ErrThrottled) true.
func (r *Refusal) Is(target error) bool { return target == ErrThrottled }

// Clock tells the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Defaults of Options.
const (
	DefaultMaxFailures        = 10
	DefaultBackoff            = time.Second
	DefaultMaxBackoff         = 15 * time.Minute
	DefaultHalfLife           = 10 * time.Minute
	DefaultAccountMaxFailures = 30
	DefaultKnownFor           = 30 * 24 * time.Hour
	DefaultMaxEntries         = 50_000
)

// Options configure a Limiter. Zero values take the defaults above.
type Options struct {
	// MaxFailures from one client (IPv4 address, IPv6 /64) start its refusal.
	MaxFailures int
	// Backoff is the first refusal window; each further failure doubles it.
	Backoff time.Duration
	// MaxBackoff caps the refusal window.
	MaxBackoff time.Duration
	// HalfLife: a failure count halves after each quiet period this long.
	HalfLife time.Duration
	// AccountMaxFailures, summed over all clients, put an account under attack.
	AccountMaxFailures int
	// KnownFor is how long a successful (client, account) pair is remembered.
	KnownFor time.Duration
	// MaxEntries bounds each table (clients, accounts, known pairs).
	MaxEntries int
	// Clock is the time source; nil is the real clock.
	Clock Clock
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Backoff, DefaultBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.HalfLife, DefaultHalfLife)
	def(&o.KnownFor, DefaultKnownFor)
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.AccountMaxFailures <= 0 {
		o.AccountMaxFailures = DefaultAccountMaxFailures
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxBackoff < o.Backoff {
		o.MaxBackoff = o.Backoff
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	return o
}

// account is the key of a login name: a hash, so that a table entry has a fixed size whatever
// name a client sends (IMAP allows 50 KiB). 0 is "no account".
type account uint64

// pair is a (client, account) that logged in.
type pair struct {
	client  client
	account account
}

// Limiter throttles failed logins. It is safe for concurrent use; a nil *Limiter allows
// everything.
type Limiter struct {
	opts    Options
	metrics *metrics

	seed     maphash.Seed // of account keys
	mu       sync.Mutex
	clients  *simplelru.LRU[client, *counter]
	accounts *simplelru.LRU[account, *counter]
	known    *simplelru.LRU[pair, time.Time] // when the pair last logged in
}

// New returns a Limiter.
func New(opts Options) (*Limiter, error) {
	opts = opts.withDefaults()
	l := &Limiter{opts: opts, seed: maphash.MakeSeed()}
	var err error
	if l.clients, err = simplelru.NewLRU[client, *counter](opts.MaxEntries, nil); err != nil {
		return nil, err
	}
	if l.accounts, err = simplelru.NewLRU[account, *counter](opts.MaxEntries, nil); err != nil {
		return nil, err
	}
	if l.known, err = simplelru.NewLRU[pair, time.Time](opts.MaxEntries, nil); err != nil {
		return nil, err
	}
	if l.metrics, err = newMetrics(opts.Registerer, l.sizes); err != nil {
		return nil, err
	}
	return l, nil
}

// Check tells whether a login attempt at door from addr for the login name may have its secret
// checked: nil, or a *Refusal (matching ErrThrottled) to answer at once. name is the login
// name; it may be "" (no account). addr comes from AddrOf or ParseAddr.
func (l *Limiter) Check(door Door, addr netip.Addr, name string) error {
	if l == nil {
		return nil
	}
	now := l.opts.Clock.Now()
	c, acct := keyOf(addr), l.accountOf(name)
	l.mu.Lock()
	defer l.mu.Unlock()
	if acct != 0 && l.isKnown(pair{c, acct}, now) {
		return nil
	}
	cc := l.client(c, now, false)
	if cc == nil {
		return nil
	}
	if now.Before(cc.until) {
		return l.refuse(door, &Refusal{RetryAfter: cc.until.Sub(now)})
	}
	if acct == 0 || !l.underAttack(acct, now) {
		return nil
	}
	// The account is under attack and this client has failed before: its own schedule, as
	// if the threshold were its first failure.
	if wait := cc.lastFail.Add(l.backoff(cc.fails, 1)).Sub(now); wait > 0 {
		return l.refuse(door, &Refusal{RetryAfter: wait, Account: true})
	}
	return nil
}

// Failure records a wrong secret at door from addr for the login name ("" when none was named).
func (l *Limiter) Failure(door Door, addr netip.Addr, name string) {
	if l == nil {
		return
	}
	l.metrics.failures.WithLabelValues(string(door)).Inc()
	now := l.opts.Clock.Now()
	c, acct := keyOf(addr), l.accountOf(name)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	cc := l.client(c, now, true)
	cc.fail(now)
	cc.note(acct)
	if cc.fails >= l.opts.MaxFailures {
		cc.until = now.Add(l.backoff(cc.fails, l.opts.MaxFailures))
		cc.since = cc.until
	}
	if acct == 0 {
		return
	}
	l.known.Remove(pair{c, acct})
	l.account(acct, now, true).fail(now)
}

// Success records a right secret: the (client, account) pair is remembered for KnownFor, and
// the client's count is forgotten when every failure it counts was on this same account (a
// user who mistyped). Failures on other accounts stay: else one valid login, repeated between
// guesses, would reset the count of a client guessing someone else's password. The account's
// count stays too: others may still be attacking it.
func (l *Limiter) Success(door Door, addr netip.Addr, name string) {
	if l == nil {
		return
	}
	now := l.opts.Clock.Now()
	c, acct := keyOf(addr), l.accountOf(name)
	l.mu.Lock()
	defer l.mu.Unlock()
	if cc, ok := l.clients.Peek(c); ok && !cc.mixed && cc.account == acct {
		l.clients.Remove(c)
	}
	if acct != 0 {
		l.known.Add(pair{c, acct}, now)
	}
}

// refuse counts a refusal and returns it. l.mu is held.
func (l *Limiter) refuse(door Door, r *Refusal) error {
	l.metrics.throttled.WithLabelValues(string(door)).Inc()
	return r
}

// backoff is the refusal window after fails failures, threshold being the first to refuse.
func (l *Limiter) backoff(fails, threshold int) time.Duration {
	n := fails - threshold
	if n < 0 {
		return 0
	}
	if n >= 32 || l.opts.Backoff<<n > l.opts.MaxBackoff || l.opts.Backoff<<n <= 0 {
		return l.opts.MaxBackoff
	}
	return l.opts.Backoff << n
}

// isKnown reports whether p logged in within KnownFor. l.mu is held.
func (l *Limiter) isKnown(p pair, now time.Time) bool {
	at, ok := l.known.Get(p)
	if ok && now.Sub(at) >= l.opts.KnownFor {
		l.known.Remove(p)
		return false
	}
	return ok
}

// underAttack reports whether acct's failures reach AccountMaxFailures. l.mu is held.
func (l *Limiter) underAttack(acct account, now time.Time) bool {
	a := l.account(acct, now, false)
	return a != nil && a.fails >= l.opts.AccountMaxFailures
}

// client returns c's decayed counter; nil when it has none and create is false. l.mu is held.
func (l *Limiter) client(c client, now time.Time, create bool) *counter {
	return lookup(l.clients, c, now, l.opts.HalfLife, create)
}

// account is client for accounts. l.mu is held.
func (l *Limiter) account(acct account, now time.Time, create bool) *counter {
	return lookup(l.accounts, acct, now, l.opts.HalfLife, create)
}

func lookup[K comparable](t *simplelru.LRU[K, *counter], k K, now time.Time, halfLife time.Duration, create bool) *counter {
	c, ok := t.Get(k)
	if ok {
		c.decay(now, halfLife)
		if c.idle(now) {
			t.Remove(k)
			ok = false
		}
	}
	if !ok && create {
		c = &counter{since: now}
		t.Add(k, c)
		ok = true
	}
	if !ok {
		return nil
	}
	return c
}

// sweep drops the least recently seen client and account when their counts have decayed to
// nothing, so idle entries leave before the tables fill. l.mu is held.
func (l *Limiter) sweep(now time.Time) {
	if k, c, ok := l.clients.GetOldest(); ok {
		if c.decay(now, l.opts.HalfLife); c.idle(now) {
			l.clients.Remove(k)
		}
	}
	if k, c, ok := l.accounts.GetOldest(); ok {
		if c.decay(now, l.opts.HalfLife); c.idle(now) {
			l.accounts.Remove(k)
		}
	}
}

// sizes reports the table sizes for the gauges.
func (l *Limiter) sizes() (clients, accounts int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clients.Len(), l.accounts.Len()
}

// accountOf is the key of a login name: names compare case-insensitively; "" is 0.
func (l *Limiter) accountOf(name string) account {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return 0
	}
	return account(maphash.String(l.seed, name) | 1)
}

// counter is a decaying failure count.
type counter struct {
	fails    int
	lastFail time.Time
	since    time.Time // decay runs from here: the last failure or the end of the refusal window
	until    time.Time // refused until (clients only)
	account  account   // clients: the account of the first counted failure
	mixed    bool      // clients: counted failures were on more than one account
}

// note records the account of a client's failure.
func (c *counter) note(acct account) {
	if c.fails == 1 {
		c.account, c.mixed = acct, false
	} else if c.account != acct {
		c.mixed = true
	}
}

// fail counts one failure at now.
func (c *counter) fail(now time.Time) {
	c.fails++
	c.lastFail = now
	c.since = now
}

// decay halves the count for every whole HalfLife since c.since.
func (c *counter) decay(now time.Time, halfLife time.Duration) {
	quiet := now.Sub(c.since)
	if quiet < halfLife || c.fails == 0 {
		return
	}
	n := quiet / halfLife
	if n >= 63 {
		c.fails = 0
	} else {
		c.fails >>= n
	}
	c.since = c.since.Add(n * halfLife)
}

// idle reports whether c holds nothing worth keeping.
func (c *counter) idle(now time.Time) bool { return c.fails == 0 && !now.Before(c.until) }
