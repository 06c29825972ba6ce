package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"multimail.dev/multimail/mailbox"
)

// next reads one change or fails after a deadline.
func next(t *testing.T, ch <-chan mailbox.Change) mailbox.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change within 10s")
	}
	return mailbox.Change{}
}

func testWatch(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	addMailbox(t, s, "other@example.com")
	wctx, cancel := context.WithCancel(c)
	ch := s.Watch(wctx, "A@example.com")
	deliver(t, s, "other@example.com", "INBOX", "not mine", mailbox.DeliverOptions{})
	e := deliver(t, s, mb, "INBOX", "one", mailbox.DeliverOptions{})
	flagged, err := s.SetFlags(c, e.ID, []string{`\Deleted`, "tag"}, nil)
	must(t, err)
	_, err = s.Expunge(c, mb, "INBOX", nil)
	must(t, err)
	expunged := folder(t, s, mb, "INBOX").HighestModSeq
	p := deliver(t, s, mb, "Archive", "held", mailbox.DeliverOptions{Pending: true})
	must(t, s.Release(c, p.ID))
	released, err := s.Email(c, p.ID)
	must(t, err)
	must(t, s.CreateFolder(c, mb, "New"))
	// Each change carries the folder's modseq it took (CONDSTORE clients are told it).
	want := []mailbox.Change{
		{Folder: "INBOX", Kind: mailbox.ChangeNew, EmailID: e.ID, UID: 1, ModSeq: e.ModSeq},
		{Folder: "INBOX", Kind: mailbox.ChangeFlags, EmailID: e.ID, UID: 1, ModSeq: flagged.ModSeq},
		{Folder: "INBOX", Kind: mailbox.ChangeExpunge, EmailID: e.ID, UID: 1, ModSeq: expunged},
		{Folder: "Archive", Kind: mailbox.ChangePending, EmailID: p.ID},
		{Folder: "Archive", Kind: mailbox.ChangeNew, EmailID: p.ID, UID: 1, ModSeq: released.ModSeq},
		{Folder: "New", Kind: mailbox.ChangeFolder},
	}
	for i, w := range want {
		if got := next(t, ch); got != w {
			t.Fatalf("change %d = %+v, want %+v", i, got, w)
		}
	}
	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("channel not closed after cancel")
		}
	}
}

func testConcurrentDeliver(t *testing.T, s mailbox.Store) {
	c, mb := ctx(t), "a@example.com"
	addMailbox(t, s, mb)
	const workers, each = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				e, err := s.Deliver(c, mb, "INBOX", msg("c"), mailbox.DeliverOptions{})
				if err == nil {
					_, err = s.SetFlags(c, e.ID, []string{`\Seen`}, nil)
				}
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	list, err := s.List(c, mb, "INBOX")
	must(t, err)
	for i, e := range list {
		if e.UID != uint32(i+1) {
			t.Fatalf("uids not 1..n: %v", uids(list))
		}
	}
	f := folder(t, s, mb, "INBOX")
	if len(list) != workers*each || f.Messages != workers*each || f.Unseen != 0 || f.UIDNext != workers*each+1 {
		t.Fatalf("folder %+v, %d listed", f, len(list))
	}
}
