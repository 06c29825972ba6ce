package mta

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	maxHops       = 10               // MX hosts one attempt considers
	lookupTimeout = 30 * time.Second // bounds every DNS question, whatever the resolver
)

// Transport routes a recipient domain to a fixed next hop instead of its MX hosts.
type Transport struct {
	Domain  string    // the recipient domain (any case), or "*" for every domain
	NextHop string    // "host:port"; port 25 when omitted; host is a name or an IP literal
	TLS     TLSPolicy // "" = Options.TLSPolicy
}

// hop is one host to try, in order.
type hop struct {
	name string // the MX or next-hop host name (or IP literal): Result.MXHost
	port int
	tls  TLSPolicy
}

// router turns a recipient domain into the hosts to try.
type router struct {
	transports map[string]Transport // lower-case domain or "*"
	resolver   Resolver
	mxPort     int
	policy     TLSPolicy
}

func newRouter(o Options, r Resolver) (*router, error) {
	rt := &router{transports: make(map[string]Transport), resolver: r, mxPort: o.MXPort,
		policy: o.TLSPolicy}
	for _, t := range o.Transports {
		if _, _, err := splitHostPort(t.NextHop); err != nil {
			return nil, fmt.Errorf("mta: transport %q: %w", t.Domain, err)
		}
		if t.TLS == "" {
			t.TLS = o.TLSPolicy
		}
		rt.transports[strings.ToLower(strings.TrimSuffix(t.Domain, "."))] = t
	}
	return rt, nil
}

// route returns the hops for domain in the order to try them, or a classified *Error: a
// permanent one for a null MX or a domain that does not exist.
func (rt *router) route(ctx context.Context, domain string) ([]hop, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if t, ok := rt.transport(domain); ok {
		host, port, _ := splitHostPort(t.NextHop) // validated in newRouter
		return []hop{{name: host, port: port, tls: t.TLS}}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	mxs, err := rt.resolver.LookupMX(ctx, domain)
	switch {
	case isNotFound(err):
		return rt.implicitMX(ctx, domain)
	case err != nil && len(mxs) == 0:
		return nil, classify(fmt.Errorf("MX lookup for %s: %w", domain, err), "")
	}
	return rt.mxHops(domain, mxs)
}

// isTransport reports whether domain is routed by a [[transport]] (MTA-STS does not apply).
func (rt *router) isTransport(domain string) bool {
	_, ok := rt.transport(strings.ToLower(strings.TrimSuffix(domain, ".")))
	return ok
}

func (rt *router) transport(domain string) (Transport, bool) {
	if t, ok := rt.transports[domain]; ok {
		return t, true
	}
	t, ok := rt.transports["*"]
	return t, ok
}

// implicitMX applies RFC 5321 §5.1: without MX records, the domain itself is the host, if it
// has an address; without an address either, the domain does not exist for mail.
func (rt *router) implicitMX(ctx context.Context, domain string) ([]hop, error) {
	_, err := rt.resolver.LookupHost(ctx, domain)
	switch {
	case isNotFound(err):
		return nil, permanent("5.1.2", ErrNoSuchDomain, "domain %s has no MX and no address", domain)
	case err != nil:
		return nil, classify(fmt.Errorf("address lookup for %s: %w", domain, err), "")
	}
	return []hop{{name: domain, port: rt.mxPort, tls: rt.policy}}, nil
}

// mxHops orders MX records by preference, shuffling equal preferences (RFC 5321 §5.1), and
// refuses a domain whose only MX is the null MX (RFC 7505 §3).
func (rt *router) mxHops(domain string, mxs []*net.MX) ([]hop, error) {
	recs := make([]net.MX, 0, len(mxs))
	for _, mx := range mxs {
		if host := strings.TrimSuffix(mx.Host, "."); host != "" {
			recs = append(recs, net.MX{Host: strings.ToLower(host), Pref: mx.Pref})
		}
	}
	if len(recs) == 0 {
		return nil, permanent("5.1.10", ErrNullMX, "domain %s publishes a null MX (RFC 7505)", domain)
	}
	rand.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	slices.SortStableFunc(recs, func(a, b net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	hops := make([]hop, 0, min(len(recs), maxHops))
	for _, mx := range recs[:min(len(recs), maxHops)] {
		hops = append(hops, hop{name: mx.Host, port: rt.mxPort, tls: rt.policy})
	}
	return hops, nil
}

// addrs resolves a hop to "ip:port" dial addresses.
func (rt *router) addrs(ctx context.Context, h hop) ([]string, error) {
	if net.ParseIP(h.name) != nil {
		return []string{net.JoinHostPort(h.name, strconv.Itoa(h.port))}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	ips, err := rt.resolver.LookupHost(ctx, h.name)
	if err != nil {
		return nil, classify(fmt.Errorf("address lookup for %s: %w", h.name, err), h.name)
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = net.JoinHostPort(ip, strconv.Itoa(h.port))
	}
	return out, nil
}

// splitHostPort parses "host:port", "[v6]:port" or a bare host (port 25).
func splitHostPort(s string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		if host := strings.Trim(s, "[]"); host != "" && strings.Contains(err.Error(), "missing port") {
			return host, 25, nil
		}
		return "", 0, fmt.Errorf("bad next hop %q: %w", s, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 || host == "" {
		return "", 0, fmt.Errorf("bad next hop %q: want host:port", s)
	}
	return host, port, nil
}
