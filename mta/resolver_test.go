package mta

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

func TestDNSResolver(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("p", 600)
	dns := mtatest.NewDNS(t, map[string]mtatest.Records{
		"dual.test":   {A: []string{"127.0.0.1"}, AAAA: []string{"::1"}},
		"v6.test":     {AAAA: []string{"::1"}},
		"txt.test":    {TXT: []string{long}},
		"mx.test":     {MX: []net.MX{{Host: "mx1.mx.test", Pref: 7}}},
		"broken.test": {ServFail: true},
	})
	r := NewDNSResolver(dns.Addr(), 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cases := []struct {
		name     string
		call     func() ([]string, error)
		want     []string
		notFound bool
		temp     bool
	}{
		{"host v4 and v6", func() ([]string, error) { return r.LookupHost(ctx, "dual.test") }, []string{"127.0.0.1", "::1"}, false, false},
		{"host v6 only", func() ([]string, error) { return r.LookupHost(ctx, "v6.test") }, []string{"::1"}, false, false},
		{"host literal", func() ([]string, error) { return r.LookupHost(ctx, "127.0.0.1") }, []string{"127.0.0.1"}, false, false},
		{"host nxdomain", func() ([]string, error) { return r.LookupHost(ctx, "nope.test") }, nil, true, false},
		{"host nodata", func() ([]string, error) { return r.LookupHost(ctx, "txt.test") }, nil, true, false},
		{"host servfail", func() ([]string, error) { return r.LookupHost(ctx, "broken.test") }, nil, false, true},
		{"txt joined", func() ([]string, error) { return r.LookupTXT(ctx, "txt.test") }, []string{long}, false, false},
		{"mx", func() ([]string, error) {
			mxs, err := r.LookupMX(ctx, "mx.test")
			var out []string
			for _, m := range mxs {
				out = append(out, m.Host)
			}
			return out, err
		}, []string{"mx1.mx.test."}, false, false},
		{"mx nodata", func() ([]string, error) { _, err := r.LookupMX(ctx, "dual.test"); return nil, err }, nil, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call()
			var de *net.DNSError
			switch {
			case tc.notFound || tc.temp:
				if !errors.As(err, &de) || de.IsNotFound != tc.notFound || de.IsTemporary != tc.temp {
					t.Fatalf("got %v, %v; want notFound=%v temporary=%v", got, err, tc.notFound, tc.temp)
				}
			case err != nil || !slices.Equal(got, tc.want):
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestDNSResolverUnreachable(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // a server that never answers
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := NewDNSResolver(pc.LocalAddr().String(), 50*time.Millisecond)
	_, err = r.LookupMX(context.Background(), "example.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTemporary || de.IsNotFound {
		t.Fatalf("LookupMX = %v, want a temporary DNSError", err)
	}
	if e := classify(err, ""); e.Perm || e.Status != "4.4.3" {
		t.Fatalf("classified as %+v", e)
	}
}
