package storetest

import (
	"errors"
	"testing"

	"multimail.dev/multimail/mailbox"
)

// wantUsage checks a mailbox's usage against the sizes of the messages it should hold.
func wantUsage(t *testing.T, s mailbox.Store, mb, when string, sizes ...int) {
	t.Helper()
	u, err := s.Usage(ctx(t), mb)
	must(t, err)
	want := mailbox.Usage{Messages: int64(len(sizes))}
	for _, n := range sizes {
		want.Bytes += int64(n)
	}
	if u != want {
		t.Fatalf("%s: usage %+v, want %+v", when, u, want)
	}
}

// testUsage: Deliver (pending too) and Copy add, Move, Release and SetFlags leave, Expunge,
// DeleteFolder and DeleteMailbox take away; DeliverOptions.QuotaBytes refuses what would
// not fit with ErrOverQuota and stores nothing.
func testUsage(t *testing.T, s mailbox.Store) {
	c, mb, other := ctx(t), "u@example.com", "v@example.com"
	addMailbox(t, s, mb)
	addMailbox(t, s, other)
	wantUsage(t, s, mb, "empty")
	a, b := len(msg("a")), len(msg("bb"))
	ea := deliver(t, s, mb, "INBOX", "a", mailbox.DeliverOptions{})
	eb := deliver(t, s, mb, "INBOX", "bb", mailbox.DeliverOptions{Pending: true})
	deliver(t, s, other, "INBOX", "other", mailbox.DeliverOptions{})
	wantUsage(t, s, mb, "deliver + pending", a, b)
	must(t, s.CreateFolder(c, mb, "Keep"))
	cp, err := s.Copy(c, ea.ID, "Keep")
	must(t, err)
	wantUsage(t, s, mb, "copy counts again", a, b, a)
	_, err = s.Move(c, cp.ID, "Archive")
	must(t, err)
	must(t, s.Release(c, eb.ID))
	_, err = s.SetFlags(c, ea.ID, []string{`\Deleted`, "tag"}, nil)
	must(t, err)
	wantUsage(t, s, mb, "move, release, flags", a, b, a)
	_, err = s.Expunge(c, mb, "INBOX", nil)
	must(t, err)
	wantUsage(t, s, mb, "expunge", b, a)
	deliver(t, s, mb, "Keep", "a", mailbox.DeliverOptions{})
	must(t, s.DeleteFolder(c, mb, "Keep"))
	wantUsage(t, s, mb, "delete folder", b, a)

	// Quota: b + a in use; one more a fits exactly, the next does not.
	quota := int64(b + 2*a)
	deliver(t, s, mb, "INBOX", "a", mailbox.DeliverOptions{QuotaBytes: quota})
	_, err = s.Deliver(c, mb, "INBOX", msg("a"), mailbox.DeliverOptions{QuotaBytes: quota})
	wantErr(t, err, mailbox.ErrOverQuota)
	wantUsage(t, s, mb, "after a refusal", b, a, a)
	if f := folder(t, s, mb, "INBOX"); f.Messages != 2 {
		t.Fatalf("refused delivery stored: INBOX has %d", f.Messages)
	}

	wantUsage(t, s, other, "other mailbox", len(msg("other")))
	_, err = s.DeleteMailbox(c, mb)
	must(t, err)
	_, err = s.Usage(c, mb)
	wantErr(t, err, mailbox.ErrNotFound)
	addMailbox(t, s, mb)
	wantUsage(t, s, mb, "recreated")
}

// testQuotaConcurrent: deliveries racing for the last room of a quota: exactly as many as
// fit are stored, the rest are ErrOverQuota, and usage never passes the quota (the check
// and the count are one write).
func testQuotaConcurrent(t *testing.T, s mailbox.Store) {
	mb := "q@example.com"
	addMailbox(t, s, mb)
	raw := msg("q")
	const fit, tries = 3, 8
	quota := int64(fit*len(raw) + len(raw)/2)
	errs := make(chan error, tries)
	for range tries {
		go func() {
			_, err := s.Deliver(ctx(t), mb, "INBOX", raw, mailbox.DeliverOptions{QuotaBytes: quota})
			errs <- err
		}()
	}
	stored := 0
	for range tries {
		err := <-errs
		switch {
		case err == nil:
			stored++
		case !errors.Is(err, mailbox.ErrOverQuota):
			t.Fatalf("deliver: %v", err)
		}
	}
	if stored != fit {
		t.Fatalf("%d of %d deliveries stored under a quota for %d", stored, tries, fit)
	}
	sizes := make([]int, fit)
	for i := range sizes {
		sizes[i] = len(raw)
	}
	wantUsage(t, s, mb, "after the race", sizes...)
}
