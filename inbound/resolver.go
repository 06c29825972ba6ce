package inbound

import (
	"context"
	"net"

	"multimail.dev/multimail/dnsclient"
)

// Resolver answers the DNS questions SPF, DKIM and DMARC ask. It is blitiri.com.ar/go/spf's
// DNSResolver, which *net.Resolver and the node's shared *dnsclient.Client satisfy, and
// follows net's error contract: a name that does not exist, or has no record of the type, is
// a *net.DNSError with IsNotFound; a failure that may pass is a *net.DNSError with
// IsTemporary or IsTimeout. The error must be the *net.DNSError itself, not wrapped: the SPF
// and go-msgauth libraries type-assert it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

var (
	_ Resolver = (*net.Resolver)(nil)
	_ Resolver = (*dnsclient.Client)(nil)
)

// systemResolver is the default: a caching client of /etc/resolv.conf's servers.
func systemResolver() (Resolver, error) {
	return dnsclient.New(dnsclient.Config{})
}
