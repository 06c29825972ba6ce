package mta_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/mta/mtatest"
	"multimail.dev/multimail/queue"
)

// daneMX starts an MX whose certificate comes from a CA the client does not trust, sending
// its chain with the CA certificate (as RFC 7672 §3.2.2 asks of DANE-TA servers).
func daneMX(t *testing.T, host string) (*mtatest.MX, *x509.Certificate, *x509.Certificate) {
	t.Helper()
	ca, err := mtatest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ca.ServerTLS(0, host)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(ca.PEM())
	cfg.Certificates[0].Certificate = append(cfg.Certificates[0].Certificate, blk.Bytes)
	leaf, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	mx := mtatest.NewMX(t, mtatest.MXOptions{Hostname: host, TLSConfig: cfg, REQUIRETLS: true})
	return mx, leaf, caCert
}

func tlsaOf(t *testing.T, usage, selector, matching uint8, c *x509.Certificate) mtatest.TLSA {
	t.Helper()
	data, err := dns.CertificateToDANE(selector, matching, c)
	if err != nil {
		t.Fatal(err)
	}
	return mtatest.TLSA{Usage: usage, Selector: selector, MatchingType: matching, Data: data}
}

// signedDomain publishes a domain whose MX answer is validated (AD) with TLSA records (or a
// SERVFAIL) for its MX host, and an MTA-STS enforce policy that lists another MX: DANE must
// win over it.
func signedDomain(w *stsWorld, name, mx string, port int, tlsa []mtatest.TLSA, servfail bool) {
	w.domain(name, mx, "1", "version: STSv1\nmode: enforce\nmx: mx.elsewhere.test\nmax_age: 86400\n")
	w.dns.Set(name, mtatest.Records{MX: []net.MX{{Host: mx + ".", Pref: 10}}, AD: true})
	w.dns.Set("_"+strconv.Itoa(port)+"._tcp."+mx, mtatest.Records{TLSA: tlsa, AD: true, ServFail: servfail})
}

func TestDANE(t *testing.T) {
	t.Parallel()
	w := newSTSWorld(t)
	mx, leaf, caCert := daneMX(t, "mx.dane.test")
	signedDomain(w, "ee.test", "mx-ee.dane.test", mx.Port(), []mtatest.TLSA{tlsaOf(t, 3, 1, 1, leaf)}, false)
	signedDomain(w, "ta.test", "mx.dane.test", mx.Port(), []mtatest.TLSA{tlsaOf(t, 2, 0, 2, caCert)}, false)
	wrong := tlsaOf(t, 3, 1, 1, leaf)
	wrong.Data = strings.Repeat("00", 32)
	signedDomain(w, "wrong.test", "mx-wrong.dane.test", mx.Port(), []mtatest.TLSA{wrong}, false)
	signedDomain(w, "servfail.test", "mx-sf.dane.test", mx.Port(), nil, true)
	d, q := w.delivererDANE(mx.Port(), t.TempDir(), true)

	for _, dom := range []string{"ee.test", "ta.test"} {
		ev := outcome(t, q, send(t, q, "ok@"+dom))
		if ev.Type != queue.EventDelivered || !ev.TLS {
			t.Fatalf("%s: event %+v, want delivered over DANE-verified TLS (DANE beats MTA-STS)", dom, ev)
		}
	}
	ev := outcome(t, q, send(t, q, "ok@wrong.test"))
	if ev.Type != queue.EventDeferred || !strings.Contains(ev.Detail, "TLSA") {
		t.Fatalf("TLSA mismatch: event %+v, want deferred", ev)
	}
	ev = outcome(t, q, send(t, q, "ok@servfail.test"))
	if ev.Type != queue.EventDeferred || !strings.Contains(ev.Detail, "TLSA lookup") {
		t.Fatalf("TLSA SERVFAIL: event %+v, want deferred", ev)
	}
	m := message("agent@sender.test", queue.LaneNormal, "ok@ee.test")
	m.RequireTLS = true
	ev = outcome(t, q, sendMsg(t, q, m))
	if ev.Type != queue.EventDelivered {
		t.Fatalf("REQUIRETLS over DANE: event %+v, want delivered", ev)
	}
	if n := mx.Count(); n != 3 {
		t.Fatalf("MX received %d messages, want 3", n)
	}
	checkDANEReports(t, d, map[string]string{"ee.test": "", "ta.test": "",
		"wrong.test": mta.ResultTLSAInvalid, "servfail.test": mta.ResultDNSSECInvalid})
}

// checkDANEReports makes today's TLS-RPT reports and checks that each domain has a "tlsa"
// policy for its MX host with a success (want "") or a failure of the result type want.
func checkDANEReports(t *testing.T, d *mta.Deliverer, want map[string]string) {
	t.Helper()
	rpts, err := d.TLSReports(context.Background(), time.Now().UTC().Format(time.DateOnly), false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rpts {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		mtatest.CheckTLSRPT(t, b)
		for _, p := range r.Policies {
			if p.Policy.PolicyType != "tlsa" {
				t.Errorf("%s: policy-type %q, want tlsa (DANE beats MTA-STS)", p.Policy.PolicyDomain, p.Policy.PolicyType)
				continue
			}
			switch {
			case p.Summary.Success > 0 && len(p.Policy.PolicyString) > 0:
				got[p.Policy.PolicyDomain] = ""
			case len(p.FailureDetails) > 0:
				got[p.Policy.PolicyDomain] = p.FailureDetails[0].ResultType
			}
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("tlsa report outcomes %v, want %v", got, want)
	}
}

// Without the AD bit DANE does not apply: the TLSA records of an unsigned zone are ignored
// and the MTA-STS policy decides.
func TestDANEIgnoresUnvalidatedAnswers(t *testing.T) {
	t.Parallel()
	w := newSTSWorld(t)
	mx, _, _ := daneMX(t, "mx.dane.test")
	wrong := mtatest.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: strings.Repeat("00", 32)}
	w.domain("plain.test", "mx.dane.test", "", "")
	w.dns.Set("_"+strconv.Itoa(mx.Port())+"._tcp.mx.dane.test", mtatest.Records{TLSA: []mtatest.TLSA{wrong}})
	_, q := w.delivererDANE(mx.Port(), t.TempDir(), true)
	if ev := outcome(t, q, send(t, q, "ok@plain.test")); ev.Type != queue.EventDelivered {
		t.Fatalf("event %+v, want delivered (unsigned zone: no DANE)", ev)
	}
}
