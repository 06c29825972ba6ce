package mta

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// STSOptions turns on MTA-STS (RFC 8461) for deliveries routed by MX (never for
// [[transport]] routes or local domains). Zero values take the documented defaults.
type STSOptions struct {
	// CacheFile keeps fetched policies across restarts (JSON, written atomically); "" keeps
	// them in memory only. cmd/multimail uses data_dir/mta-sts.json.
	CacheFile string
	// Wait is how long a delivery waits for the first fetch of a domain's policy; default 3s.
	// A fetch still running after it defers the recipients (4.7.0, retried by the queue).
	Wait time.Duration
	// FetchTimeout bounds one policy fetch (connect, TLS, headers, body); default 15s.
	FetchTimeout time.Duration
	// MaxPolicyBytes caps the policy body; default 64 KiB.
	MaxPolicyBytes int64
	// Refetch is the least time between two fetches for one domain (a failed fetch, or an
	// id that keeps changing); default 5m.
	Refetch time.Duration
	// MaxFetches bounds the fetches running at once; default 4.
	MaxFetches int
	// Port is the HTTPS port of mta-sts.<domain>; default 443. Tests only.
	Port int
	// AllowNetworks lets the fetch reach these otherwise refused networks (loopback, private,
	// link-local). Tests only.
	AllowNetworks []netip.Prefix
	// RootCAs verifies the policy host's and, under an enforce policy, the MX hosts'
	// certificates; nil: the system roots.
	RootCAs *x509.CertPool
}

func (o STSOptions) withDefaults() STSOptions {
	setDefault(&o.Wait, 3*time.Second)
	setDefault(&o.FetchTimeout, 15*time.Second)
	setDefault(&o.MaxPolicyBytes, 64<<10)
	setDefault(&o.Refetch, 5*time.Minute)
	setDefault(&o.MaxFetches, 4)
	setDefault(&o.Port, 443)
	return o
}

// errRefusedAddr: the policy host resolves only to addresses the fetch may not reach.
var errRefusedAddr = errors.New("mta-sts: policy host resolves to a refused address")

// stsFetcher GETs policies over HTTPS: the host's addresses come from the node's resolver and
// loopback, private, link-local, multicast and unspecified ones are refused (unless allowed
// for tests), redirects are not followed, the body is capped and the whole fetch is bounded.
type stsFetcher struct {
	opts     STSOptions
	resolver Resolver
	client   *http.Client
}

func newSTSFetcher(o STSOptions, r Resolver) *stsFetcher {
	f := &stsFetcher{opts: o, resolver: r}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            f.dial,
		TLSClientConfig:        &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    o.FetchTimeout,
		ResponseHeaderTimeout:  o.FetchTimeout,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 16 << 10,
	}
	f.client = &http.Client{Transport: tr, Timeout: o.FetchTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return f
}

// allowed reports whether the fetch may connect to ip.
func (f *stsFetcher) allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range f.opts.AllowNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() &&
		!cgnat.Contains(ip)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598 shared address space

// dial resolves host through the node's resolver and connects to the first allowed address.
func (f *stsFetcher) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := f.resolver.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	var nd net.Dialer
	lastErr := fmt.Errorf("%w (%s)", errRefusedAddr, host)
	for _, s := range ips {
		ip, err := netip.ParseAddr(s)
		if err != nil || !f.allowed(ip) {
			continue
		}
		c, err := nd.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// fetch GETs the policy of domain and parses it.
func (f *stsFetcher) fetch(ctx context.Context, domain string) (*STSPolicy, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.FetchTimeout)
	defer cancel()
	host := "mta-sts." + domain
	u := "https://" + net.JoinHostPort(host, strconv.Itoa(f.opts.Port)) + "/.well-known/mta-sts.txt"
	if f.opts.Port == 443 {
		u = "https://" + host + "/.well-known/mta-sts.txt"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mta-sts: fetch %s: %w", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("mta-sts: fetch %s: HTTP %d (redirects are not followed)", u, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/plain" {
		return nil, fmt.Errorf("mta-sts: fetch %s: media type %q, want text/plain", u, clip(mt))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("mta-sts: fetch %s: %w", u, err)
	}
	if int64(len(body)) > f.opts.MaxPolicyBytes {
		return nil, fmt.Errorf("mta-sts: fetch %s: policy larger than %d bytes", u, f.opts.MaxPolicyBytes)
	}
	return ParseSTSPolicy(body)
}
