package mta

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Resolver answers the DNS questions delivery asks. Both methods follow *net.Resolver's
// contract: a name that does not exist, or has no record of the type, is a *net.DNSError with
// IsNotFound; a failure that may pass is a *net.DNSError with IsTemporary or IsTimeout. A null
// MX comes back as one record with Host ".".
type Resolver interface {
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// *net.Resolver is the system resolver implementation.
var _ Resolver = (*net.Resolver)(nil)

func defaultResolver() Resolver { return net.DefaultResolver }

// DNSResolver asks one DNS server directly (the config's "[dns] resolver"), over UDP with a
// TCP retry for truncated answers. It is safe for concurrent use.
type DNSResolver struct {
	server string
	udp    *dns.Client
	tcp    *dns.Client
}

var _ Resolver = (*DNSResolver)(nil)

// NewDNSResolver returns a resolver asking server ("ip:port"; port 53 when omitted), with
// timeout per query (default 5s when zero).
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

// LookupMX returns the MX records of domain, hosts with their final dot as net does.
func (r *DNSResolver) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	resp, err := r.query(ctx, domain, dns.TypeMX)
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
		return nil, notFound(domain, r.server)
	}
	return mxs, nil
}

// LookupHost returns the IPv4 then IPv6 addresses of host; an IP literal is returned as is.
func (r *DNSResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []string{host}, nil
	}
	var addrs []string
	var firstErr error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		a, err := r.lookupAddrs(ctx, host, qtype)
		var de *net.DNSError
		if qtype == dns.TypeA && errors.As(err, &de) && de.Err == nxdomain {
			return nil, err // the name does not exist: no need to ask for AAAA
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		addrs = append(addrs, a...)
	}
	if len(addrs) == 0 {
		return nil, firstErr
	}
	return addrs, nil
}

// LookupTXT returns the TXT records of name, each record's strings joined.
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
		return nil, notFound(name, r.server)
	}
	return txts, nil
}

func (r *DNSResolver) lookupAddrs(ctx context.Context, host string, qtype uint16) ([]string, error) {
	resp, err := r.query(ctx, host, qtype)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, rr := range resp.Answer {
		switch a := rr.(type) {
		case *dns.A:
			addrs = append(addrs, a.A.String())
		case *dns.AAAA:
			addrs = append(addrs, a.AAAA.String())
		}
	}
	if len(addrs) == 0 {
		return nil, notFound(host, r.server)
	}
	return addrs, nil
}

const nxdomain = "no such host"

// query asks one question with recursion desired, retrying over TCP when truncated.
func (r *DNSResolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	resp, _, err := r.udp.ExchangeContext(ctx, m, r.server)
	if err == nil && resp.Truncated {
		resp, _, err = r.tcp.ExchangeContext(ctx, m, r.server)
	}
	if err != nil {
		var ne net.Error
		timeout := errors.As(err, &ne) && ne.Timeout()
		return nil, &net.DNSError{Err: err.Error(), Name: name, Server: r.server,
			IsTimeout: timeout, IsTemporary: true}
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
		return resp, nil
	case dns.RcodeNameError:
		return nil, &net.DNSError{Err: nxdomain, Name: name, Server: r.server, IsNotFound: true}
	}
	return nil, &net.DNSError{Err: fmt.Sprintf("server answered %s", dns.RcodeToString[resp.Rcode]),
		Name: name, Server: r.server, IsTemporary: true}
}

// notFound is the NODATA answer: the name exists without records of the asked type.
func notFound(name, server string) error {
	return &net.DNSError{Err: "no such record", Name: name, Server: server, IsNotFound: true}
}

// isNotFound reports whether err is a definite "no such name or record" answer.
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
