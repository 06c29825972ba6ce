package mta

import (
	"context"
	"errors"
	"net"

	"multimail.dev/multimail/dnsclient"
)

// Resolver answers the DNS questions delivery asks. Both methods follow *net.Resolver's
// contract: a name that does not exist, or has no record of the type, is a *net.DNSError with
// IsNotFound; a failure that may pass is a *net.DNSError with IsTemporary or IsTimeout. A null
// MX comes back as one record with Host ".". The node's shared *dnsclient.Client (which
// caches) is the implementation; *net.Resolver satisfies it too.
type Resolver interface {
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

var (
	_ Resolver = (*net.Resolver)(nil)
	_ Resolver = (*dnsclient.Client)(nil)
)

// systemResolver is the default: a caching client of /etc/resolv.conf's servers.
func systemResolver() (Resolver, error) {
	return dnsclient.New(dnsclient.Config{})
}

// isNotFound reports whether err is a definite "no such name or record" answer.
func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
