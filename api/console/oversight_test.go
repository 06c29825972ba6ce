package console

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/mailbox"
)

// TestMailboxPages: an approver of a@ sees a@'s controls and not b@'s; a mode change needs
// the confirmation POST; allowlist forms work; a forged form for b@ changes nothing.
func TestMailboxPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	b.login(e.keys["approverA"])
	p := b.do("GET", "/console/mailboxes/a@example.com", nil, nil)
	if p.status != 200 || !strings.Contains(p.body, "Recipient allowlist") || !strings.Contains(p.body, "gated_send") {
		t.Fatalf("a@'s page: %d\n%s", p.status, p.body)
	}
	csrf := csrfOf(t, p)
	if p := b.do("GET", "/console/mailboxes/b@example.com", nil, nil); p.status != 404 || strings.Contains(p.body, "Recipient allowlist") {
		t.Fatalf("b@'s page: %d", p.status)
	}
	// The first POST shows the confirmation and changes nothing.
	p = b.do("POST", "/console/mailboxes/a@example.com/mode", url.Values{"csrf": {csrf}, "oversight": {"autonomous"}}, nil)
	if !strings.Contains(p.body, "Yes, change to autonomous") || !strings.Contains(p.body, "less") {
		t.Fatalf("confirmation: %d %s", p.status, p.body)
	}
	if m, _ := e.store.Mailbox(context.Background(), "a@example.com"); m.Oversight != mailbox.GatedSend {
		t.Fatalf("changed before confirmation: %s", m.Oversight)
	}
	b.do("POST", "/console/mailboxes/a@example.com/mode", url.Values{"csrf": {csrf}, "oversight": {"autonomous"}, "confirm": {"yes"}}, nil)
	if m, _ := e.store.Mailbox(context.Background(), "a@example.com"); m.Oversight != mailbox.Autonomous {
		t.Fatalf("after confirmation: %s", m.Oversight)
	}
	// Without the CSRF token nothing happens.
	b.do("POST", "/console/mailboxes/a@example.com/allow", url.Values{"entry": {"@nocsrf.example"}}, nil)
	b.do("POST", "/console/mailboxes/a@example.com/allow", url.Values{"csrf": {csrf}, "entry": {"@partner.example"}}, nil)
	b.do("POST", "/console/mailboxes/b@example.com/allow", url.Values{"csrf": {csrf}, "entry": {"@evil.example"}}, nil)
	b.do("POST", "/console/mailboxes/b@example.com/mode", url.Values{"csrf": {csrf}, "oversight": {"autonomous"}, "confirm": {"yes"}}, nil)
	pa, _ := e.store.Policy(context.Background(), "a@example.com")
	pb, _ := e.store.Policy(context.Background(), "b@example.com")
	mb, _ := e.store.Mailbox(context.Background(), "b@example.com")
	if len(pa.Allowlist) != 1 || pa.Allowlist[0].Entry != "@partner.example" || pa.Allowlist[0].AddedBy != "console:key_approverA" ||
		len(pb.Allowlist) != 0 || mb.Oversight != mailbox.GatedSend {
		t.Fatalf("a@ %+v, b@ %+v %s", pa, pb, mb.Oversight)
	}
}

// TestMessageIdentityVerdict: a released message's page shows its identity header verified
// against the node's own keys; a held one says it is not released.
func TestMessageIdentityVerdict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetIdentityKeys(context.Background(), "example.com", mailbox.RotateIdentityKeys(nil, k, time.Now())); err != nil {
		t.Fatal(err)
	}
	apr := e.hold("agentA", "to verify")
	rec, _ := e.q.Approval(context.Background(), apr)
	b := e.browser()
	b.login(e.keys["operator"])
	if p := b.do("GET", "/console/messages/"+rec.MsgID, nil, nil); !strings.Contains(p.body, "not released yet") {
		t.Fatalf("held message page: %d %s", p.status, p.body)
	}
	csrf := csrfOf(t, b.do("GET", "/console/approvals", nil, nil))
	b.do("POST", "/console/approvals/decide", url.Values{"csrf": {csrf}, "approve": {apr}}, nil)
	p := b.do("GET", "/console/messages/"+rec.MsgID, nil, nil)
	if !strings.Contains(p.body, "verified: a@example.com, mode gated_send, released approved") {
		t.Fatalf("released message page: %d %s", p.status, p.body)
	}
}
