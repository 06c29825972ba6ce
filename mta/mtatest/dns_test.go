package mtatest

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestDNSAnswers(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 400)
	d := NewDNS(t, map[string]Records{
		"example.test":     {MX: []net.MX{{Host: "mx1.example.test", Pref: 10}}, TXT: []string{"v=spf1 -all"}},
		"mx1.example.test": {A: []string{"127.0.0.1"}, AAAA: []string{"::1"}},
		"null.test":        {MX: NullMX()},
		"dkim.test":        {TXT: []string{long}},
		"broken.test":      {ServFail: true},
	})
	cases := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
		want  string // substring of the first answer
	}{
		{"mx", "example.test", dns.TypeMX, dns.RcodeSuccess, "10 mx1.example.test."},
		{"a", "MX1.example.test.", dns.TypeA, dns.RcodeSuccess, "127.0.0.1"},
		{"aaaa", "mx1.example.test", dns.TypeAAAA, dns.RcodeSuccess, "::1"},
		{"txt", "example.test", dns.TypeTXT, dns.RcodeSuccess, "v=spf1 -all"},
		{"long txt", "dkim.test", dns.TypeTXT, dns.RcodeSuccess, `"` + strings.Repeat("k", 255) + `" "`},
		{"null mx", "null.test", dns.TypeMX, dns.RcodeSuccess, "0 ."},
		{"nodata", "mx1.example.test", dns.TypeMX, dns.RcodeSuccess, ""},
		{"nxdomain", "nope.test", dns.TypeA, dns.RcodeNameError, ""},
		{"servfail", "broken.test", dns.TypeA, dns.RcodeServerFailure, ""},
	}
	for _, tc := range cases {
		for _, netw := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+netw, func(t *testing.T) {
				m := new(dns.Msg)
				m.SetQuestion(dns.Fqdn(tc.qname), tc.qtype)
				c := &dns.Client{Net: netw, Timeout: 5 * time.Second}
				r, _, err := c.Exchange(m, d.Addr())
				if err != nil {
					t.Fatal(err)
				}
				if r.Rcode != tc.rcode {
					t.Fatalf("rcode %d, want %d", r.Rcode, tc.rcode)
				}
				if tc.want == "" {
					if len(r.Answer) != 0 {
						t.Fatalf("answer %v, want none", r.Answer)
					}
					return
				}
				if len(r.Answer) == 0 || !strings.Contains(r.Answer[0].String(), tc.want) {
					t.Fatalf("answer %v, want %q", r.Answer, tc.want)
				}
			})
		}
	}
}

// TestDNSWithNetResolver checks the server works as the Go resolver's server, which is how
// other packages' tests may use it.
func TestDNSWithNetResolver(t *testing.T) {
	t.Parallel()
	d := NewDNS(t, map[string]Records{"example.test": {MX: []net.MX{{Host: "mx.example.test", Pref: 5}}}})
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, network, d.Addr())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mxs, err := r.LookupMX(ctx, "example.test")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "mx.example.test." {
		t.Fatalf("LookupMX = %v, %v", mxs, err)
	}
	d.Set("example.test", Records{MX: []net.MX{{Host: "other.example.test", Pref: 5}}})
	mxs, _ = r.LookupMX(ctx, "example.test")
	if !slices.ContainsFunc(mxs, func(m *net.MX) bool { return m.Host == "other.example.test." }) {
		t.Fatalf("after Set: %v", mxs)
	}
	d.Delete("example.test")
	_, err = r.LookupMX(ctx, "example.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("after Delete: %v", err)
	}
}

// TestNegativeAnswersCarrySOA: NXDOMAIN and NODATA have an SOA in the authority section, so
// that a resolver may cache them (RFC 2308).
func TestNegativeAnswersCarrySOA(t *testing.T) {
	t.Parallel()
	d := NewDNS(t, map[string]Records{"mx.test": {MX: []net.MX{{Host: "mx.mx.test", Pref: 1}}}})
	for _, q := range []struct {
		name  string
		qtype uint16
		rcode int
	}{{"absent.test.", dns.TypeA, dns.RcodeNameError}, {"mx.test.", dns.TypeA, dns.RcodeSuccess}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		r, err := dns.Exchange(m, d.Addr())
		if err != nil || r.Rcode != q.rcode || len(r.Answer) != 0 || len(r.Ns) != 1 {
			t.Fatalf("%s: %v, %v", q.name, r, err)
		}
		soa, ok := r.Ns[0].(*dns.SOA)
		if !ok || soa.Hdr.Name != "test." || soa.Minttl != NegativeTTL || soa.Hdr.Ttl != NegativeTTL {
			t.Fatalf("%s: authority %v", q.name, r.Ns)
		}
	}
}
