package inbound

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

func TestDNSResolver(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("v=spf1 include:a-long-name.example ", 60) // > 1232 bytes: truncated over UDP
	d := mtatest.NewDNS(t, map[string]mtatest.Records{
		"txt.example":            {TXT: []string{"v=spf1 -all"}, MX: []net.MX{{Host: "mx.txt.example", Pref: 10}}, A: []string{"192.0.2.1"}, AAAA: []string{"2001:db8::1"}},
		"long.example":           {TXT: []string{long}},
		"empty.example":          {},
		"fail.example":           {ServFail: true},
		"1.2.0.192.in-addr.arpa": {},
	})
	r := NewDNSResolver(d.Addr(), 2*time.Second)
	ctx := context.Background()

	if txt, err := r.LookupTXT(ctx, "txt.example"); err != nil || len(txt) != 1 || txt[0] != "v=spf1 -all" {
		t.Errorf("LookupTXT = %q, %v", txt, err)
	}
	if txt, err := r.LookupTXT(ctx, "long.example"); err != nil || len(txt) != 1 || txt[0] != long {
		t.Errorf("LookupTXT over TCP = %d records, %v", len(txt), err)
	}
	if mx, err := r.LookupMX(ctx, "txt.example"); err != nil || len(mx) != 1 || mx[0].Host != "mx.txt.example." {
		t.Errorf("LookupMX = %v, %v", mx, err)
	}
	if ips, err := r.LookupIPAddr(ctx, "txt.example"); err != nil || len(ips) != 2 {
		t.Errorf("LookupIPAddr = %v, %v", ips, err)
	}
	for _, tc := range []struct {
		name     string
		lookup   func() error
		notFound bool
	}{
		{"nxdomain", func() error { _, err := r.LookupTXT(ctx, "absent.example"); return err }, true},
		{"nodata", func() error { _, err := r.LookupTXT(ctx, "empty.example"); return err }, true},
		{"ptr nodata", func() error { _, err := r.LookupAddr(ctx, "192.0.2.1"); return err }, true},
		{"servfail", func() error { _, err := r.LookupTXT(ctx, "fail.example"); return err }, false},
	} {
		err := tc.lookup()
		de, ok := err.(*net.DNSError) // not errors.As: the SPF library type-asserts
		if !ok || de.IsNotFound != tc.notFound || de.Temporary() == tc.notFound {
			t.Errorf("%s: err = %#v, want a *net.DNSError with IsNotFound=%v", tc.name, err, tc.notFound)
		}
	}
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
	r := NewDNSResolver(silentDNS(t), time.Minute)
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
		o.Resolver = NewDNSResolver(addr, time.Minute)
		o.CheckTimeout = 300 * time.Millisecond
	})
	_, raw := e.mustStore(t, "a@pass.example", "agent@example.com", plainMessage("a@pass.example", "slow", "x"))
	ar := headerValues(raw, "Authentication-Results")
	if len(ar) != 1 || !strings.Contains(ar[0], "spf=temperror") || !strings.Contains(ar[0], "dmarc=temperror") {
		t.Fatalf("Authentication-Results = %q, want temperror", ar)
	}
}
