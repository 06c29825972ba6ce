package mailbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"multimail.dev/multimail/mailbox"
)

// TestDeleteMailboxAndDomain checks both stores: a mailbox goes with its folders and mail,
// another mailbox's mail stays, a domain with a mailbox left is refused, then removed.
func TestDeleteMailboxAndDomain(t *testing.T) {
	for name, open := range map[string]func(*testing.T) mailbox.Store{
		"pebble": newPebble,
		"memory": func(*testing.T) mailbox.Store { return mailbox.NewMemory() },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			rm := s.(mailbox.Remover)
			if err := s.AddDomain(ctx, mailbox.Domain{Name: "example.org", Created: time.Now()}); err != nil {
				t.Fatal(err)
			}
			for _, a := range []string{"a@example.org", "b@example.org"} {
				if err := s.AddMailbox(ctx, mailbox.Mailbox{Address: a, Oversight: mailbox.Autonomous}); err != nil {
					t.Fatal(err)
				}
			}
			raw := []byte("From: x@example.net\r\nSubject: hi\r\n\r\nbody\r\n")
			var gone mailbox.Email
			for i := 0; i < 3; i++ {
				e, err := s.Deliver(ctx, "a@example.org", "INBOX", raw, mailbox.DeliverOptions{})
				if err != nil {
					t.Fatal(err)
				}
				gone = e
			}
			if _, err := s.Deliver(ctx, "b@example.org", "INBOX", raw, mailbox.DeliverOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.UpdateOversight(ctx, "a@example.org", func(_ *mailbox.Mailbox, p *mailbox.Policy) error {
				p.Allowlist = append(p.Allowlist, mailbox.AllowEntry{Entry: "@partner.example", AddedBy: "test"})
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			res, err := rm.DeleteMailbox(ctx, "A@example.org")
			if err != nil {
				t.Fatal(err)
			}
			if res.Emails != 3 || res.Folders < 6 {
				t.Fatalf("removal = %+v, want 3 emails, the 6 default folders", res)
			}
			if _, err := s.Mailbox(ctx, "a@example.org"); !errors.Is(err, mailbox.ErrNotFound) {
				t.Fatalf("mailbox after delete: %v", err)
			}
			if _, err := s.Email(ctx, gone.ID); !errors.Is(err, mailbox.ErrNotFound) {
				t.Fatalf("email after delete: %v", err)
			}
			if l, err := s.List(ctx, "b@example.org", "INBOX"); err != nil || len(l) != 1 {
				t.Fatalf("the other mailbox: %d emails, %v", len(l), err)
			}
			if _, err := rm.DeleteMailbox(ctx, "a@example.org"); !errors.Is(err, mailbox.ErrNotFound) {
				t.Fatalf("second delete: %v", err)
			}
			if err := rm.DeleteDomain(ctx, "example.org"); !errors.Is(err, mailbox.ErrExists) {
				t.Fatalf("domain with a mailbox: %v, want ErrExists", err)
			}
			if _, err := rm.DeleteMailbox(ctx, "b@example.org"); err != nil {
				t.Fatal(err)
			}
			if err := rm.DeleteDomain(ctx, "example.org"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Domain(ctx, "example.org"); !errors.Is(err, mailbox.ErrNotFound) {
				t.Fatalf("domain after delete: %v", err)
			}
			// The address can be created again, empty.
			if err := s.AddDomain(ctx, mailbox.Domain{Name: "example.org", Created: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := s.AddMailbox(ctx, mailbox.Mailbox{Address: "a@example.org", Oversight: mailbox.Autonomous}); err != nil {
				t.Fatal(err)
			}
			if p, err := s.Policy(ctx, "a@example.org"); err != nil || len(p.Allowlist) != 0 {
				t.Fatalf("policy of the mailbox made again: %+v, %v (the old allowlist must not come back)", p, err)
			}
			if l, err := s.List(ctx, "a@example.org", "INBOX"); err != nil || len(l) != 0 {
				t.Fatalf("recreated mailbox: %d emails, %v", len(l), err)
			}
		})
	}
}

func TestRenewUIDValidity(t *testing.T) {
	ctx := context.Background()
	s := newPebble(t).(*mailbox.PebbleStore)
	if err := s.AddDomain(ctx, mailbox.Domain{Name: "example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMailbox(ctx, mailbox.Mailbox{Address: "a@example.org", Oversight: mailbox.Autonomous}); err != nil {
		t.Fatal(err)
	}
	before, err := s.Folders(ctx, "a@example.org")
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.RenewUIDValidity(ctx)
	if err != nil || n != len(before) {
		t.Fatalf("renewed %d of %d: %v", n, len(before), err)
	}
	after, _ := s.Folders(ctx, "a@example.org")
	seen := map[uint32]bool{}
	for i := range after {
		if after[i].UIDValidity <= before[i].UIDValidity || seen[after[i].UIDValidity] {
			t.Errorf("%s: UIDVALIDITY %d -> %d", after[i].Name, before[i].UIDValidity, after[i].UIDValidity)
		}
		seen[after[i].UIDValidity] = true
	}
}
