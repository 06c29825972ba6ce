package dnsclient

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCacheLifetimes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cfg    Config
		answer func(t testing.TB, req *dns.Msg) *dns.Msg
		kept   time.Duration // cached for this long exactly; 0: not cached
		err    bool          // Query fails
	}{
		{"answer: min TTL of the RRset", Config{}, func(t testing.TB, req *dns.Msg) *dns.Msg {
			m := reply(req, dns.RcodeSuccess)
			m.Answer = []dns.RR{rr(t, "a.test. 300 IN A 192.0.2.1"), rr(t, "a.test. 120 IN A 192.0.2.2")}
			return m
		}, 120 * time.Second, false},
		{"answer: TTL capped", Config{MaxTTL: time.Hour}, func(t testing.TB, req *dns.Msg) *dns.Msg {
			m := reply(req, dns.RcodeSuccess)
			m.Answer = []dns.RR{rr(t, "a.test. 86400 IN A 192.0.2.1")}
			return m
		}, time.Hour, false},
		{"answer: TTL 0 not cached", Config{}, func(t testing.TB, req *dns.Msg) *dns.Msg {
			m := reply(req, dns.RcodeSuccess)
			m.Answer = []dns.RR{rr(t, "a.test. 0 IN A 192.0.2.1")}
			return m
		}, 0, false},
		{"NXDOMAIN: SOA MINIMUM below SOA TTL", Config{}, func(t testing.TB, req *dns.Msg) *dns.Msg {
			m := reply(req, dns.RcodeNameError)
			m.Ns = []dns.RR{soa(t, 300, 30)}
			return m
		}, 30 * time.Second, false},
		{"NODATA: SOA TTL below SOA MINIMUM", Config{}, func(t testing.TB, req *dns.Msg) *dns.Msg {
			m := reply(req, dns.RcodeSuccess)
			m.Ns = []dns.RR{soa(t, 45, 3600)}
			return m
		}, 45 * time.Second, false},
		{"negative: capped", Config{MaxNegativeTTL: time.Minute}, func(t testing.TB, req *dns.Msg) *dns.Msg {
			m := reply(req, dns.RcodeNameError)
			m.Ns = []dns.RR{soa(t, 86400, 86400)}
			return m
		}, time.Minute, false},
		{"negative without SOA: not cached", Config{}, func(t testing.TB, req *dns.Msg) *dns.Msg {
			return reply(req, dns.RcodeNameError)
		}, 0, false},
		{"SERVFAIL: briefly", Config{ServFailTTL: 10 * time.Second}, func(t testing.TB, req *dns.Msg) *dns.Msg {
			return reply(req, dns.RcodeServerFailure)
		}, 10 * time.Second, true},
		{"REFUSED: briefly", Config{}, func(t testing.TB, req *dns.Msg) *dns.Msg {
			return reply(req, dns.RcodeRefused)
		}, 10 * time.Second, true},
		{"SERVFAIL: not cached when off", Config{ServFailTTL: -1}, func(t testing.TB, req *dns.Msg) *dns.Msg {
			return reply(req, dns.RcodeServerFailure)
		}, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := startUpstream(t, func(req *dns.Msg, _ bool) *dns.Msg { return tc.answer(t, req) })
			c, clk, _ := newTestClient(t, tc.cfg, u.addr)
			ask := func() {
				t.Helper()
				_, err := c.Query(context.Background(), Question{Name: "a.test", Type: dns.TypeA})
				if (err != nil) != tc.err {
					t.Fatalf("Query err = %v, want error %v", err, tc.err)
				}
				var de *net.DNSError
				if err != nil && (!errors.As(err, &de) || !de.IsTemporary || de.IsNotFound) {
					t.Fatalf("Query err = %#v, want a temporary *net.DNSError", err)
				}
			}
			ask()
			if u.queries() != 1 {
				t.Fatalf("upstream got %d questions, want 1", u.queries())
			}
			if tc.kept == 0 {
				ask()
				if u.queries() != 2 {
					t.Fatalf("upstream got %d questions, want 2 (not cached)", u.queries())
				}
				return
			}
			clk.advance(tc.kept - time.Second)
			ask()
			if u.queries() != 1 {
				t.Fatalf("1s before expiry: upstream got %d questions, want 1 (cached)", u.queries())
			}
			clk.advance(time.Second)
			ask()
			if u.queries() != 2 {
				t.Fatalf("at expiry: upstream got %d questions, want 2", u.queries())
			}
		})
	}
}

func TestTimeoutNeverCached(t *testing.T) {
	t.Parallel()
	addr, n := silentServer(t)
	c, _, _ := newTestClient(t, Config{Timeout: 50 * time.Millisecond, Attempts: 1}, addr)
	for i := range 2 {
		_, err := c.Query(context.Background(), Question{Name: "slow.test", Type: dns.TypeMX})
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsTimeout || !de.IsTemporary {
			t.Fatalf("query %d: err = %#v, want a timeout", i, err)
		}
	}
	if n.Load() != 2 {
		t.Fatalf("server got %d questions, want 2 (a timeout is not cached)", n.Load())
	}
}

func TestTruncated(t *testing.T) {
	t.Parallel()
	answer := func(t testing.TB, req *dns.Msg) *dns.Msg {
		m := reply(req, dns.RcodeSuccess)
		m.Answer = []dns.RR{rr(t, "big.test. 300 IN TXT \"hello\"")}
		return m
	}
	t.Run("retried over TCP, the TCP answer cached", func(t *testing.T) {
		t.Parallel()
		u := startUpstream(t, func(req *dns.Msg, tcp bool) *dns.Msg {
			m := answer(t, req)
			m.Truncated = !tcp
			return m
		})
		c, _, _ := newTestClient(t, Config{}, u.addr)
		for range 3 {
			txt, err := c.LookupTXT(context.Background(), "big.test")
			if err != nil || len(txt) != 1 || txt[0] != "hello" {
				t.Fatalf("LookupTXT = %q, %v", txt, err)
			}
		}
		if u.udp.Load() != 1 || u.tcp.Load() != 1 {
			t.Fatalf("upstream udp=%d tcp=%d, want 1 and 1", u.udp.Load(), u.tcp.Load())
		}
	})
	t.Run("truncated even over TCP: an error, never cached", func(t *testing.T) {
		t.Parallel()
		u := startUpstream(t, func(req *dns.Msg, tcp bool) *dns.Msg {
			m := answer(t, req)
			m.Truncated = true
			return m
		})
		c, _, _ := newTestClient(t, Config{Attempts: 1}, u.addr)
		for i := range 2 {
			if _, err := c.LookupTXT(context.Background(), "big.test"); err == nil {
				t.Fatalf("lookup %d: a truncated answer was accepted", i)
			}
		}
		if u.udp.Load() != 2 || u.tcp.Load() != 2 {
			t.Fatalf("upstream udp=%d tcp=%d, want 2 and 2 (not cached)", u.udp.Load(), u.tcp.Load())
		}
	})
	t.Run("too big for the UDP buffer: TCP", func(t *testing.T) {
		t.Parallel()
		long := make([]string, 20)
		for i := range long {
			long[i] = strings.Repeat("x", 200)
		}
		u := startUpstream(t, func(req *dns.Msg, tcp bool) *dns.Msg {
			m := reply(req, dns.RcodeSuccess)
			m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: "big.test.", Rrtype: dns.TypeTXT,
				Class: dns.ClassINET, Ttl: 300}, Txt: long}} // ~4 KB, never marked truncated
			return m
		})
		c, _, _ := newTestClient(t, Config{}, u.addr)
		if txt, err := c.LookupTXT(context.Background(), "big.test"); err != nil || len(txt) != 1 || len(txt[0]) != 4000 {
			t.Fatalf("LookupTXT = %d records, %v", len(txt), err)
		}
		if u.tcp.Load() != 1 {
			t.Fatalf("upstream tcp=%d, want 1", u.tcp.Load())
		}
	})
}

func TestADKept(t *testing.T) {
	t.Parallel()
	var askedAD, askedDO sync.Map
	u := startUpstream(t, func(req *dns.Msg, _ bool) *dns.Msg {
		askedAD.Store(req.Question[0].Name, req.AuthenticatedData)
		m := reply(req, dns.RcodeSuccess)
		m.AuthenticatedData = req.Question[0].Name == "signed.test."
		m.Answer = []dns.RR{rr(t, req.Question[0].Name+" 300 IN TLSA 3 1 1 0102030405060708")}
		if o := req.IsEdns0(); o != nil {
			askedDO.Store(req.Question[0].Name, o.Do())
		}
		return m
	})
	c, _, _ := newTestClient(t, Config{}, u.addr)
	for i, cached := range []bool{false, true} {
		for name, wantAD := range map[string]bool{"signed.test": true, "plain.test": false} {
			res, err := c.Query(context.Background(), Question{Name: name, Type: dns.TypeTLSA, DNSSECOK: true})
			if err != nil || res.AD != wantAD || res.Cached != cached {
				t.Fatalf("round %d %s: %+v, %v; want AD=%v cached=%v", i, name, res, err, wantAD, cached)
			}
		}
	}
	if ad, _ := askedAD.Load("signed.test."); ad != true {
		t.Error("the query did not set the AD bit (RFC 6840 §5.7)")
	}
	if do, _ := askedDO.Load("signed.test."); do != true {
		t.Error("the query did not set the DO bit")
	}
}

func TestDOBitKeyedSeparately(t *testing.T) {
	t.Parallel()
	u := startUpstream(t, func(req *dns.Msg, _ bool) *dns.Msg {
		m := reply(req, dns.RcodeSuccess)
		m.Answer = []dns.RR{rr(t, "mx.test. 300 IN A 192.0.2.1")}
		if o := req.IsEdns0(); o != nil && o.Do() {
			m.Answer = append(m.Answer, rr(t, "mx.test. 300 IN RRSIG A 13 2 300 20300101000000 20200101000000 1 test. AAAA"))
		}
		return m
	})
	c, _, _ := newTestClient(t, Config{}, u.addr)
	for range 2 {
		for _, do := range []bool{false, true} {
			res, err := c.Query(context.Background(), Question{Name: "MX.test.", Type: dns.TypeA, DNSSECOK: do})
			if err != nil || (len(res.Msg.Answer) == 2) != do {
				t.Fatalf("DO=%v: %v, %v", do, res, err)
			}
		}
	}
	if u.queries() != 2 {
		t.Fatalf("upstream got %d questions, want 2 (one per DO bit)", u.queries())
	}
}

func TestEvictionAtBound(t *testing.T) {
	t.Parallel()
	u := startUpstream(t, func(req *dns.Msg, _ bool) *dns.Msg {
		m := reply(req, dns.RcodeSuccess)
		m.Answer = []dns.RR{rr(t, req.Question[0].Name+" 300 IN A 192.0.2.1")}
		return m
	})
	c, _, reg := newTestClient(t, Config{CacheSize: 2}, u.addr)
	ask := func(name string) {
		t.Helper()
		if _, err := c.LookupHost(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	// LookupHost asks A and AAAA: two entries a name. A bound of 2 keeps one name.
	ask("a.test") // a/A, a/AAAA
	ask("a.test") // hits
	if u.queries() != 2 {
		t.Fatalf("upstream %d, want 2", u.queries())
	}
	ask("b.test") // evicts both of a
	ask("a.test") // misses again, evicts both of b
	if u.queries() != 6 {
		t.Fatalf("upstream %d, want 6 (a evicted by b)", u.queries())
	}
	if c.cache.len() != 2 {
		t.Fatalf("cache holds %d entries, bound 2", c.cache.len())
	}
	if got := testutil.ToFloat64(c.metrics.evictions); got != 4 {
		t.Errorf("evictions = %v, want 4", got)
	}
	if h, m := testutil.ToFloat64(c.metrics.hits), testutil.ToFloat64(c.metrics.misses); h != 2 || m != 6 {
		t.Errorf("hits %v misses %v, want 2 and 6", h, m)
	}
	if n, err := testutil.GatherAndCount(reg, "multimail_dns_cache_hits_total", "multimail_dns_cache_misses_total",
		"multimail_dns_cache_evictions_total", "multimail_dns_cache_entries", "multimail_dns_upstream_queries_total"); err != nil || n != 5 {
		t.Errorf("registered metrics: %d, %v", n, err)
	}
}

func TestLRUOrder(t *testing.T) {
	t.Parallel()
	u := startUpstream(t, func(req *dns.Msg, _ bool) *dns.Msg {
		m := reply(req, dns.RcodeSuccess)
		m.Answer = []dns.RR{rr(t, req.Question[0].Name+" 300 IN TXT x")}
		return m
	})
	c, _, _ := newTestClient(t, Config{CacheSize: 2}, u.addr)
	for _, name := range []string{"a.test", "b.test", "a.test", "c.test", "a.test"} {
		if _, err := c.LookupTXT(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	// a and b cached; a used; c evicts b (least recently used), not a.
	if u.queries() != 3 {
		t.Fatalf("upstream %d, want 3 (a kept as recently used)", u.queries())
	}
}

func TestConcurrentLookupsCoalesced(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	u := startUpstream(t, func(req *dns.Msg, _ bool) *dns.Msg {
		<-release
		m := reply(req, dns.RcodeSuccess)
		m.Answer = []dns.RR{rr(t, "co.test. 300 IN MX 10 mx.co.test.")}
		return m
	})
	c, _, _ := newTestClient(t, Config{}, u.addr)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	first, cancelFirst := context.WithCancel(context.Background())
	for i := range n {
		ctx := context.Background()
		if i == 0 {
			ctx = first
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.LookupMX(ctx, "co.test")
			if i != 0 {
				errs <- err
			}
		}()
	}
	waitFor(t, "every lookup to join the flight", func() bool { return testutil.ToFloat64(c.metrics.misses) == n })
	cancelFirst() // the first caller gives up: the others must still get the answer
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if u.queries() != 1 {
		t.Fatalf("upstream got %d questions, want 1", u.queries())
	}
}

func TestServers(t *testing.T) {
	t.Parallel()
	good := startUpstream(t, func(req *dns.Msg, _ bool) *dns.Msg {
		m := reply(req, dns.RcodeSuccess)
		if req.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{rr(t, "s.test. 300 IN A 192.0.2.7")}
		}
		return m
	})
	failing := startUpstream(t, func(req *dns.Msg, _ bool) *dns.Msg { return reply(req, dns.RcodeServerFailure) })
	liar := startUpstream(t, func(req *dns.Msg, _ bool) *dns.Msg {
		m := reply(req, dns.RcodeSuccess)
		m.Question[0].Name = "other.test."
		m.Answer = []dns.RR{rr(t, "other.test. 300 IN A 198.51.100.1")}
		return m
	})
	silent, _ := silentServer(t)
	cases := []struct {
		name    string
		servers []string
		want    string // "" = a temporary error
	}{
		{"silent then good", []string{silent, good.addr}, "192.0.2.7"},
		{"servfail then good", []string{failing.addr, good.addr}, "192.0.2.7"},
		{"answer to another question ignored", []string{liar.addr, good.addr}, "192.0.2.7"},
		{"only the liar", []string{liar.addr}, ""},
		{"only servfail", []string{failing.addr}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _, _ := newTestClient(t, Config{Timeout: 100 * time.Millisecond, Attempts: 1}, tc.servers...)
			ips, err := c.LookupHost(context.Background(), "s.test")
			if tc.want == "" {
				var de *net.DNSError
				if !errors.As(err, &de) || !de.IsTemporary || de.IsNotFound {
					t.Fatalf("LookupHost = %v, %#v; want a temporary error", ips, err)
				}
				return
			}
			if err != nil || len(ips) != 1 || ips[0] != tc.want {
				t.Fatalf("LookupHost = %v, %v; want %s", ips, err, tc.want)
			}
		})
	}
}

func TestCallerDeadline(t *testing.T) {
	t.Parallel()
	addr, _ := silentServer(t)
	c, _, _ := newTestClient(t, Config{Timeout: time.Minute}, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.LookupTXT(ctx, "slow.test")
	de, ok := err.(*net.DNSError) // not errors.As: the SPF library type-asserts
	if !ok || !de.IsTimeout || !de.IsTemporary {
		t.Fatalf("err = %#v, want a *net.DNSError timeout", err)
	}
}

func TestNoCache(t *testing.T) {
	t.Parallel()
	u := startUpstream(t, func(req *dns.Msg, _ bool) *dns.Msg {
		m := reply(req, dns.RcodeSuccess)
		m.Answer = []dns.RR{rr(t, "a.test. 300 IN A 192.0.2.1")}
		return m
	})
	c, _, _ := newTestClient(t, Config{CacheSize: -1}, u.addr)
	for range 2 {
		if _, err := c.Query(context.Background(), Question{Name: "a.test", Type: dns.TypeA}); err != nil {
			t.Fatal(err)
		}
	}
	if u.queries() != 2 {
		t.Fatalf("upstream %d, want 2", u.queries())
	}
}

// FuzzTTL feeds arbitrary wire messages to the caching rule: never a panic, never a
// truncated answer kept, never longer than the caps.
func FuzzTTL(f *testing.F) {
	for _, s := range []string{"a.test. 300 IN A 192.0.2.1", "a.test. 0 IN A 192.0.2.1"} {
		m := new(dns.Msg)
		m.SetQuestion("a.test.", dns.TypeA)
		r, _ := dns.NewRR(s)
		m.Answer = []dns.RR{r}
		b, _ := m.Pack()
		f.Add(b)
	}
	neg := new(dns.Msg)
	neg.SetQuestion("a.test.", dns.TypeA)
	neg.Rcode = dns.RcodeNameError
	r, _ := dns.NewRR("test. 300 IN SOA ns.test. host.test. 1 3600 600 86400 30")
	neg.Ns = []dns.RR{r}
	b, _ := neg.Pack()
	f.Add(b)
	f.Fuzz(func(t *testing.T, wire []byte) {
		m := new(dns.Msg)
		if m.Unpack(wire) != nil {
			return
		}
		d, ok := ttl(m, time.Hour, 15*time.Minute, 10*time.Second)
		if ok && (m.Truncated || d <= 0 || d > time.Hour) {
			t.Fatalf("ttl = %v, %v for %v", d, ok, m)
		}
	})
}
