package e2e

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"multimail.dev/multimail/internal/unboundtest"
	"multimail.dev/multimail/mta/mtatest"
)

// TestDANEUnbound runs the binary with dane = true behind Debian's unbound, validating a zone
// signed by ldns-signzone: good.test's MX publishes TLSA 3 1 1 of the test MX's certificate
// and gets the mail over DANE-verified TLS; wrong.test's TLSA matches nothing and is deferred;
// bogus.test's TLSA answer has expired signatures (unbound: SERVFAIL) and is deferred, never
// sent with opportunistic TLS. The day's TLS-RPT reports carry the three as "tlsa" policies.
func TestDANEUnbound(t *testing.T) {
	t.Parallel()
	ca, err := mtatest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"mx.good.test", "mx.wrong.test", "mx.bogus.test"}
	mxTLS, err := ca.ServerTLS(0, hosts...)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(mxTLS.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	mx := mtatest.NewMX(t, mtatest.MXOptions{Hostname: "mx.good.test", TLSConfig: mxTLS})
	match, err := dns.CertificateToDANE(1, 1, leaf)
	if err != nil {
		t.Fatal(err)
	}
	tlsa := func(host, data string) string {
		return fmt.Sprintf("_%d._tcp.%s. IN TLSA 3 1 1 %s", mx.Port(), host, data)
	}
	var recs []string
	for _, d := range []string{"good", "wrong", "bogus"} {
		recs = append(recs, d+".test. IN MX 10 mx."+d+".test.", "mx."+d+".test. IN A 127.0.0.1")
	}
	recs = append(recs, tlsa("mx.good.test", match), tlsa("mx.wrong.test", strings.Repeat("00", 32)),
		tlsa("mx.bogus.test", match))
	ub := unboundtest.Start(t, unboundtest.Options{Origin: "test.", Records: recs,
		Expired: []string{fmt.Sprintf("_%d._tcp.mx.bogus.test.", mx.Port())}})
	logTLSALookup(t, ub.Addr, fmt.Sprintf("_%d._tcp.mx.good.test.", mx.Port()), leaf)

	n := Start(t, Options{NoTransport: true, Config: fmt.Sprintf(`[dns]
resolver = %q

[delivery]
mx_port = %d

[transport_security]
dane = true
`, ub.Addr, mx.Port())})
	ctx := Context(t, 60*time.Second)

	good := send(t, n, `{"mailbox_id":"auth@example.com","to":"someone@good.test","subject":"dane","text":"x"}`)
	h, err := n.Hooks.WaitEvent(ctx, good.MessageID, "delivered")
	if err != nil {
		t.Fatal(err)
	}
	if h.Event["tls"] != true || h.Event["mx_host"] != "mx.good.test" {
		t.Fatalf("delivered event %s, want TLS to mx.good.test", h.Body)
	}
	for _, c := range []struct{ to, detail string }{
		{"someone@wrong.test", "DANE: TLS matching the TLSA records of mx.wrong.test is required"},
		{"someone@bogus.test", "TLSA lookup for mx.bogus.test failed"},
	} {
		id := send(t, n, `{"mailbox_id":"auth@example.com","to":"`+c.to+`","subject":"dane","text":"x"}`).MessageID
		h, err := n.Hooks.WaitEvent(ctx, id, "deferred")
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := h.Event["error_detail"].(string); !strings.Contains(d, c.detail) {
			t.Fatalf("%s: deferred event %s, want %q", c.to, h.Body, c.detail)
		}
	}
	if got := mx.Count(); got != 1 {
		t.Fatalf("the MX received %d messages, want 1 (wrong.test and bogus.test never sent)", got)
	}
	checkDANETLSRPT(t, n)
}

// checkDANETLSRPT makes today's reports and checks the tlsa policy of each domain.
func checkDANETLSRPT(t *testing.T, n *Node) {
	t.Helper()
	rpts := tlsrptReports(t, n)
	got := map[string]string{}
	for _, raw := range rpts {
		r := mtatest.CheckTLSRPT(t, raw)
		for _, p := range r["policies"].([]any) {
			pm := p.(map[string]any)
			pol := pm["policy"].(map[string]any)
			if pol["policy-type"] != "tlsa" {
				continue
			}
			outcome := "success"
			if fds, _ := pm["failure-details"].([]any); len(fds) > 0 {
				outcome = fds[0].(map[string]any)["result-type"].(string)
			}
			got[pol["policy-domain"].(string)] = outcome
		}
	}
	want := map[string]string{"good.test": "success", "wrong.test": "tlsa-invalid", "bogus.test": "dnssec-invalid"}
	for d, w := range want {
		if got[d] != w {
			t.Errorf("%s: tlsa report outcome %q, want %q (reports %s)", d, got[d], w, rpts)
		}
	}
}

// logTLSALookup measures what DANE costs per MX host: the TLSA lookup through unbound, cold
// (unbound fetches DNSKEY and TLSA from the authority and validates) and cached, and the
// match of the record against the certificate. Logged, never asserted.
func logTLSALookup(t *testing.T, resolver, name string, leaf *x509.Certificate) {
	t.Helper()
	c := &dns.Client{Timeout: 5 * time.Second}
	var took [2]time.Duration
	var resp *dns.Msg
	for i := range took {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeTLSA)
		m.SetEdns0(4096, true)
		var err error
		resp, took[i], err = c.Exchange(m, resolver)
		if err != nil || !resp.AuthenticatedData || len(resp.Answer) == 0 {
			t.Fatalf("TLSA %s through unbound: %v %v", name, err, resp)
		}
	}
	start := time.Now()
	rec, _ := resp.Answer[0].(*dns.TLSA)
	if rec == nil || rec.Verify(leaf) != nil {
		t.Fatalf("TLSA answer %v does not match the MX certificate", resp.Answer)
	}
	t.Logf("DANE cost: TLSA lookup through unbound cold %v, cached %v; TLSA match %v",
		took[0], took[1], time.Since(start))
}
