package e2e

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

// fastRetry makes deferred recipients retry within a second or two.
const fastRetry = "[delivery]\nmin_backoff = \"500ms\"\nmax_backoff = \"1s\"\n"

// TestDeliveryOutcomes follows each outcome of docs/api.md, Webhooks through the real binary: a
// greylisted recipient deferred then delivered, a 5xx at RCPT and at the end of DATA bounced,
// a message past its expires_at expired; every event arrives signed (the receiver verifies).
func TestDeliveryOutcomes(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{Config: fastRetry})
	ctx := Context(t, 60*time.Second)

	r := send(t, n, `{"mailbox_id":"auth@example.com","to":"tempfail1-user@customer.test","subject":"greylisted","text":"x"}`)
	d, err := n.Hooks.WaitEvent(ctx, r.MessageID, "deferred")
	if err != nil {
		t.Fatal(err)
	}
	if d.Event["smtp_code"] != float64(451) || d.Event["enhanced_code"] != "4.3.0" || d.Event["attempt"] != float64(1) {
		t.Errorf("deferred event %s", d.Body)
	}
	h, err := n.Hooks.WaitEvent(ctx, r.MessageID, "delivered")
	if err != nil {
		t.Fatal(err)
	}
	if h.Event["attempt"] != float64(2) {
		t.Errorf("delivered on attempt %v, want 2: %s", h.Event["attempt"], h.Body)
	}

	r = send(t, n, `{"mailbox_id":"auth@example.com","to":"datafail-user@customer.test","subject":"content","text":"x"}`)
	b, err := n.Hooks.WaitEvent(ctx, r.MessageID, "bounced")
	if err != nil {
		t.Fatal(err)
	}
	if b.Event["smtp_code"] != float64(554) || b.Event["enhanced_code"] != "5.6.0" || b.Event["error_detail"] == "" {
		t.Errorf("bounced at end of DATA %s", b.Body)
	}

	exp := time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339)
	r = send(t, n, fmt.Sprintf(`{"mailbox_id":"auth@example.com","to":"tempfail-user@customer.test","subject":"too late","text":"x","expires_at":%q}`, exp))
	if _, err := n.Hooks.WaitEvent(ctx, r.MessageID, "expired"); err != nil {
		t.Fatal(err)
	}
	// Events of one message arrive in order.
	var seq []string
	for _, h := range n.Hooks.Hooks() {
		if h.MessageID() == r.MessageID {
			seq = append(seq, h.Type())
		}
	}
	if len(seq) < 3 || seq[0] != "queued" || seq[len(seq)-1] != "expired" {
		t.Errorf("events of the expired message: %v", seq)
	}
}

// TestDeliveryFailedAfterLifetime gives up on a recipient that keeps answering 4xx once
// max_lifetime has passed: a failed event and a DSN in the sender's INBOX.
func TestDeliveryFailedAfterLifetime(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{Config: "[delivery]\nmax_lifetime = \"3s\"\nmin_backoff = \"500ms\"\nmax_backoff = \"1s\"\n"})
	ctx := Context(t, 60*time.Second)
	r := send(t, n, `{"mailbox_id":"auth@example.com","to":"tempfail-forever@customer.test","subject":"never","text":"x"}`)
	f, err := n.Hooks.WaitEvent(ctx, r.MessageID, "failed")
	if err != nil {
		t.Fatal(err)
	}
	if f.Event["recipient"] != "tempfail-forever@customer.test" {
		t.Errorf("failed event %s", f.Body)
	}
	if _, err := n.Hooks.WaitFor(ctx, func(h Hook) bool { return h.Type() == "received" && h.Event["mailbox_id"] == Sender }); err != nil {
		t.Fatalf("no DSN in the sender's INBOX: %v", err)
	}
}

// TestDeliveryRequiredTLS delivers over a next hop whose transport requires STARTTLS.
func TestDeliveryRequiredTLS(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{MX: mtatest.MXOptions{TLS: true}, TransportTLS: "required"})
	r := send(t, n, `{"mailbox_id":"auth@example.com","to":"secure@customer.test","subject":"tls","text":"x"}`)
	h, err := n.Hooks.WaitEvent(Context(t, 30*time.Second), r.MessageID, "delivered")
	if err != nil {
		t.Fatal(err)
	}
	if h.Event["tls"] != true {
		t.Errorf("delivered event without tls: %s", h.Body)
	}
	if ms := n.MX.Messages(); len(ms) != 1 || !ms[0].TLS {
		t.Errorf("MX did not receive the message over TLS: %+v", ms)
	}
}

// TestDeliveryThroughDNS routes by MX records from a DNS server on loopback: the recipient
// domain's MX points at a host whose A record is 127.0.0.25, where an SMTP server listens on
// port 25 (root only; elsewhere the test skips unless MULTIMAIL_INTEROP=1).
func TestDeliveryThroughDNS(t *testing.T) {
	t.Parallel()
	const mxIP = "127.0.0.25"
	l, err := net.Listen("tcp", mxIP+":25")
	if err != nil {
		if os.Getenv("MULTIMAIL_INTEROP") == "1" {
			t.Fatalf("cannot listen on %s:25: %v", mxIP, err)
		}
		t.Skipf("cannot listen on %s:25: %v", mxIP, err)
	}
	l.Close()
	mx := mtatest.NewMX(t, mtatest.MXOptions{Addr: mxIP + ":25"})
	dns := mtatest.NewDNS(t, map[string]mtatest.Records{
		"dns-routed.test":     {MX: []net.MX{{Host: "mx1.dns-routed.test.", Pref: 10}}},
		"mx1.dns-routed.test": {A: []string{mxIP}},
		"nullmx.test":         {MX: mtatest.NullMX()},
	})
	n := Start(t, Options{NoTransport: true, Config: fmt.Sprintf("[dns]\nresolver = %q\n", dns.Addr())})
	r := send(t, n, `{"mailbox_id":"auth@example.com","to":"someone@dns-routed.test","subject":"via MX","text":"x"}`)
	ctx := Context(t, 30*time.Second)
	h, err := n.Hooks.WaitEvent(ctx, r.MessageID, "delivered")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(fmt.Sprint(h.Event["mx_host"]), "mx1.dns-routed.test") || mx.Count() != 1 {
		t.Errorf("delivered via %v, MX count %d", h.Event["mx_host"], mx.Count())
	}
	r = send(t, n, `{"mailbox_id":"auth@example.com","to":"someone@nullmx.test","subject":"null MX","text":"x"}`)
	b, err := n.Hooks.WaitEvent(ctx, r.MessageID, "bounced")
	if err != nil {
		t.Fatal(err)
	}
	if b.Event["enhanced_code"] != "5.1.10" {
		t.Errorf("null MX bounce %s", b.Body)
	}
}
