package inbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Resolver answers the DNS questions SPF, DKIM and DMARC ask. It is blitiri.com.ar/go/spf's
// DNSResolver, which *net.Resolver satisfies, and follows net's error contract: a name that
// does not exist, or has no record of the type, is a *net.DNSError with IsNotFound; a failure
// that may pass is a *net.DNSError with IsTemporary or IsTimeout. The error must be the
// *net.DNSError itself, not wrapped: the SPF and go-msgauth libraries type-assert it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// *net.Resolver is the system resolver implementation.
var _ Resolver = (*net.Resolver)(nil)

// NewResolver returns the resolver for the config's "[dns] resolver": the system resolver
// when server is "", otherwise a DNSResolver asking server ("ip:port", port 53 if omitted).
func NewResolver(server string) Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return NewDNSResolver(server, 0)
}

// DNSResolver asks one DNS server directly, over UDP with a TCP retry for truncated
// answers. It is safe for concurrent use.
type DNSResolver struct {
	server   string
	udp, tcp *dns.Client
}

var _ Resolver = (*DNSResolver)(nil)

// NewDNSResolver returns a resolver asking server ("ip:port"; port 53 when omitted), with
// timeout per query (default 5s when zero). The context of each lookup bounds it too.
func NewDNSResolver(server string, timeout time.Duration) *DNSResolver {
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(strings.Trim(server, "[]"), "53")
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &DNSResolver{server: server,
		udp: &dns.Client{Net: "udp", Timeout: timeout, UDPSize: 1232},
		tcp: &dns.Client{Net: "tcp", Timeout: timeout}}
}

// LookupTXT returns the TXT records of name, each record's strings joined (as net does).
func (r *DNSResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	resp, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var txts []string
	for _, rr := range resp.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			txts = append(txts, strings.Join(t.Txt, ""))
		}
	}
	if len(txts) == 0 {
		return nil, r.notFound(name)
	}
	return txts, nil
}

// LookupMX returns the MX records of name, hosts with their final dot as net does.
func (r *DNSResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	resp, err := r.query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	var mxs []*net.MX
	for _, rr := range resp.Answer {
		if mx, ok := rr.(*dns.MX); ok {
			mxs = append(mxs, &net.MX{Host: mx.Mx, Pref: mx.Preference})
		}
	}
	if len(mxs) == 0 {
		return nil, r.notFound(name)
	}
	return mxs, nil
}

// LookupIPAddr returns the IPv4 then IPv6 addresses of host; an IP literal comes back as is.
func (r *DNSResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IPAddr{{IP: ip}}, nil
	}
	var addrs []net.IPAddr
	var firstErr error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		resp, err := r.query(ctx, host, qtype)
		if err != nil {
			firstErr = firstOf(firstErr, err)
			continue
		}
		addrs = append(addrs, ipAddrs(resp)...)
	}
	if len(addrs) == 0 {
		return nil, firstOf(firstErr, r.notFound(host))
	}
	return addrs, nil
}

// LookupAddr returns the PTR names of addr, with their final dot.
func (r *DNSResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	rev, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	resp, err := r.query(ctx, rev, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, rr := range resp.Answer {
		if p, ok := rr.(*dns.PTR); ok {
			names = append(names, p.Ptr)
		}
	}
	if len(names) == 0 {
		return nil, r.notFound(addr)
	}
	return names, nil
}

// ipAddrs collects the A and AAAA answers of resp.
func ipAddrs(resp *dns.Msg) []net.IPAddr {
	var out []net.IPAddr
	for _, rr := range resp.Answer {
		switch a := rr.(type) {
		case *dns.A:
			out = append(out, net.IPAddr{IP: a.A})
		case *dns.AAAA:
			out = append(out, net.IPAddr{IP: a.AAAA})
		}
	}
	return out
}

// firstOf returns a unless it is nil.
func firstOf(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// query asks one question with recursion desired, retrying over TCP when truncated. Every
// failure is a *net.DNSError.
func (r *DNSResolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	resp, _, err := r.udp.ExchangeContext(ctx, m, r.server)
	if (err == nil && resp.Truncated) || (err != nil && !isTimeout(err) && ctx.Err() == nil) {
		// Truncated, or an answer too big for the UDP buffer that the server did not mark
		// truncated: ask again over TCP (RFC 7766).
		resp, _, err = r.tcp.ExchangeContext(ctx, m, r.server)
	}
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: name, Server: r.server,
			IsTimeout: isTimeout(err), IsTemporary: true}
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
		return resp, nil
	case dns.RcodeNameError:
		return nil, &net.DNSError{Err: "no such host", Name: name, Server: r.server, IsNotFound: true}
	}
	return nil, &net.DNSError{Err: fmt.Sprintf("server answered %s", dns.RcodeToString[resp.Rcode]),
		Name: name, Server: r.server, IsTemporary: true}
}

// notFound is the NODATA answer: the name exists without records of the asked type.
func (r *DNSResolver) notFound(name string) error {
	return &net.DNSError{Err: "no such record", Name: name, Server: r.server, IsNotFound: true}
}

// isTimeout reports a deadline or timeout error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
