package dnsclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// Servers are asked in order: "ip:port", or "ip" for port 53. Empty: the nameservers of
	// ResolvConf.
	Servers []string
	// ResolvConf is read when Servers is empty; default "/etc/resolv.conf".
	ResolvConf string
	// Timeout bounds one exchange with one server; default resolv.conf's "timeout" option
	// when the servers come from there, else 5s.
	Timeout time.Duration
	// Attempts is how many rounds over the servers a question makes while they time out;
	// default resolv.conf's "attempts" option when the servers come from there, else 2.
	Attempts int
	// UDPSize is the EDNS0 buffer size advertised over UDP; default 1232.
	UDPSize uint16

	// CacheSize bounds the cache in entries; default 10000; negative disables the cache.
	CacheSize int
	// MaxTTL caps the time an answer with records is kept; default 1h.
	MaxTTL time.Duration
	// MaxNegativeTTL caps the time NXDOMAIN and NODATA are kept; default 15m.
	MaxNegativeTTL time.Duration
	// ServFailTTL is how long a SERVFAIL (or another failing rcode) is kept; default 10s;
	// negative: not kept.
	ServFailTTL time.Duration

	Clock      Clock                 // nil: the real clock
	Registerer prometheus.Registerer // nil: metrics are kept but not registered
}

// Clock tells the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Question is what Query asks. Name is absolute whether or not it ends with a dot; Class 0
// means IN. DNSSECOK sets the EDNS0 DO bit, asking for RRSIGs; it is part of the cache key.
type Question struct {
	Name     string
	Type     uint16
	Class    uint16
	DNSSECOK bool
}

// Result is a definite answer: NOERROR (with records or NODATA) or NXDOMAIN, or a cached
// failing rcode replayed as an error.
type Result struct {
	// Msg is the whole response. It is shared with the cache and other callers: read it,
	// never modify it.
	Msg *dns.Msg
	// AD is the response's Authenticated Data bit: the (trusted, local) resolver validated
	// the answer with DNSSEC. DANE needs it.
	AD bool
	// Cached reports that the answer came from the cache.
	Cached bool
}

// Client is a caching DNS stub resolver. It is safe for concurrent use.
type Client struct {
	servers  []string
	timeout  time.Duration
	attempts int
	udpSize  uint16
	udp, tcp *dns.Client

	cache   *cache // nil: no cache
	clock   Clock
	flight  singleflight.Group
	metrics *metrics
}

// New returns a Client for cfg. It fails on a malformed server address or when its metrics
// cannot be registered.
func New(cfg Config) (*Client, error) {
	c := &Client{timeout: cfg.Timeout, attempts: cfg.Attempts, udpSize: cfg.UDPSize, clock: cfg.Clock}
	if len(cfg.Servers) > 0 {
		for _, s := range cfg.Servers {
			addr, err := serverAddr(s)
			if err != nil {
				return nil, err
			}
			c.servers = append(c.servers, addr)
		}
	} else {
		sys := systemConfig(cfg.ResolvConf)
		c.servers = sys.servers
		if c.timeout == 0 {
			c.timeout = sys.timeout
		}
		if c.attempts == 0 {
			c.attempts = sys.attempts
		}
	}
	if c.timeout <= 0 {
		c.timeout = 5 * time.Second
	}
	if c.attempts <= 0 {
		c.attempts = 2
	}
	if c.udpSize == 0 {
		c.udpSize = 1232
	}
	if c.clock == nil {
		c.clock = realClock{}
	}
	c.udp = &dns.Client{Net: "udp", Timeout: c.timeout, UDPSize: c.udpSize}
	c.tcp = &dns.Client{Net: "tcp", Timeout: c.timeout}
	if cfg.CacheSize >= 0 {
		c.cache = newCache(cfg)
	}
	m, err := newMetrics(cfg.Registerer, c.cache)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	return c, nil
}

// serverAddr normalises "ip" or "ip:port" to "ip:port".
func serverAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), "53"
	}
	if net.ParseIP(strings.SplitN(host, "%", 2)[0]) == nil {
		return "", fmt.Errorf("dnsclient: server %q: want an IP address with an optional port", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("dnsclient: server %q: bad port", s)
	}
	return net.JoinHostPort(host, port), nil
}

// Servers returns the server addresses asked, in order.
func (c *Client) Servers() []string { return append([]string(nil), c.servers...) }

// Query answers q from the cache or the servers. A definite answer (NOERROR, NODATA or
// NXDOMAIN) is a Result; a failing rcode (SERVFAIL, REFUSED, …), a timeout or a network
// error is a *net.DNSError with IsTemporary (and IsTimeout for timeouts).
func (c *Client) Query(ctx context.Context, q Question) (*Result, error) {
	k := keyOf(q)
	if c.cache != nil {
		if e, ok := c.cache.get(k, c.clock.Now()); ok {
			c.metrics.hits.Inc()
			return c.result(k, e.msg, true)
		}
	}
	ch := c.flight.DoChan(k.String(), func() (any, error) {
		// Detached from the first caller: the others waiting must not fail with its context.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx),
			c.timeout*time.Duration(c.attempts*len(c.servers)))
		defer cancel()
		resp, err := c.exchange(qctx, k)
		if err != nil {
			return nil, err
		}
		if c.cache != nil {
			if evicted := c.cache.put(k, resp, c.clock.Now()); evicted > 0 {
				c.metrics.evictions.Add(float64(evicted))
			}
		}
		return resp, nil
	})
	c.metrics.misses.Inc() // after joining the flight: tests wait for it
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, c.dnsError(k, r.Err)
		}
		return c.result(k, r.Val.(*dns.Msg), false)
	case <-ctx.Done():
		return nil, c.dnsError(k, ctx.Err())
	}
}

// result turns a response into Query's answer.
func (c *Client) result(k key, msg *dns.Msg, cached bool) (*Result, error) {
	switch msg.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return &Result{Msg: msg, AD: msg.AuthenticatedData, Cached: cached}, nil
	}
	return nil, &net.DNSError{Err: "server answered " + rcodeString(msg.Rcode), Name: k.display(),
		Server: c.serverName(), IsTemporary: true}
}

func rcodeString(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "rcode " + strconv.Itoa(rc)
}

// dnsError turns a transport error into a *net.DNSError.
func (c *Client) dnsError(k key, err error) *net.DNSError {
	var de *net.DNSError
	if errors.As(err, &de) {
		return de
	}
	return &net.DNSError{Err: err.Error(), Name: k.display(), Server: c.serverName(),
		IsTimeout: isTimeout(err), IsTemporary: true}
}

func (c *Client) serverName() string {
	if len(c.servers) == 1 {
		return c.servers[0]
	}
	return strings.Join(c.servers, ",")
}

// exchange asks the servers in order, for c.attempts rounds while none answers. A failing
// rcode moves to the next server; when a round ends with one, it is the answer.
func (c *Client) exchange(ctx context.Context, k key) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(k.name, k.qtype)
	m.Question[0].Qclass = k.qclass
	m.RecursionDesired = true
	m.AuthenticatedData = true // RFC 6840 §5.7: tell us whether the answer was validated
	m.SetEdns0(c.udpSize, k.do)
	var lastErr error
	for range c.attempts {
		var failed *dns.Msg
		for _, srv := range c.servers {
			if err := ctx.Err(); err != nil {
				return nil, firstErr(lastErr, err)
			}
			resp, err := c.exchangeOne(ctx, m, srv)
			switch {
			case err != nil:
				c.metrics.upstream.WithLabelValues("error").Inc()
				lastErr = err
			case resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError:
				c.metrics.upstream.WithLabelValues("answer").Inc()
				return resp, nil
			default:
				c.metrics.upstream.WithLabelValues("rcode").Inc()
				failed = resp
			}
		}
		if failed != nil {
			return failed, nil
		}
	}
	return nil, lastErr
}

// exchangeOne asks one server over UDP, and again over TCP when the answer is truncated or
// could not be read (too big for the buffer, say).
func (c *Client) exchangeOne(ctx context.Context, m *dns.Msg, srv string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, _, err := c.udp.ExchangeContext(ctx, m, srv)
	if (err == nil && resp.Truncated) || (err != nil && !isTimeout(err) && ctx.Err() == nil) {
		resp, _, err = c.tcp.ExchangeContext(ctx, m, srv)
	}
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: strings.TrimSuffix(m.Question[0].Name, "."),
			Server: srv, IsTimeout: isTimeout(err), IsTemporary: true}
	}
	if resp.Truncated {
		return nil, &net.DNSError{Err: "truncated answer over TCP", Name: m.Question[0].Name,
			Server: srv, IsTemporary: true}
	}
	if len(resp.Question) != 1 || !sameQuestion(resp.Question[0], m.Question[0]) {
		return nil, &net.DNSError{Err: "answer to another question", Name: m.Question[0].Name,
			Server: srv, IsTemporary: true}
	}
	return resp, nil
}

func sameQuestion(a, b dns.Question) bool {
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// isTimeout reports a deadline or timeout error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
