package inbound

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/dnsclient"
)

// testResolver returns a caching dnsclient asking the test DNS server at addr.
func testResolver(t testing.TB, addr string, timeout time.Duration) Resolver {
	t.Helper()
	c, err := dnsclient.New(dnsclient.Config{Servers: []string{addr}, Timeout: timeout, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// silentDNS is a UDP socket that reads questions and never answers.
func silentDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().String()
}

func TestDNSResolverHonoursContext(t *testing.T) {
	t.Parallel()
	r := testResolver(t, silentDNS(t), time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := r.LookupTXT(ctx, "slow.example")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.Temporary() {
		t.Fatalf("err = %v, want a temporary DNS error", err)
	}
}

func TestSlowDNSNeverHangsASession(t *testing.T) {
	t.Parallel()
	addr := silentDNS(t)
	e := newEnv(t, func(o *Options) {
		o.Resolver = testResolver(t, addr, time.Minute)
		o.CheckTimeout = 300 * time.Millisecond
	})
	_, raw := e.mustStore(t, "a@pass.example", "agent@example.com", plainMessage("a@pass.example", "slow", "x"))
	ar := headerValues(raw, "Authentication-Results")
	if len(ar) != 1 || !strings.Contains(ar[0], "spf=temperror") || !strings.Contains(ar[0], "dmarc=temperror") {
		t.Fatalf("Authentication-Results = %q, want temperror", ar)
	}
}
