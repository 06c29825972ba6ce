package dnsclient

import (
	"context"
	"net"
	"strings"

	"github.com/miekg/dns"
)

// The lookups below satisfy blitiri.com.ar/go/spf's DNSResolver, inbound.Resolver and
// mta.Resolver, with *net.Resolver's error contract (see the package documentation).

// LookupTXT returns the TXT records of name, each record's strings joined (as net does).
func (c *Client) LookupTXT(ctx context.Context, name string) ([]string, error) {
	res, err := c.lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var txts []string
	for _, rr := range res.Msg.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			txts = append(txts, strings.Join(t.Txt, ""))
		}
	}
	if len(txts) == 0 {
		return nil, c.notFound(name)
	}
	return txts, nil
}

// LookupMX returns the MX records of name, hosts with their final dot as net does. A null MX
// (RFC 7505) is one record with Host ".".
func (c *Client) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	res, err := c.lookup(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	var mxs []*net.MX
	for _, rr := range res.Msg.Answer {
		if mx, ok := rr.(*dns.MX); ok {
			mxs = append(mxs, &net.MX{Host: mx.Mx, Pref: mx.Preference})
		}
	}
	if len(mxs) == 0 {
		return nil, c.notFound(name)
	}
	return mxs, nil
}

// LookupIPAddr returns the IPv4 then IPv6 addresses of host; an IP literal comes back as is.
// AAAA is not asked when A says the name does not exist. When one of the two questions fails
// and the other finds nothing, the failure is the answer (temporary, never "not found").
func (c *Client) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IPAddr{{IP: ip}}, nil
	}
	var addrs []net.IPAddr
	var failure error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		res, err := c.lookup(ctx, host, qtype)
		if err != nil {
			failure = firstErr(failure, err)
			continue
		}
		if res.Msg.Rcode == dns.RcodeNameError {
			if qtype == dns.TypeA {
				return nil, c.nxdomain(host)
			}
			continue
		}
		for _, rr := range res.Msg.Answer {
			switch a := rr.(type) {
			case *dns.A:
				addrs = append(addrs, net.IPAddr{IP: a.A})
			case *dns.AAAA:
				addrs = append(addrs, net.IPAddr{IP: a.AAAA})
			}
		}
	}
	switch {
	case len(addrs) > 0:
		return addrs, nil
	case failure != nil:
		return nil, failure
	}
	return nil, c.notFound(host)
}

// LookupHost is LookupIPAddr with the addresses as strings.
func (c *Client) LookupHost(ctx context.Context, host string) ([]string, error) {
	ips, err := c.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out, nil
}

// LookupAddr returns the PTR names of addr, with their final dot.
func (c *Client) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	rev, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr}
	}
	res, err := c.lookup(ctx, rev, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, rr := range res.Msg.Answer {
		if p, ok := rr.(*dns.PTR); ok {
			names = append(names, p.Ptr)
		}
	}
	if len(names) == 0 {
		return nil, c.notFound(addr)
	}
	return names, nil
}

// lookup asks an IN question without the DO bit. NXDOMAIN is an error for every caller but
// LookupIPAddr, which looks at the rcode itself.
func (c *Client) lookup(ctx context.Context, name string, qtype uint16) (*Result, error) {
	res, err := c.Query(ctx, Question{Name: name, Type: qtype})
	if err != nil {
		return nil, err // a *net.DNSError
	}
	if res.Msg.Rcode == dns.RcodeNameError && qtype != dns.TypeA && qtype != dns.TypeAAAA {
		return nil, c.nxdomain(name)
	}
	return res, nil
}

// nxdomain is net's error for a name that does not exist.
func (c *Client) nxdomain(name string) error {
	return &net.DNSError{Err: "no such host", Name: name, Server: c.serverName(), IsNotFound: true}
}

// notFound is the NODATA answer: the name exists without records of the asked type.
func (c *Client) notFound(name string) error {
	return &net.DNSError{Err: "no such record", Name: name, Server: c.serverName(), IsNotFound: true}
}
