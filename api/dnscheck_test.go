package api

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/mta/mtatest"
)

// TestDomainCheck publishes a zone on a test DNS server with some records right (the MX, the
// 2048-bit DKIM key split in 255-byte strings, DMARC, the mta-sts host, the PTR), some
// missing (_mta-sts) and some wrong (SPF without mx, another identity key, TLS-RPT without
// rua), and checks what GET /v1/admin/domains/{name}/check says of each.
func TestDomainCheck(t *testing.T) {
	t.Parallel()
	dns := mtatest.NewDNS(t, nil)
	e := newEnv(t, envOptions{resolver: testResolver(dns.Addr())})
	if r := e.do("POST", "/v1/admin/domains", "admin", map[string]string{"name": "check.example"}); r.status != 201 {
		t.Fatalf("add domain: %d %s", r.status, r.body)
	}
	var want wire.DNS
	r := e.do("GET", "/v1/admin/domains/check.example/dns", "admin", nil)
	r.json(t, &want)
	rec := map[string]wire.DNSRecord{}
	for _, x := range want.Records {
		rec[x.Purpose] = x
	}
	if len(rec["dkim"].Value) <= 255 || !strings.Contains(want.Text, `" "`) {
		t.Fatalf("a 2048-bit DKIM record should be over 255 bytes and printed split: %d bytes\n%s", len(rec["dkim"].Value), want.Text)
	}
	dns.Set("check.example", mtatest.Records{
		MX:  []net.MX{{Host: "mx.test.", Pref: 10}},
		TXT: []string{"v=spf1 ip4:192.0.2.1 -all", "google-site-verification=abc"},
	})
	dns.Set(rec["dkim"].Name, mtatest.Records{TXT: []string{rec["dkim"].Value}}) // split in chunks by the server
	dns.Set(rec["identity"].Name, mtatest.Records{TXT: []string{"v=DKIM1; k=ed25519; p=AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}})
	dns.Set(rec["dmarc"].Name, mtatest.Records{TXT: []string{"v=DMARC1; p=quarantine; rua=mailto:dmarc@check.example"}})
	dns.Set(rec["mta-sts-host"].Name, mtatest.Records{A: []string{"192.0.2.1"}})
	dns.Set(rec["tls-rpt"].Name, mtatest.Records{TXT: []string{"v=TLSRPTv1;"}})
	dns.Set("mx.test", mtatest.Records{A: []string{"192.0.2.1"}})
	dns.Set("1.2.0.192.in-addr.arpa", mtatest.Records{PTR: []string{"mx.test."}})

	var got wire.DomainCheck
	r = e.do("GET", "/v1/admin/domains/check.example/check", "admin", nil)
	if r.status != 200 {
		t.Fatalf("check: %d %s", r.status, r.body)
	}
	r.json(t, &got)
	results := map[string]wire.RecordCheck{}
	for _, c := range got.Records {
		results[c.Purpose] = c
	}
	for purpose, result := range map[string]string{
		"mx": "ok", "spf": "wrong", "dkim": "ok", "identity": "wrong", "dmarc": "ok",
		"mta-sts": "missing", "mta-sts-host": "ok", "tls-rpt": "wrong", "ptr": "ok",
	} {
		c, ok := results[purpose]
		if !ok {
			t.Errorf("no %s check in %s", purpose, r.body)
			continue
		}
		if c.Result != result {
			t.Errorf("%s: %s (%s; found %q), want %s", purpose, c.Result, c.Detail, c.Found, result)
		}
		if c.Expected == "" || (result != "ok" && c.Detail == "") {
			t.Errorf("%s: expected %q, detail %q", purpose, c.Expected, c.Detail)
		}
	}
	if results["dkim"].Expected != rec["dkim"].Value || len(results["dkim"].Found) != 1 || results["dkim"].Found[0] != rec["dkim"].Value {
		t.Errorf("dkim: the split record was not joined: %q", results["dkim"].Found)
	}
	if got.OK || len(got.Records) != len(want.Records)+1 {
		t.Errorf("ok = %v with %d checks", got.OK, len(got.Records))
	}

	// Fixed, the PTR broken: every record ok but the PTR.
	dns.Set("check.example", mtatest.Records{MX: []net.MX{{Host: "mx.test.", Pref: 10}}, TXT: []string{rec["spf"].Value}})
	dns.Set(rec["identity"].Name, mtatest.Records{TXT: []string{rec["identity"].Value}})
	dns.Set(rec["mta-sts"].Name, mtatest.Records{TXT: []string{rec["mta-sts"].Value}})
	dns.Set(rec["tls-rpt"].Name, mtatest.Records{TXT: []string{rec["tls-rpt"].Value}})
	dns.Set("1.2.0.192.in-addr.arpa", mtatest.Records{PTR: []string{"vps-1234.provider.example."}})
	r = e.do("GET", "/v1/admin/domains/check.example/check", "admin", nil)
	got = wire.DomainCheck{}
	r.json(t, &got)
	for _, c := range got.Records {
		want := "ok"
		if c.Purpose == "ptr" {
			want = "wrong"
		}
		if c.Result != want {
			t.Errorf("after the fix, %s: %s (%s), want %s", c.Purpose, c.Result, c.Detail, want)
		}
	}
	if r := e.do("GET", "/v1/admin/domains/none.example/check", "admin", nil); r.status != 404 {
		t.Errorf("unknown domain: %d", r.status)
	}
}

// TestMTASTSPolicy: the policy is served for mta-sts.<local domain> only.
func TestMTASTSPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.do("POST", "/v1/admin/domains", "admin", map[string]string{"name": "sts.example", "key_type": "ed25519"})
	for host, want := range map[string]int{"mta-sts.sts.example": 200, "MTA-STS.sts.example:443": 200, "mta-sts.other.example": 404, "sts.example": 404} {
		req, _ := http.NewRequest("GET", e.http.URL+MTASTSPath, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
		if want == 200 && (string(body) != "version: STSv1\r\nmode: testing\r\nmx: mx.test\r\nmax_age: 604800\r\n" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain")) {
			t.Errorf("policy %q (%s)", body, resp.Header.Get("Content-Type"))
		}
	}
}
