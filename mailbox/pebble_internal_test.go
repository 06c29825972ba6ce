package mailbox

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// memDB opens a Pebble database on an in-memory filesystem.
func memDB(t testing.TB, fs vfs.FS) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: discardPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

type discardPebble struct{}

func (discardPebble) Infof(string, ...any)         {}
func (discardPebble) Errorf(string, ...any)        {}
func (discardPebble) Fatalf(f string, args ...any) { panic(f) }

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mustNo(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPebbleReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fs := vfs.NewMem()
	db := memDB(t, fs)
	s, err := OpenPebble(db, Options{})
	mustNo(t, err)
	mustNo(t, s.AddMailbox(ctx, Mailbox{Address: "a@example.com"}))
	e, err := s.Deliver(ctx, "a@example.com", "INBOX", []byte("Subject: hi\r\n\r\nx"), DeliverOptions{Keywords: []string{"t"}})
	mustNo(t, err)
	before, err := s.Folder(ctx, "a@example.com", "INBOX")
	mustNo(t, err)
	mustNo(t, s.Close())
	mustNo(t, db.Close())

	db = memDB(t, fs)
	defer db.Close()
	// A clock in the past must not make UIDVALIDITY go backwards.
	s, err = OpenPebble(db, Options{Now: func() time.Time { return time.Unix(1000, 0) }})
	mustNo(t, err)
	defer s.Close()
	after, err := s.Folder(ctx, "a@example.com", "INBOX")
	mustNo(t, err)
	if after != before {
		t.Fatalf("folder after reopen %+v, before %+v", after, before)
	}
	got, err := s.Email(ctx, e.ID)
	mustNo(t, err)
	if got.Subject != "hi" || got.UID != 1 || got.Keywords[0] != "t" {
		t.Fatalf("email after reopen %+v", got)
	}
	mustNo(t, s.CreateFolder(ctx, "a@example.com", "New"))
	nf, err := s.Folder(ctx, "a@example.com", "New")
	mustNo(t, err)
	if nf.UIDValidity <= before.UIDValidity {
		t.Fatalf("UIDVALIDITY went back: %d after %d", nf.UIDValidity, before.UIDValidity)
	}
	e2, err := s.Deliver(ctx, "a@example.com", "INBOX", []byte("x"), DeliverOptions{})
	mustNo(t, err)
	if e2.UID != 2 {
		t.Fatalf("uid after reopen = %d", e2.UID)
	}
}

func TestPebbleSchemaVersion(t *testing.T) {
	t.Parallel()
	db := memDB(t, vfs.NewMem())
	defer db.Close()
	mustNo(t, db.Set(metaVersionKey(), []byte{99}, pebble.Sync))
	if _, err := OpenPebble(db, Options{}); err == nil {
		t.Fatal("opened a database of a newer schema")
	}
}

func TestPebbleCorruptRecordsSkipped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := memDB(t, vfs.NewMem())
	defer db.Close()
	var logs syncBuffer
	s, err := OpenPebble(db, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	mustNo(t, err)
	defer s.Close()
	mustNo(t, s.AddMailbox(ctx, Mailbox{Address: "a@example.com"}))
	mustNo(t, s.AddMailbox(ctx, Mailbox{Address: "b@example.com"}))
	var ids []string
	for i := 0; i < 3; i++ {
		e, err := s.Deliver(ctx, "a@example.com", "INBOX", []byte("Subject: s\r\n\r\n"), DeliverOptions{})
		mustNo(t, err)
		ids = append(ids, e.ID)
	}
	bad, _ := parseEmailID(ids[1])
	mustNo(t, db.Set(emailKey(bad), []byte("\x01{not json"), pebble.Sync))
	mustNo(t, db.Set(mailboxKey("b@example.com"), []byte("\x09garbage"), pebble.Sync))

	list, err := s.List(ctx, "a@example.com", "INBOX")
	mustNo(t, err)
	if len(list) != 2 || list[0].ID != ids[0] || list[1].ID != ids[2] {
		t.Fatalf("List with a corrupt record = %v", list)
	}
	q, _, err := s.Query(ctx, Query{Mailbox: "a@example.com"})
	mustNo(t, err)
	if len(q) != 2 {
		t.Fatalf("Query with a corrupt record = %d emails", len(q))
	}
	ms, err := s.Mailboxes(ctx)
	mustNo(t, err)
	if len(ms) != 1 {
		t.Fatalf("Mailboxes = %v", ms)
	}
	if _, err := s.Email(ctx, ids[1]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Email(corrupt) = %v", err)
	}
	if !strings.Contains(logs.String(), "corrupt record") {
		t.Fatalf("nothing logged: %q", logs.String())
	}
}

func TestHubOverflowClosesWatcher(t *testing.T) {
	t.Parallel()
	h := newHub(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := h.watch(ctx, "a@x")
	for i := 0; i < 3; i++ {
		h.publish("a@x", Change{Kind: ChangeNew, UID: uint32(i + 1)})
	}
	var got []uint32
	for c := range slow { // ends: the overflow closed the channel
		got = append(got, c.UID)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("slow watcher got %v", got)
	}
	h.publish("a@x", Change{Kind: ChangeNew}) // no watcher left: must not panic
	h.mu.Lock()
	n := len(h.subs)
	h.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d mailboxes still watched", n)
	}
}

// TestPebbleUsageBackfill: a database written before m 13 existed (simulated by deleting
// the key) is counted from its emails once, by Usage or by the next change, and kept after.
func TestPebbleUsageBackfill(t *testing.T) {
	ctx := context.Background()
	db := memDB(t, vfs.NewMem())
	defer db.Close()
	s, err := OpenPebble(db, Options{})
	mustNo(t, err)
	mustNo(t, s.AddMailbox(ctx, Mailbox{Address: "a@example.com"}))
	raw := []byte("Subject: x\r\n\r\nbody\r\n")
	n := int64(len(raw))
	e, err := s.Deliver(ctx, "a@example.com", "INBOX", raw, DeliverOptions{})
	mustNo(t, err)
	_, err = s.Deliver(ctx, "a@example.com", "INBOX", raw, DeliverOptions{Pending: true})
	mustNo(t, err)
	forget := func() { mustNo(t, db.Delete(usageKey("a@example.com"), pebble.Sync)) }
	want := func(what string, u Usage) {
		t.Helper()
		got, err := s.Usage(ctx, "a@example.com")
		mustNo(t, err)
		if got != u {
			t.Fatalf("%s: usage %+v, want %+v", what, got, u)
		}
	}

	forget()
	want("counted by Usage", Usage{2 * n, 2})
	if _, err := getRaw(db, usageKey("a@example.com")); err != nil {
		t.Fatalf("count not stored: %v", err)
	}
	forget()
	_, err = s.Copy(ctx, e.ID, "Archive")
	mustNo(t, err)
	want("counted at a copy", Usage{3 * n, 3})
	forget()
	_, err = s.Deliver(ctx, "a@example.com", "INBOX", raw, DeliverOptions{QuotaBytes: 3 * n})
	if !errors.Is(err, ErrOverQuota) {
		t.Fatalf("deliver over quota on a counted-afresh mailbox: %v", err)
	}
	_, err = s.Deliver(ctx, "a@example.com", "INBOX", raw, DeliverOptions{QuotaBytes: 4 * n})
	mustNo(t, err)
	want("counted at a delivery", Usage{4 * n, 4})
}
