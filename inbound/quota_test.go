package inbound

import (
	"context"
	"strings"
	"testing"

	"multimail.dev/multimail/mailbox"
)

// TestMailboxQuota: with Options.MailboxQuota, a message that would take a mailbox over it is
// 452 4.2.2 at the end of DATA (nothing stored, for any recipient), a MAIL SIZE= that would
// is 452 4.2.2 at RCPT, and a mailbox at its quota is 452 4.2.2 at RCPT; other mailboxes and
// expunging make room again.
func TestMailboxQuota(t *testing.T) {
	t.Parallel()
	const quota = 4000
	e := newEnv(t, func(o *Options) { o.MailboxQuota = quota })
	ctx := context.Background()
	big := plainMessage("a@pass.example", "big", strings.Repeat(strings.Repeat("x", 98)+"\r\n", 25)) + ".\r\n"
	small := plainMessage("a@pass.example", "small", "x") + ".\r\n"

	d := e.dial()
	d.cmd("EHLO client.test", "250")
	d.cmd("MAIL FROM:<a@pass.example>", "250")
	d.cmd("RCPT TO:<agent@example.com>", "250")
	d.cmd("DATA", "354")
	d.send(big)
	d.expect("250 2.0.0 OK: stored as em_")

	// The same again does not fit: refused for every recipient, stored for none.
	d.cmd("MAIL FROM:<a@pass.example>", "250")
	d.cmd("RCPT TO:<gated@example.com>", "250")
	d.cmd("RCPT TO:<agent@example.com>", "250")
	d.cmd("DATA", "354")
	d.send(big)
	d.expect("452 4.2.2")
	if u, err := e.store.Usage(ctx, "gated@example.com"); err != nil || u.Messages != 0 {
		t.Fatalf("gated@ after a refused DATA: %+v, %v", u, err)
	}
	d.cmd("MAIL FROM:<a@pass.example> SIZE=1500", "250")
	d.cmd("RCPT TO:<agent@example.com>", "452 4.2.2")
	d.cmd("RCPT TO:<gated@example.com>", "250")
	d.cmd("RSET", "250")

	// Fill agent@ to the byte: RCPT is refused while it is at its quota.
	u, err := e.store.Usage(ctx, "agent@example.com")
	if err != nil {
		t.Fatal(err)
	}
	filler := []byte("Subject: f\r\n\r\n" + strings.Repeat("y", int(quota-u.Bytes)))
	filler = filler[:quota-u.Bytes] // the store does not parse lines: exactly the room left
	if _, err := e.store.Deliver(ctx, "agent@example.com", "Archive", filler, mailbox.DeliverOptions{QuotaBytes: quota}); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@pass.example>", "250")
	d.cmd("RCPT TO:<agent@example.com>", "452 4.2.2")
	d.cmd("RSET", "250")

	// Expunging the filler makes room for a small message.
	es, err := e.store.List(ctx, "agent@example.com", "Archive")
	if err != nil || len(es) != 1 {
		t.Fatalf("Archive: %v, %v", es, err)
	}
	if _, err := e.store.SetFlags(ctx, es[0].ID, []string{mailbox.FlagDeleted}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Expunge(ctx, "agent@example.com", "Archive", nil); err != nil {
		t.Fatal(err)
	}
	d.cmd("MAIL FROM:<a@pass.example>", "250")
	d.cmd("RCPT TO:<agent@example.com>", "250")
	d.cmd("DATA", "354")
	d.send(small)
	d.expect("250 2.0.0 OK: stored as em_")
}

func TestReplyOverQuota(t *testing.T) {
	t.Parallel()
	r := reply(mailbox.ErrOverQuota)
	if r.Code != 452 || r.EnhancedCode != [3]int{4, 2, 2} {
		t.Fatalf("reply(ErrOverQuota) = %d %v", r.Code, r.EnhancedCode)
	}
}
