package inbound

import (
	"net"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
)

func TestAuthResultsField(t *testing.T) {
	t.Parallel()
	env := envelope{ip: net.ParseIP("192.0.2.1"), helo: "mail.sender.example", mailFrom: "bounce@sender.example"}
	for _, tc := range []struct {
		name string
		env  envelope
		v    verdict
		want string
	}{
		{"all pass", env, verdict{spf: authres.ResultPass,
			dkim:  []dkimOutcome{{result: authres.ResultPass, domain: "sender.example", identifier: "@sender.example"}},
			dmarc: dmarcOutcome{result: authres.ResultPass, fromDomain: "sender.example"}},
			"Authentication-Results: mx.example.com;\r\n\tspf=pass smtp.mailfrom=bounce@sender.example;\r\n" +
				"\tdkim=pass header.d=sender.example header.i=@sender.example;\r\n\tdmarc=pass header.from=sender.example\r\n"},
		{"null sender, nothing signed, injection attempt", envelope{helo: "evil\r\nX: y"}, verdict{spf: authres.ResultNone,
			dmarc: dmarcOutcome{result: authres.ResultNone, reason: "no single From domain"}},
			"Authentication-Results: mx.example.com;\r\n\tspf=none smtp.helo=\"evil  X: y\";\r\n\tdkim=none;\r\n" +
				"\tdmarc=none reason=\"no single From domain\"\r\n"},
		{"failures", env, verdict{spf: authres.ResultFail, spfReason: "matched all",
			dkim: []dkimOutcome{{result: authres.ResultFail, domain: "sender.example", reason: "signature did not verify"},
				{result: authres.ResultTempError, domain: "other.example", reason: "key unavailable"}},
			dmarc: dmarcOutcome{result: authres.ResultFail, fromDomain: "sender.example", reason: "p=reject"}},
			"Authentication-Results: mx.example.com;\r\n\tspf=fail reason=\"matched all\" smtp.mailfrom=bounce@sender.example;\r\n" +
				"\tdkim=fail reason=\"signature did not verify\" header.d=sender.example;\r\n" +
				"\tdkim=temperror reason=\"key unavailable\" header.d=other.example;\r\n" +
				"\tdmarc=fail reason=\"p=reject\" header.from=sender.example\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := authResultsField(testHost, tc.env, tc.v); got != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestDMARCAlignment(t *testing.T) {
	t.Parallel()
	relaxed := &dmarc.Record{}
	strict := &dmarc.Record{SPFAlignment: dmarc.AlignmentStrict, DKIMAlignment: dmarc.AlignmentStrict}
	pct50 := 50
	for _, tc := range []struct {
		name     string
		mailFrom string
		v        verdict
		rec      *dmarc.Record
		want     bool
	}{
		{"spf relaxed subdomain", "b@mail.example.org", verdict{spf: authres.ResultPass}, relaxed, true},
		{"spf strict subdomain", "b@mail.example.org", verdict{spf: authres.ResultPass}, strict, false},
		{"spf other domain", "b@example.net", verdict{spf: authres.ResultPass}, relaxed, false},
		{"spf fail", "b@example.org", verdict{spf: authres.ResultFail}, relaxed, false},
		{"dkim relaxed", "b@example.net", verdict{dkim: []dkimOutcome{{result: authres.ResultPass, domain: "d.example.org"}}}, relaxed, true},
		{"dkim public suffix is not an organization", "b@x.co.uk", verdict{dkim: []dkimOutcome{{result: authres.ResultPass, domain: "y.co.uk"}}}, relaxed, false},
		{"dkim failed", "b@example.net", verdict{dkim: []dkimOutcome{{result: authres.ResultFail, domain: "example.org"}}}, relaxed, false},
	} {
		from := "example.org"
		if tc.name == "dkim public suffix is not an organization" {
			from = "x.co.uk"
		}
		if got := aligned(envelope{mailFrom: tc.mailFrom}, tc.v, from, tc.rec); got != tc.want {
			t.Errorf("%s: aligned = %v, want %v", tc.name, got, tc.want)
		}
	}
	if failAction(dmarc.PolicyReject, &pct50) != actionNone || failAction(dmarc.PolicyReject, nil) != actionReject ||
		failAction(dmarc.PolicyQuarantine, nil) != actionQuarantine || failAction(dmarc.PolicyNone, nil) != actionNone {
		t.Error("failAction policy table broken")
	}
}

// TestChecksShareTheDNSCache: SPF, DKIM and DMARC ask through the caching resolver, so a
// second message from the same domain asks the DNS server nothing new (negative answers
// included: the test server sends an SOA with them).
func TestChecksShareTheDNSCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	msg := e.sign(plainMessage("a@dkim.example", "cached", "x"))
	e.mustStore(t, "a@dkim.example", "agent@example.com", msg)
	first := e.dns.Queries()
	if first == 0 {
		t.Fatal("no DNS question for the first message")
	}
	e.mustStore(t, "a@dkim.example", "agent@example.com", e.sign(plainMessage("a@dkim.example", "again", "y")))
	if got := e.dns.Queries(); got != first {
		t.Fatalf("DNS questions: %d after the first message, %d after the second; want no new one", first, got)
	}
}
