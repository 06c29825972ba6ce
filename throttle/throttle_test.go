package throttle

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newLimiter is a Limiter with small, round numbers: 5 failures, 1 s doubling to 60 s, half
// life 10 min, 20 account failures.
func newLimiter(t *testing.T, clock Clock, mod func(*Options)) *Limiter {
	t.Helper()
	o := Options{MaxFailures: 5, Backoff: time.Second, MaxBackoff: time.Minute, HalfLife: 10 * time.Minute,
		AccountMaxFailures: 20, Clock: clock}
	if mod != nil {
		mod(&o)
	}
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var (
	attacker = netip.MustParseAddr("192.0.2.1")
	owner    = netip.MustParseAddr("198.51.100.7")
)

// retryAfter is Check's refusal window, 0 when allowed.
func retryAfter(t *testing.T, l *Limiter, a netip.Addr, account string) time.Duration {
	t.Helper()
	err := l.Check(IMAP, a, account)
	if err == nil {
		return 0
	}
	var r *Refusal
	if !errors.As(err, &r) || !errors.Is(err, ErrThrottled) {
		t.Fatalf("Check: %v, want a *Refusal matching ErrThrottled", err)
	}
	if r.RetryAfter <= 0 {
		t.Fatalf("refusal with RetryAfter %v", r.RetryAfter)
	}
	return r.RetryAfter
}

// fail records n failures of a on account, each after an allowed Check.
func fail(t *testing.T, l *Limiter, a netip.Addr, account string, n int) {
	t.Helper()
	for i := range n {
		if d := retryAfter(t, l, a, account); d != 0 {
			t.Fatalf("failure %d of %d refused (retry after %v)", i+1, n, d)
		}
		l.Failure(IMAP, a, account)
	}
}

func TestThresholdAndBackoff(t *testing.T) {
	t.Parallel()
	clock := newClock()
	l := newLimiter(t, clock, nil)
	fail(t, l, attacker, "a@x", 4)
	if d := retryAfter(t, l, attacker, "a@x"); d != 0 {
		t.Fatalf("refused after 4 failures (retry %v); the threshold is 5", d)
	}
	l.Failure(IMAP, attacker, "a@x") // 5th: refusals start
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if d := retryAfter(t, l, attacker, "other@x"); d != w {
			t.Fatalf("window %d: retry after %v, want %v", i, d, w)
		}
		clock.advance(w - time.Millisecond)
		if d := retryAfter(t, l, attacker, "a@x"); d != time.Millisecond {
			t.Fatalf("window %d: just before its end retry after %v, want 1ms", i, d)
		}
		clock.advance(time.Millisecond)
		fail(t, l, attacker, "a@x", 1) // the one guess the window's end allows
	}
}

func TestDecay(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		fails int
		quiet time.Duration
		more  int // further failures allowed before the refusal starts
	}{
		{"no quiet time", 4, 0, 1},
		{"just under a half life", 4, 10*time.Minute - time.Second, 1},
		{"one half life halves", 4, 10 * time.Minute, 3},
		{"two half lives", 4, 20 * time.Minute, 4},
		{"forgotten", 4, 30 * time.Minute, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			l := newLimiter(t, clock, nil)
			fail(t, l, attacker, "a@x", tc.fails)
			clock.advance(tc.quiet)
			fail(t, l, attacker, "a@x", tc.more)
			if retryAfter(t, l, attacker, "a@x") == 0 {
				t.Fatalf("not refused after %d more failures", tc.more)
			}
		})
	}
}

// TestDecayStartsAfterWindow: a refusal window does not count as quiet time, so waiting out
// the window does not shrink the next one.
func TestDecayStartsAfterWindow(t *testing.T) {
	t.Parallel()
	clock := newClock()
	l := newLimiter(t, clock, func(o *Options) { o.MaxBackoff = time.Hour; o.HalfLife = time.Minute })
	fail(t, l, attacker, "a@x", 5)
	for range 8 { // windows 1 s … 128 s, longer than the half life
		clock.advance(retryAfter(t, l, attacker, "a@x"))
		fail(t, l, attacker, "a@x", 1)
	}
	if d := retryAfter(t, l, attacker, "a@x"); d != 256*time.Second {
		t.Fatalf("retry after %v, want 256s", d)
	}
	clock.advance(256*time.Second + 2*time.Minute) // two quiet half lives: 13 -> 3 failures
	fail(t, l, attacker, "a@x", 1)
	if d := retryAfter(t, l, attacker, "a@x"); d != 0 {
		t.Fatalf("refused after decay (retry %v)", d)
	}
}

func TestSuccessResets(t *testing.T) {
	t.Parallel()
	clock := newClock()
	l := newLimiter(t, clock, nil)
	fail(t, l, owner, "a@x", 4)
	l.Success(IMAP, owner, "a@x")
	fail(t, l, owner, "b@x", 4) // a fresh count: 4 more do not reach 5
	l.Failure(IMAP, owner, "b@x")
	if retryAfter(t, l, owner, "b@x") == 0 {
		t.Fatal("5 failures after the success not refused")
	}
}

// TestSuccessElsewhereKeepsCount: logging in to one's own account between guesses at another
// does not reset the count.
func TestSuccessElsewhereKeepsCount(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, newClock(), nil)
	for i := range 5 {
		if d := retryAfter(t, l, attacker, "victim@x"); d != 0 {
			t.Fatalf("guess %d refused", i+1)
		}
		l.Failure(IMAP, attacker, "victim@x")
		l.Success(IMAP, attacker, "mine@x")
	}
	if retryAfter(t, l, attacker, "victim@x") == 0 {
		t.Fatal("5 guesses interleaved with logins to another account not refused")
	}
}

// TestNoLockout is the property the account rules exist for: a spray of one account from many
// addresses slows those addresses on it, never the owner.
func TestNoLockout(t *testing.T) {
	t.Parallel()
	clock := newClock()
	l := newLimiter(t, clock, nil)
	const victim = "Victim@X"
	home := netip.MustParseAddr("203.0.113.9")
	l.Success(IMAP, home, "victim@x") // the owner logged in from home last week
	clock.advance(7 * 24 * time.Hour)
	for i := range 50 { // 50 addresses, one guess each: the account is under attack
		a := netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i % 256)})
		fail(t, l, a, victim, 1)
	}
	spray := netip.AddrFrom4([4]byte{10, 0, 0, 1})
	if d := retryAfter(t, l, spray, victim); d != time.Second {
		t.Fatalf("a spraying address may guess again at once (retry %v), want 1s", d)
	}
	if d := retryAfter(t, l, spray, "someone-else@x"); d != 0 {
		t.Fatalf("a spraying address refused on another account (retry %v)", d)
	}
	if d := retryAfter(t, l, owner, victim); d != 0 {
		t.Fatalf("a fresh address refused on the sprayed account (retry %v)", d)
	}
	if d := retryAfter(t, l, home, victim); d != 0 {
		t.Fatalf("the owner's known address refused (retry %v)", d)
	}
	// The owner's address shares a NAT with an attacker who burns its threshold on other
	// accounts: the known pair still passes, other accounts from there do not.
	fail(t, l, home, "other@x", 5)
	if d := retryAfter(t, l, home, victim); d != 0 {
		t.Fatalf("known pair refused behind a refused address (retry %v)", d)
	}
	if retryAfter(t, l, home, "third@x") == 0 {
		t.Fatal("a refused address passes for an account it never logged in to")
	}
	// A failure of the known pair forgets it: no free guesses for a NAT neighbour.
	l.Failure(IMAP, home, victim)
	if retryAfter(t, l, home, victim) == 0 {
		t.Fatal("a known pair that failed still passes a refused address")
	}
}

func TestKnownPairExpires(t *testing.T) {
	t.Parallel()
	clock := newClock()
	l := newLimiter(t, clock, func(o *Options) { o.KnownFor = time.Hour; o.HalfLife = 24 * time.Hour })
	l.Success(SMTP, owner, "a@x")
	fail(t, l, owner, "b@x", 5)
	if d := retryAfter(t, l, owner, "a@x"); d != 0 {
		t.Fatalf("known pair refused (retry %v)", d)
	}
	clock.advance(time.Hour)
	l.Failure(SMTP, owner, "b@x") // keep the window open: 2 s
	if retryAfter(t, l, owner, "a@x") == 0 {
		t.Fatal("a pair known an hour ago still passes")
	}
}

func TestBoundedTables(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, newClock(), func(o *Options) { o.MaxEntries = 64 })
	for i := range 10_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Failure(HTTP, a, fmt.Sprintf("user%d@x", i))
		l.Success(HTTP, a, fmt.Sprintf("user%d@x", i))
		l.Failure(HTTP, a, fmt.Sprintf("user%d@x", i))
	}
	if c, a := l.sizes(); c > 64 || a > 64 || l.known.Len() > 64 {
		t.Fatalf("tables hold %d clients, %d accounts, %d pairs; the bound is 64", c, a, l.known.Len())
	}
}

// TestAccountNames: names compare case-insensitively without surrounding space, and an
// attacker's 50 KiB login names take a fixed-size key each.
func TestAccountNames(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, newClock(), nil)
	l.Failure(IMAP, attacker, " MiXed@Example.COM ")
	if _, ok := l.accounts.Peek(l.accountOf("mixed@example.com")); !ok || l.accountOf("") != 0 {
		t.Fatal("account names are not trimmed and lower-cased")
	}
	long := strings.Repeat("A", 50<<10)
	if l.accountOf(long) == l.accountOf(long+"B") || l.accountOf(long) == 0 {
		t.Fatal("long names collide")
	}
}

func TestIdleEntriesLeave(t *testing.T) {
	t.Parallel()
	clock := newClock()
	l := newLimiter(t, clock, nil)
	for i := range 100 {
		l.Failure(IMAP, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), "a@x")
	}
	clock.advance(24 * time.Hour)
	for range 200 { // every failure sweeps the oldest entry when it has decayed
		l.Failure(IMAP, attacker, "a@x")
	}
	if c, a := l.sizes(); c != 1 || a != 1 {
		t.Fatalf("%d clients, %d accounts tracked, want 1 and 1", c, a)
	}
}

func TestClientKeys(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		a, b string
		same bool
	}{
		{"same IPv4", "192.0.2.1", "192.0.2.1", true},
		{"IPv4 neighbours", "192.0.2.1", "192.0.2.2", false},
		{"IPv4-mapped", "::ffff:192.0.2.1", "192.0.2.1", true},
		{"same /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"next /64", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"zone ignored", "fe80::1%eth0", "fe80::2", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLimiter(t, newClock(), nil)
			fail(t, l, netip.MustParseAddr(tc.a), "a@x", 5)
			refused := retryAfter(t, l, netip.MustParseAddr(tc.b), "a@x") != 0
			if refused != tc.same {
				t.Fatalf("%s after 5 failures of %s: refused %v, want %v", tc.b, tc.a, refused, tc.same)
			}
		})
	}
}

func TestAddrOf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   net.Addr
		want string
	}{
		{"tcp v4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 1}, "127.0.0.2"},
		{"tcp v6", &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 1}, "2001:db8::1"},
		{"unix", &net.UnixAddr{Name: "/tmp/s", Net: "unix"}, "invalid IP"},
		{"nil", nil, "invalid IP"},
	}
	for _, tc := range cases {
		if got := AddrOf(tc.in).String(); got != tc.want {
			t.Errorf("%s: AddrOf = %s, want %s", tc.name, got, tc.want)
		}
	}
	for in, want := range map[string]string{"127.0.0.1:80": "127.0.0.1", "[::1]:80": "::1",
		"10.1.1.1": "10.1.1.1", "@": "invalid IP", "[::ffff:10.0.0.1]:5": "10.0.0.1"} {
		if got := ParseAddr(in).String(); got != want {
			t.Errorf("ParseAddr(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestNilLimiter(t *testing.T) {
	t.Parallel()
	var l *Limiter
	l.Failure(IMAP, attacker, "a@x")
	l.Success(IMAP, attacker, "a@x")
	if err := l.Check(IMAP, attacker, "a@x"); err != nil {
		t.Fatal(err)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	l := newLimiter(t, newClock(), func(o *Options) { o.Registerer = reg })
	fail(t, l, attacker, "a@x", 5)
	l.Failure(SMTP, owner, "")
	_ = l.Check(HTTP, attacker, "")
	_ = l.Check(HTTP, attacker, "")
	want := `
# HELP multimail_auth_failures_total Failed logins (wrong password or API key), by door (imap, smtp, http).
# TYPE multimail_auth_failures_total counter
multimail_auth_failures_total{door="imap"} 5
multimail_auth_failures_total{door="smtp"} 1
# HELP multimail_auth_throttle_accounts Accounts with failed logins being tracked.
# TYPE multimail_auth_throttle_accounts gauge
multimail_auth_throttle_accounts 1
# HELP multimail_auth_throttle_clients Clients (IPv4 addresses, IPv6 /64s) with failed logins being tracked.
# TYPE multimail_auth_throttle_clients gauge
multimail_auth_throttle_clients 2
# HELP multimail_auth_throttled_total Login attempts refused by the failed-login throttle without checking the secret, by door.
# TYPE multimail_auth_throttled_total counter
multimail_auth_throttled_total{door="http"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrent exercises the lock under -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, newClock(), func(o *Options) { o.MaxEntries = 16 })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				a := netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i)})
				_ = l.Check(SMTP, a, "a@x")
				l.Failure(SMTP, a, "a@x")
				if i%7 == 0 {
					l.Success(SMTP, a, "a@x")
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkRefusal is the cost of refusing a throttled client: what an attack costs the
// server per attempt once it is over the limit.
func BenchmarkRefusal(b *testing.B) {
	l, err := New(Options{Clock: newClock()})
	if err != nil {
		b.Fatal(err)
	}
	for range DefaultMaxFailures {
		l.Failure(IMAP, attacker, "a@x")
	}
	for b.Loop() {
		if l.Check(IMAP, attacker, "a@x") == nil {
			b.Fatal("not refused")
		}
	}
}

// BenchmarkFailureSpray is the cost of recording failures from ever new addresses and names
// with the tables full.
func BenchmarkFailureSpray(b *testing.B) {
	l, err := New(Options{Clock: newClock(), MaxEntries: 1000})
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Failure(SMTP, a, "user"+strconv.Itoa(i))
	}
}
