package dnsclient

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"multimail.dev/multimail/mta/mtatest"
)

func TestLookups(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("v=spf1 include:a-long-name.example ", 60) // > 1232 bytes: TCP
	d := mtatest.NewDNS(t, map[string]mtatest.Records{
		"txt.example": {TXT: []string{"v=spf1 -all"}, MX: []net.MX{{Host: "mx.txt.example", Pref: 10}},
			A: []string{"192.0.2.1"}, AAAA: []string{"2001:db8::1"}},
		"long.example":           {TXT: []string{long}},
		"v6.example":             {AAAA: []string{"::1"}},
		"null.example":           {MX: mtatest.NullMX()},
		"empty.example":          {},
		"fail.example":           {ServFail: true},
		"1.2.0.192.in-addr.arpa": {},
	})
	c, _, _ := newTestClient(t, Config{Timeout: 2 * time.Second}, d.Addr())
	ctx := context.Background()
	mxHosts := func(mxs []*net.MX, err error) ([]string, error) {
		var out []string
		for _, m := range mxs {
			out = append(out, m.Host)
		}
		return out, err
	}
	ipStrings := func(ips []net.IPAddr, err error) ([]string, error) {
		var out []string
		for _, ip := range ips {
			out = append(out, ip.String())
		}
		return out, err
	}
	cases := []struct {
		name     string
		call     func() ([]string, error)
		want     []string
		notFound bool
		temp     bool
	}{
		{"txt", func() ([]string, error) { return c.LookupTXT(ctx, "txt.example") }, []string{"v=spf1 -all"}, false, false},
		{"txt over TCP, joined", func() ([]string, error) { return c.LookupTXT(ctx, "long.example") }, []string{long}, false, false},
		{"txt nxdomain", func() ([]string, error) { return c.LookupTXT(ctx, "absent.example") }, nil, true, false},
		{"txt nodata", func() ([]string, error) { return c.LookupTXT(ctx, "empty.example") }, nil, true, false},
		{"txt servfail", func() ([]string, error) { return c.LookupTXT(ctx, "fail.example") }, nil, false, true},
		{"mx", func() ([]string, error) { return mxHosts(c.LookupMX(ctx, "TXT.example.")) }, []string{"mx.txt.example."}, false, false},
		{"null mx", func() ([]string, error) { return mxHosts(c.LookupMX(ctx, "null.example")) }, []string{"."}, false, false},
		{"mx nodata", func() ([]string, error) { return mxHosts(c.LookupMX(ctx, "v6.example")) }, nil, true, false},
		{"host v4 and v6", func() ([]string, error) { return c.LookupHost(ctx, "txt.example") }, []string{"192.0.2.1", "2001:db8::1"}, false, false},
		{"host v6 only", func() ([]string, error) { return c.LookupHost(ctx, "v6.example") }, []string{"::1"}, false, false},
		{"host literal", func() ([]string, error) { return c.LookupHost(ctx, "127.0.0.1") }, []string{"127.0.0.1"}, false, false},
		{"host nxdomain", func() ([]string, error) { return c.LookupHost(ctx, "absent.example") }, nil, true, false},
		{"host nodata", func() ([]string, error) { return c.LookupHost(ctx, "long.example") }, nil, true, false},
		{"host servfail", func() ([]string, error) { return c.LookupHost(ctx, "fail.example") }, nil, false, true},
		{"ipaddr", func() ([]string, error) { return ipStrings(c.LookupIPAddr(ctx, "txt.example")) }, []string{"192.0.2.1", "2001:db8::1"}, false, false},
		{"ptr nodata", func() ([]string, error) { return c.LookupAddr(ctx, "192.0.2.1") }, nil, true, false},
		{"ptr nxdomain", func() ([]string, error) { return c.LookupAddr(ctx, "192.0.2.9") }, nil, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.call()
			if !tc.notFound && !tc.temp {
				if err != nil || !slices.Equal(got, tc.want) {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			de, ok := err.(*net.DNSError) // not errors.As: the SPF library type-asserts
			if !ok || de.IsNotFound != tc.notFound || de.IsTemporary != tc.temp {
				t.Fatalf("got %q, %#v; want a *net.DNSError with notFound=%v temporary=%v", got, err, tc.notFound, tc.temp)
			}
		})
	}
}

// TestHostOneFamilyFails: A answers NODATA and AAAA fails. The answer must be a temporary
// failure, never "not found" (which delivery turns into a permanent bounce). mta's former
// DNSResolver returned "not found" here.
func TestHostOneFamilyFails(t *testing.T) {
	t.Parallel()
	for _, failing := range []uint16{dns.TypeA, dns.TypeAAAA} {
		t.Run(dns.TypeToString[failing], func(t *testing.T) {
			t.Parallel()
			u := startUpstream(t, func(req *dns.Msg, _ bool) *dns.Msg {
				if req.Question[0].Qtype == failing {
					return reply(req, dns.RcodeServerFailure)
				}
				m := reply(req, dns.RcodeSuccess)
				m.Ns = []dns.RR{soa(t, 60, 60)}
				return m
			})
			c, _, _ := newTestClient(t, Config{}, u.addr)
			_, err := c.LookupHost(context.Background(), "half.test")
			de, ok := err.(*net.DNSError)
			if !ok || de.IsNotFound || !de.IsTemporary {
				t.Fatalf("LookupHost = %#v, want a temporary error", err)
			}
		})
	}
}

// TestHostNXDOMAINSkipsAAAA: a name that does not exist is not asked for AAAA.
func TestHostNXDOMAINSkipsAAAA(t *testing.T) {
	t.Parallel()
	u := startUpstream(t, func(req *dns.Msg, _ bool) *dns.Msg { return reply(req, dns.RcodeNameError) })
	c, _, _ := newTestClient(t, Config{}, u.addr)
	_, err := c.LookupHost(context.Background(), "gone.test")
	if de, ok := err.(*net.DNSError); !ok || !de.IsNotFound {
		t.Fatalf("LookupHost = %#v", err)
	}
	if u.queries() != 1 {
		t.Fatalf("upstream %d, want 1", u.queries())
	}
}
