package unboundtest

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestValidates checks that unbound validates the served zone: a signed answer, a NODATA and
// an NXDOMAIN come back with the AD bit, and an owner with expired signatures is SERVFAIL.
func TestValidates(t *testing.T) {
	t.Parallel()
	r := Start(t, Options{Origin: "test.", Records: []string{
		"good.test. IN MX 10 mx.good.test.",
		"mx.good.test. IN A 127.0.0.1",
		"_25._tcp.mx.good.test. IN TLSA 3 1 1 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
		"_25._tcp.mx.bogus.test. IN TLSA 3 1 1 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
		"mx.bogus.test. IN A 127.0.0.1",
	}, Expired: []string{"_25._tcp.mx.bogus.test."}})
	for _, c := range []struct {
		name  string
		qtype uint16
		rcode int
		ad    bool
		n     int
	}{
		{"good.test.", dns.TypeMX, dns.RcodeSuccess, true, 1},
		{"_25._tcp.mx.good.test.", dns.TypeTLSA, dns.RcodeSuccess, true, 1},
		{"mx.good.test.", dns.TypeAAAA, dns.RcodeSuccess, true, 0},
		{"_tcp.mx.good.test.", dns.TypeA, dns.RcodeSuccess, true, 0},
		{"nothere.good.test.", dns.TypeA, dns.RcodeNameError, true, 0},
		{"zzz.test.", dns.TypeTXT, dns.RcodeNameError, true, 0},
		{"mx.bogus.test.", dns.TypeA, dns.RcodeSuccess, true, 1},
		{"_25._tcp.mx.bogus.test.", dns.TypeTLSA, dns.RcodeServerFailure, false, 0},
	} {
		m := new(dns.Msg)
		m.SetQuestion(c.name, c.qtype)
		m.SetEdns0(4096, true)
		resp, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, r.Addr)
		if err != nil {
			t.Fatalf("%s %s: %v", c.name, dns.TypeToString[c.qtype], err)
		}
		n := 0
		for _, rr := range resp.Answer {
			if rr.Header().Rrtype == c.qtype {
				n++
			}
		}
		if resp.Rcode != c.rcode || resp.AuthenticatedData != c.ad || n != c.n {
			t.Errorf("%s %s: rcode %s AD %v %d answers, want %s AD %v %d", c.name, dns.TypeToString[c.qtype],
				dns.RcodeToString[resp.Rcode], resp.AuthenticatedData, n, dns.RcodeToString[c.rcode], c.ad, c.n)
		}
	}
}
