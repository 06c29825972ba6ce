package api

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/mta/mtatest"
)

// TestDomainDNSAndCheckPools: domain dns lists every pool address in SPF and asks for a PTR
// naming the pool's HELO name and an A/AAAA back; domain check verifies both (FCrDNS) and the
// SPF's coverage of the pool addresses, with the project's test DNS server.
func TestDomainDNSAndCheckPools(t *testing.T) {
	t.Parallel()
	dns := mtatest.NewDNS(t, nil)
	pools := []SourcePool{
		{Name: "auth", HELO: "auth-out.pools.example", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")}},
		{Name: "bulk", HELO: "bulk-out.pools.example", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.20")}},
	}
	e := newEnv(t, envOptions{resolver: testResolver(dns.Addr()), pools: pools})
	if r := e.do("POST", "/v1/admin/domains", "admin", map[string]string{"name": "pools.example"}); r.status != 201 {
		t.Fatalf("add domain: %d %s", r.status, r.body)
	}
	var want wire.DNS
	e.do("GET", "/v1/admin/domains/pools.example/dns", "admin", nil).json(t, &want)
	var spf string
	ptrs, helos := map[string]string{}, map[string][]string{}
	for _, r := range want.Records {
		switch r.Purpose {
		case "spf":
			spf = r.Value
		case purposePoolPTR:
			ptrs[r.Name] = r.Value
		case purposePoolHELO:
			helos[r.Name] = append(helos[r.Name], r.Type+" "+r.Value)
		}
	}
	if spf != "v=spf1 mx ip4:192.0.2.10 ip6:2001:db8::10 ip4:192.0.2.20 ~all" {
		t.Errorf("spf %q", spf)
	}
	if ptrs["10.2.0.192.in-addr.arpa."] != "auth-out.pools.example." ||
		ptrs["0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."] != "auth-out.pools.example." ||
		ptrs["20.2.0.192.in-addr.arpa."] != "bulk-out.pools.example." || len(ptrs) != 3 {
		t.Errorf("ptr records %v", ptrs)
	}
	if strings.Join(helos["auth-out.pools.example."], ",") != "A 192.0.2.10,AAAA 2001:db8::10" {
		t.Errorf("helo records %v", helos)
	}
	if !strings.Contains(want.Text, "10.2.0.192.in-addr.arpa.\t3600\tIN\tPTR\tauth-out.pools.example.") {
		t.Errorf("zone text lacks the PTR:\n%s", want.Text)
	}

	// Published: the SPF covers the IPv4 addresses by a /24 but not the IPv6 one; the auth
	// PTRs are right (FCrDNS holds); bulk's PTR names another host.
	dns.Set("pools.example", mtatest.Records{TXT: []string{"v=spf1 mx ip4:192.0.2.0/24 ~all"}, MX: []net.MX{{Host: "mx.test.", Pref: 10}}})
	dns.Set("10.2.0.192.in-addr.arpa", mtatest.Records{PTR: []string{"auth-out.pools.example."}})
	dns.Set("0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", mtatest.Records{PTR: []string{"auth-out.pools.example."}})
	dns.Set("20.2.0.192.in-addr.arpa", mtatest.Records{PTR: []string{"static-20.isp.example."}})
	dns.Set("auth-out.pools.example", mtatest.Records{A: []string{"192.0.2.10"}, AAAA: []string{"2001:db8::10"}})
	dns.Set("bulk-out.pools.example", mtatest.Records{A: []string{"192.0.2.99"}})
	var got wire.DomainCheck
	if r := e.do("GET", "/v1/admin/domains/pools.example/check", "admin", nil); r.status != 200 {
		t.Fatalf("check: %d %s", r.status, r.body)
	} else {
		r.json(t, &got)
	}
	results := map[string]string{}
	for _, c := range got.Records {
		results[c.Purpose+" "+c.Name+" "+c.Expected] = c.Result
		if c.Purpose == "spf" && (c.Result != "wrong" || !strings.Contains(c.Detail, "ip6:2001:db8::10")) {
			t.Errorf("spf without the pool's IPv6 address: %s %s", c.Result, c.Detail)
		}
	}
	for k, w := range map[string]string{
		"pool-ptr 10.2.0.192.in-addr.arpa. auth-out.pools.example.":                                                  "ok",
		"pool-ptr 0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. auth-out.pools.example.": "ok",
		"pool-ptr 20.2.0.192.in-addr.arpa. bulk-out.pools.example.":                                                  "wrong",
		"pool-helo auth-out.pools.example. 192.0.2.10":                                                               "ok",
		"pool-helo auth-out.pools.example. 2001:db8::10":                                                             "ok",
		"pool-helo bulk-out.pools.example. 192.0.2.20":                                                               "wrong",
	} {
		if results[k] != w {
			t.Errorf("%s: %q, want %s", k, results[k], w)
		}
	}
	if got.OK {
		t.Error("check ok with a wrong PTR")
	}
}
