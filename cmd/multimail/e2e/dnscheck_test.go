package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"multimail.dev/multimail/mta/mtatest"
)

// TestDomainCheckCLI: `multimail domain check` asks the configured resolver (a test DNS
// server) and reports each record ok, missing or wrong with the expected value; the RSA DKIM
// record, split in 255-byte strings on the wire, is joined and found right. The node serves
// the MTA-STS policy that domain dns points at.
func TestDomainCheckCLI(t *testing.T) {
	t.Parallel()
	dns := mtatest.NewDNS(t, nil)
	n := Start(t, Options{Config: "[dns]\nresolver = \"" + dns.Addr() + "\"\n"})
	var recs struct {
		Records []struct{ Purpose, Name, Type, Value string }
		Text    string
	}
	if err := json.Unmarshal([]byte(n.mustCLI(t, "domain", "dns", Domain, "--json")), &recs); err != nil {
		t.Fatal(err)
	}
	byPurpose := map[string]string{}
	for _, r := range recs.Records {
		byPurpose[r.Purpose] = r.Name
		if r.Purpose == "dkim" {
			dns.Set(r.Name, mtatest.Records{TXT: []string{r.Value}})
			if len(r.Value) <= 255 {
				t.Fatalf("the test's RSA DKIM record is %d bytes", len(r.Value))
			}
		}
	}
	text := n.mustCLI(t, "domain", "dns", Domain)
	for _, want := range []string{"p=none", "_mta-sts." + Domain, "mta-sts." + Domain, "_smtp._tls." + Domain, "PTR", `" "`} {
		if !strings.Contains(text, want) {
			t.Errorf("domain dns lacks %q:\n%s", want, text)
		}
	}
	dns.Set(Domain, mtatest.Records{MX: []net.MX{{Host: "mx.e2e.test.", Pref: 10}}})                  // MX right, SPF missing
	dns.Set(byPurpose["dmarc"], mtatest.Records{TXT: []string{"v=DMARC1; rua=mailto:x@example.com"}}) // no p=: wrong
	out, err := n.cli(t, "domain", "check", Domain)
	if err == nil {
		t.Fatalf("domain check exit 0 with records missing:\n%s", out)
	}
	for _, re := range []string{`(?m)^ok\s+mx\s`, `(?m)^ok\s+dkim\s`, `(?m)^missing\s+spf\s`, `(?m)^wrong\s+dmarc\s`, `(?m)^missing\s+tls-rpt\s`,
		`expected: v=spf1 mx ~all`, `expected: v=DMARC1; p=none`, `found:    v=DMARC1; rua=mailto:x@example.com`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("domain check output lacks %s:\n%s", re, out)
		}
	}
	req, _ := http.NewRequest("GET", n.URL("/.well-known/mta-sts.txt"), nil)
	req.Host = "mta-sts." + Domain
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "mx: mx.e2e.test") {
		t.Errorf("MTA-STS policy: %d %q", resp.StatusCode, body)
	}
}
