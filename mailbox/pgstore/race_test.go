package pgstore_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mailbox/pgstore"
	"multimail.dev/multimail/pgdb"
)

// node opens a second Store ("another node": its own pool) on the database of dsn.
func node(t *testing.T, dsn string) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := pgstore.Open(ctx, pool, mailbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestUIDRaceAcrossNodes has two nodes deliver into one folder at once while a reader lists
// it: every delivery gets its own UID, the UIDs are 1..n without a gap, and no reader ever
// sees a UID before a lower one has committed (the counter row commits UIDs in order).
func TestUIDRaceAcrossNodes(t *testing.T) {
	t.Parallel()
	a, dsn := newStore(t)
	b := node(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const mb = "race@example.com"
	if err := a.AddMailbox(ctx, mailbox.Mailbox{Address: mb}); err != nil {
		t.Fatal(err)
	}
	const each = 25
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		got     []uint32
		done    atomic.Bool
		reads   atomic.Int64
		readErr = make(chan error, 1)
	)
	start := make(chan struct{})
	for i, s := range []*pgstore.Store{a, b, a, b} { // two writers per node
		wg.Go(func() {
			<-start
			for j := range each {
				raw := fmt.Appendf(nil, "Subject: w%d-%d\r\n\r\nx\r\n", i, j)
				e, err := s.Deliver(ctx, mb, "INBOX", raw, mailbox.DeliverOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, e.UID)
				mu.Unlock()
			}
		})
	}
	readers := sync.WaitGroup{}
	for _, s := range []*pgstore.Store{a, b} {
		readers.Go(func() {
			<-start
			for n := 0; n < 100000 && !done.Load(); n++ {
				list, err := s.List(ctx, mb, "INBOX")
				if err != nil {
					readErr <- err
					return
				}
				reads.Add(1)
				for k, e := range list {
					if e.UID != uint32(k+1) {
						select {
						case readErr <- fmt.Errorf("a reader saw UIDs with a gap: %v", uidsOf(list)):
						default:
						}
						return
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	done.Store(true)
	readers.Wait()
	select {
	case err := <-readErr:
		t.Fatal(err)
	default:
	}
	slices.Sort(got)
	if len(got) != 4*each {
		t.Fatalf("%d deliveries, want %d", len(got), 4*each)
	}
	for k, u := range got {
		if u != uint32(k+1) {
			t.Fatalf("UIDs handed out are not 1..%d, each once: %v", 4*each, got)
		}
	}
	f, err := b.Folder(ctx, mb, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if f.UIDNext != 4*each+1 || f.Messages != 4*each {
		t.Fatalf("folder %+v", f)
	}
	t.Logf("%d lists read during the race", reads.Load())
}

func uidsOf(es []mailbox.Email) []uint32 {
	out := make([]uint32, len(es))
	for i, e := range es {
		out[i] = e.UID
	}
	return out
}

// TestUIDValidityAcrossNodes: folders created on two nodes in the same second never share a
// UIDVALIDITY (the counter row is shared).
func TestUIDValidityAcrossNodes(t *testing.T) {
	t.Parallel()
	a, dsn := newStore(t)
	b := node(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seen := map[uint32]string{}
	for i, s := range []*pgstore.Store{a, b, a, b} {
		mb := fmt.Sprintf("v%d@example.com", i)
		if err := s.AddMailbox(ctx, mailbox.Mailbox{Address: mb}); err != nil {
			t.Fatal(err)
		}
		fs, err := s.Folders(ctx, mb)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if prev, ok := seen[f.UIDValidity]; ok {
				t.Fatalf("UIDVALIDITY %d of %s/%s already given to %s", f.UIDValidity, mb, f.Name, prev)
			}
			seen[f.UIDValidity] = mb + "/" + f.Name
		}
	}
}

// TestHostileBytes stores a message whose header holds bytes PostgreSQL text refuses (NUL,
// invalid UTF-8): it is delivered, and Raw returns it byte for byte.
func TestHostileBytes(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const mb = "h@example.com"
	if err := s.AddMailbox(ctx, mailbox.Mailbox{Address: mb}); err != nil {
		t.Fatal(err)
	}
	raw := []byte("From: \xff\xfe <a@b.example>\r\nSubject: nul\x00byte \xc3\x28\r\nMessage-ID: <\xff\xfe@x>\r\n" +
		"References: <\xfe@x>\r\n\r\nbody \x00\xff\r\n")
	e, err := s.Deliver(ctx, mb, "INBOX", raw, mailbox.DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Raw(ctx, e.ID)
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("Raw = %q, %v", got, err)
	}
	stored, err := s.Email(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Subject != e.Subject || !slices.Equal(stored.From, e.From) || stored.MessageID != e.MessageID {
		t.Fatalf("stored summary %q %q %q, delivered %q %q %q", stored.Subject, stored.From, stored.MessageID, e.Subject, e.From, e.MessageID)
	}
	// A reply naming an odd Message-ID threads as it does in the in-memory store.
	reply := []byte("Subject: re\r\nIn-Reply-To: <\xfe@x>\r\n\r\n.\r\n")
	r, err := s.Deliver(ctx, mb, "INBOX", reply, mailbox.DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := mailbox.NewMemory()
	if err := m.AddMailbox(ctx, mailbox.Mailbox{Address: mb}); err != nil {
		t.Fatal(err)
	}
	me, err := m.Deliver(ctx, mb, "INBOX", raw, mailbox.DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mr, err := m.Deliver(ctx, mb, "INBOX", reply, mailbox.DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if (r.ThreadID == e.ThreadID) != (mr.ThreadID == me.ThreadID) || r.Subject != mr.Subject {
		t.Fatalf("threads %s %s, in-memory store %s %s", e.ThreadID, r.ThreadID, me.ThreadID, mr.ThreadID)
	}
}

// TestWatchAcrossNodes: a watcher on node A is told to resynchronise (its channel closes)
// when node B stores mail in the mailbox, and gets A's own changes one by one.
func TestWatchAcrossNodes(t *testing.T) {
	t.Parallel()
	a, dsn := newStore(t)
	b := node(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const mb = "w@example.com"
	if err := a.AddMailbox(ctx, mailbox.Mailbox{Address: mb}); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	ch := a.Watch(wctx, mb)
	for i := range 3 { // A's own deliveries arrive as changes, the channel stays open
		e, err := a.Deliver(ctx, mb, "INBOX", []byte("Subject: local\r\n\r\n.\r\n"), mailbox.DeliverOptions{})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case c, ok := <-ch:
			if !ok || c.Kind != mailbox.ChangeNew || c.UID != e.UID {
				t.Fatalf("local delivery %d: change %+v, open %v", i, c, ok)
			}
		case <-ctx.Done():
			t.Fatal("no change for a local delivery")
		}
	}
	time.Sleep(3 * pgstore.PollInterval) // the poller looks and finds nothing foreign
	select {
	case c, ok := <-ch:
		t.Fatalf("unexpected %+v (open %v) with no other node writing", c, ok)
	default:
	}
	start := time.Now()
	if _, err := b.Deliver(ctx, mb, "INBOX", []byte("Subject: remote\r\n\r\n.\r\n"), mailbox.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case c, ok := <-ch:
		if ok {
			t.Fatalf("got %+v, want the channel closed (resynchronise)", c)
		}
	case <-ctx.Done():
		t.Fatal("node A's watcher never learned of node B's delivery")
	}
	t.Logf("node A's watcher learned of node B's delivery after %v", time.Since(start).Round(time.Millisecond))
	// Watching again after the resync: quiet until the next foreign change.
	ch = a.Watch(wctx, mb)
	time.Sleep(3 * pgstore.PollInterval)
	select {
	case c, ok := <-ch:
		t.Fatalf("unexpected %+v (open %v) after resync", c, ok)
	default:
	}
}
