package mta

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"multimail.dev/multimail/dnsclient"
)

// testResolver returns a caching dnsclient asking the DNS server at addr.
func testResolver(t testing.TB, addr string) Resolver {
	t.Helper()
	return testResolverTimeout(t, addr, 5*time.Second)
}

func testResolverTimeout(t testing.TB, addr string, timeout time.Duration) Resolver {
	t.Helper()
	c, err := dnsclient.New(dnsclient.Config{Servers: []string{addr}, Timeout: timeout, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDNSResolverUnreachable(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // a server that never answers
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := testResolverTimeout(t, pc.LocalAddr().String(), 50*time.Millisecond)
	_, err = r.LookupMX(context.Background(), "example.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTemporary || de.IsNotFound {
		t.Fatalf("LookupMX = %v, want a temporary DNSError", err)
	}
	if e := classify(err, ""); e.Perm || e.Status != "4.4.3" {
		t.Fatalf("classified as %+v", e)
	}
}
