package inbound

import (
	"context"
	"testing"

	"multimail.dev/multimail/mailbox"
)

// TestPostmasterAndAbuse: postmaster@ and abuse@ of every local domain are accepted (RFC 5321 §4.5.1, RFC 2142) and stored in the configured
// mailbox, or by default in the domain's first mailbox; a mailbox named postmaster@ of its
// own wins; other unknown local parts are still 550.
func TestPostmasterAndAbuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	if err := e.store.AddDomain(ctx, mailbox.Domain{Name: "other.example"}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"zed@other.example", "postmaster@other.example"} {
		if err := e.store.AddMailbox(ctx, mailbox.Mailbox{Address: a, Oversight: mailbox.Autonomous}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ rcpt, want string }{
		{"postmaster@example.com", "agent@example.com"}, // the first of agent@, gated@
		{"Abuse@Example.COM", "agent@example.com"},
		{"abuse@other.example", "postmaster@other.example"},      // first by address
		{"postmaster@other.example", "postmaster@other.example"}, // its own mailbox
	} {
		em, _ := e.mustStore(t, "sender@pass.example", c.rcpt, plainMessage("sender@pass.example", "report", "Hi."))
		if em.Mailbox != c.want {
			t.Errorf("RCPT TO:<%s> stored in %s, want %s", c.rcpt, em.Mailbox, c.want)
		}
	}
	if _, err := e.send("sender@pass.example", []string{"hostmaster@example.com"}, plainMessage("sender@pass.example", "x", "x")); err == nil {
		t.Errorf("hostmaster@ (no mailbox, not a role) accepted")
	} else if code, _ := codeOf(err); code != 550 {
		t.Errorf("hostmaster@: %v, want 550", err)
	}
	if _, err := e.send("sender@pass.example", []string{"postmaster@elsewhere.example"}, plainMessage("sender@pass.example", "x", "x")); err == nil {
		t.Errorf("postmaster@ of a domain that is not ours accepted")
	}

	// Configured: every domain's role addresses go to that mailbox; a real postmaster@ still wins.
	c := newEnv(t, func(o *Options) { o.Postmaster = "gated@example.com" })
	for _, a := range []struct{ rcpt, want string }{
		{"postmaster@example.com", "gated@example.com"},
		{"abuse@example.com", "gated@example.com"},
	} {
		em, _ := c.mustStore(t, "sender@pass.example", a.rcpt, plainMessage("sender@pass.example", "report", "Hi."))
		if em.Mailbox != a.want {
			t.Errorf("configured: RCPT TO:<%s> stored in %s, want %s", a.rcpt, em.Mailbox, a.want)
		}
	}
}

// TestBarePostmasterRoute: RCPT TO:<Postmaster> with no domain (RFC 5321 §4.5.1) is accepted
// on the wire, any case, and stored in the configured mailbox, else the hostname's domain's
// first; classify routes it the same way.
func TestBarePostmasterRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r, err := e.srv.classify(context.Background(), "Postmaster")
	if err != nil || r.mbox.Address != "agent@example.com" {
		t.Errorf("Postmaster: %+v %v, want agent@example.com", r.mbox, err)
	}
	em, _ := e.mustStore(t, "sender@pass.example", "Postmaster", plainMessage("sender@pass.example", "bare", "Hi."))
	if em.Mailbox != "agent@example.com" {
		t.Errorf("RCPT TO:<Postmaster> stored in %s, want agent@example.com", em.Mailbox)
	}
	c := newEnv(t, func(o *Options) { o.Postmaster = "gated@example.com" })
	r, err = c.srv.classify(context.Background(), "postmaster")
	if err != nil || r.mbox.Address != "gated@example.com" {
		t.Errorf("configured Postmaster: %+v %v, want gated@example.com", r.mbox, err)
	}
	em, _ = c.mustStore(t, "sender@pass.example", "POSTMASTER", plainMessage("sender@pass.example", "bare", "Hi."))
	if em.Mailbox != "gated@example.com" {
		t.Errorf("configured: RCPT TO:<POSTMASTER> stored in %s, want gated@example.com", em.Mailbox)
	}
	if _, err := e.send("sender@pass.example", []string{"postmasterx"}, plainMessage("sender@pass.example", "x", "x")); err == nil {
		t.Error("RCPT TO:<postmasterx> accepted")
	}
}
