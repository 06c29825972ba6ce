package storetest

import (
	"errors"
	"testing"
	"time"

	"multimail.dev/multimail/mailbox"
)

func testPolicy(t *testing.T, s mailbox.Store) {
	c := ctx(t)
	must(t, s.AddDomain(c, mailbox.Domain{Name: "example.com"}))
	must(t, s.AddMailbox(c, mailbox.Mailbox{Address: "agent@example.com", PasswordHash: "h"}))
	p, err := s.Policy(c, "Agent@Example.com")
	must(t, err)
	if len(p.Allowlist)+len(p.Rules) != 0 || p.Request != nil {
		t.Fatalf("new mailbox policy = %+v", p)
	}
	_, err = s.Policy(c, "nobody@example.com")
	wantErr(t, err, mailbox.ErrNotFound)
	_, _, err = s.UpdateOversight(c, "nobody@example.com", func(*mailbox.Mailbox, *mailbox.Policy) error { return nil })
	wantErr(t, err, mailbox.ErrNotFound)

	now := time.Now().UTC().Truncate(time.Second)
	m, p, err := s.UpdateOversight(c, "agent@example.com", func(m *mailbox.Mailbox, p *mailbox.Policy) error {
		m.Oversight = mailbox.Monitored
		m.PasswordHash = "ignored" // only the mode may change here
		p.Allowlist = append(p.Allowlist, mailbox.AllowEntry{Entry: "Ops@Partner.Example", AddedBy: "cli", Added: now},
			mailbox.AllowEntry{Entry: "@Example.NET", AddedBy: "cli", Added: now})
		p.Rules = append(p.Rules, mailbox.PolicyRule{ID: "rl_1", Tags: []string{"otp"}, Action: "auto_approve"})
		p.Request = &mailbox.OversightRequest{ID: "ovr_1", From: mailbox.GatedSend, To: mailbox.Autonomous}
		return nil
	})
	must(t, err)
	if m.Oversight != mailbox.Monitored || m.PasswordHash != "h" || len(p.Allowlist) != 2 ||
		p.Allowlist[0].Entry != "ops@partner.example" || p.Allowlist[1].Entry != "@example.net" {
		t.Fatalf("after update: %+v %+v", m, p)
	}
	got, err := s.Policy(c, "agent@example.com")
	must(t, err)
	if len(got.Rules) != 1 || got.Rules[0].Tags[0] != "otp" || got.Request == nil || got.Request.To != mailbox.Autonomous ||
		!got.Allowlist[0].Added.Equal(now) {
		t.Fatalf("stored policy = %+v", got)
	}
	got.Rules[0].Tags[0] = "changed" // the store keeps its own copy
	mb, err := s.Mailbox(c, "agent@example.com")
	must(t, err)
	if mb.Oversight != mailbox.Monitored {
		t.Fatalf("mode = %s", mb.Oversight)
	}

	// A failing edit writes nothing; a bad entry or mode is refused.
	boom := errors.New("boom")
	_, _, err = s.UpdateOversight(c, "agent@example.com", func(m *mailbox.Mailbox, p *mailbox.Policy) error {
		p.Allowlist, m.Oversight = nil, mailbox.ReadOnly
		return boom
	})
	wantErr(t, err, boom)
	_, _, err = s.UpdateOversight(c, "agent@example.com", func(m *mailbox.Mailbox, p *mailbox.Policy) error {
		p.Allowlist = append(p.Allowlist, mailbox.AllowEntry{Entry: "not an address"})
		return nil
	})
	wantErr(t, err, mailbox.ErrInvalidAddress)
	_, _, err = s.UpdateOversight(c, "agent@example.com", func(m *mailbox.Mailbox, p *mailbox.Policy) error {
		m.Oversight = "trusting"
		return nil
	})
	wantErr(t, err, mailbox.ErrInvalidOversight)
	got, err = s.Policy(c, "agent@example.com")
	must(t, err)
	mb, _ = s.Mailbox(c, "agent@example.com")
	if len(got.Allowlist) != 2 || got.Rules[0].Tags[0] != "otp" || mb.Oversight != mailbox.Monitored {
		t.Fatalf("a refused edit changed the store: %+v %s", got, mb.Oversight)
	}
}
