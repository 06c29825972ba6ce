package imapserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"multimail.dev/multimail/mailbox"
)

// Benchmarks, on a PebbleStore in b.TempDir():
//
//	go test -run XXX -bench . -benchtime 5x ./mailbox/imapserver/
//
// The store lives on a real directory whose files ignore fsync (noSyncFS),
// so that bulk-loading does not pay one fsync per Deliver; reads are
// ordinary Pebble reads. Each operation is one IMAP command over STARTTLS on
// loopback with imapclient, its whole response read.

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble fatal: "+format, args...))
}

// benchEnv opens a Pebble store, loads n messages into INBOX and returns a
// client with INBOX selected.
func benchEnv(b *testing.B, n int) *imapclient.Client {
	db, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quietPebble{}, FS: noSyncFS{vfs.Default}})
	must(b, err)
	b.Cleanup(func() { db.Close() })
	store, err := mailbox.OpenPebble(db, mailbox.Options{})
	must(b, err)
	b.Cleanup(func() { store.Close() })
	e := newEnvStore(b, store, nil)
	start := time.Now()
	loadMessages(b, e, n)
	b.Logf("loaded %d messages in %v", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	must(b, store.WaitIndexed(context.Background())) // the full-text index caught up before timing
	b.Logf("full-text index caught up %v after the load", time.Since(start).Round(time.Millisecond))
	c := e.login(b, nil)
	_, err = c.Select("INBOX", nil).Wait()
	must(b, err)
	return c
}

// loadMessages delivers n ~1 KB messages: every 10th tagged "tag<i%7>",
// every other one \Seen, dates spread over 100 days.
func loadMessages(b *testing.B, e *env, n int) {
	ctx := context.Background()
	body := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 16)
	base := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		o := mailbox.DeliverOptions{InternalDate: base.Add(time.Duration(i%100) * 24 * time.Hour)}
		if i%10 == 0 {
			o.Keywords = []string{fmt.Sprintf("tag%d", i%7)}
		}
		if i%2 == 0 {
			o.Flags = []string{mailbox.FlagSeen}
		}
		raw := testMessage(i, fmt.Sprintf("Message %d about topic %d", i, i%50), body)
		if _, err := e.store.Deliver(ctx, testUser, "INBOX", []byte(raw), o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetchHeaders10k: UID FETCH 1:* (UID BODY.PEEK[HEADER]) over
// 10,000 messages.
func BenchmarkFetchHeaders10k(b *testing.B) {
	c := benchEnv(b, 10_000)
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	opts := &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := drainFetch(b, c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, opts))
		if n != 10_000 {
			b.Fatalf("fetched %d messages", n)
		}
	}
	reportMs(b)
}

// BenchmarkFetchFlags10k: FETCH 1:* (UID FLAGS), the summary-only path.
func BenchmarkFetchFlags10k(b *testing.B) {
	c := benchEnv(b, 10_000)
	opts := &imap.FetchOptions{UID: true, Flags: true}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n := drainFetch(b, c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, opts)); n != 10_000 {
			b.Fatalf("fetched %d messages", n)
		}
	}
	reportMs(b)
}

func drainFetch(b *testing.B, cmd *imapclient.FetchCommand) int {
	n := 0
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		if _, err := m.Collect(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	must(b, cmd.Close())
	return n
}

// BenchmarkSearch100k: SEARCH variants over 100,000 messages.
func BenchmarkSearch100k(b *testing.B) {
	c := benchEnv(b, 100_000)
	since := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		uid  bool
		c    imap.SearchCriteria
		want uint32
	}{
		{"UID_SEARCH_KEYWORD_tag3", true, imap.SearchCriteria{Flag: []imap.Flag{"tag3"}}, 1429},
		{"SEARCH_UNSEEN_SINCE", false, imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}, Since: since}, 20000},
		{"SEARCH_FROM_sender4242", false, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "sender4242@"}}}, 1},
		{"SEARCH_SUBJECT_topic_7", false, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "topic 7"}}}, 2000},
		{"UID_SEARCH_HEADER_X-Custom", true, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Custom", Value: "custom-99999"}}}, 1},
		{"SEARCH_BODY_lazy_dog", false, imap.SearchCriteria{Body: []string{"lazy dog"}}, 100_000},
		{"SEARCH_BODY_absent", false, imap.SearchCriteria{Body: []string{"purple elephant"}}, 0},
		{"SEARCH_TEXT_custom-99999", false, imap.SearchCriteria{Text: []string{"custom-99999"}}, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			opts := &imap.SearchOptions{ReturnCount: true}
			for i := 0; i < b.N; i++ {
				cmd := c.Search(&tc.c, opts)
				if tc.uid {
					cmd = c.UIDSearch(&tc.c, opts)
				}
				data, err := cmd.Wait()
				must(b, err)
				if data.Count != tc.want {
					b.Fatalf("count %d, want %d", data.Count, tc.want)
				}
			}
			reportMs(b)
		})
	}
}

func reportMs(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}

// noSyncFS is the OS filesystem with fsync made a no-op, for bulk loads.
type noSyncFS struct{ vfs.FS }

func (fs noSyncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return noSync(fs.FS.Create(name, c))
}

func (fs noSyncFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, o ...vfs.OpenOption) (vfs.File, error) {
	return noSync(fs.FS.OpenReadWrite(name, c, o...))
}

func (fs noSyncFS) ReuseForWrite(old, name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return noSync(fs.FS.ReuseForWrite(old, name, c))
}

func noSync(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

type noSyncFile struct{ vfs.File }

func (noSyncFile) Sync() error                { return nil }
func (noSyncFile) SyncData() error            { return nil }
func (noSyncFile) SyncTo(int64) (bool, error) { return true, nil }

// benchThreadEnv is benchEnv over n messages in conversations of 10: each
// replies to the one before it (References: the root and the parent), with
// "Re: " subjects, Date headers spread over 100 days out of arrival order.
func benchThreadEnv(b *testing.B, n int) *imapclient.Client {
	db, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: quietPebble{}, FS: noSyncFS{vfs.Default}})
	must(b, err)
	b.Cleanup(func() { db.Close() })
	store, err := mailbox.OpenPebble(db, mailbox.Options{})
	must(b, err)
	b.Cleanup(func() { store.Close() })
	e := newEnvStore(b, store, nil)
	ctx := context.Background()
	base := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		root, parent := i-i%10, i-1
		var refs, re string
		if i%10 != 0 {
			refs = fmt.Sprintf("References: <t%d@example.org> <t%d@example.org>\r\n", root, parent)
			re = "Re: "
		}
		date := base.Add(time.Duration((i*7919)%(100*24)) * time.Hour).Format(time.RFC1123Z)
		raw := fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: agent@example.com\r\nSubject: %sTopic %d\r\n"+
			"Message-ID: <t%d@example.org>\r\n%sDate: %s\r\n\r\nbody %d\r\n", i%97, i%97, re, root, i, refs, date, i)
		if _, err := store.Deliver(ctx, testUser, "INBOX", []byte(raw), mailbox.DeliverOptions{InternalDate: base.Add(time.Duration(i) * time.Minute)}); err != nil {
			b.Fatal(err)
		}
	}
	c := e.login(b, nil)
	_, err = c.Select("INBOX", nil).Wait()
	must(b, err)
	return c
}

// BenchmarkSortDate10k: SORT (DATE) UTF-8 ALL over 10,000 messages.
func BenchmarkSortDate10k(b *testing.B) {
	c := benchThreadEnv(b, 10_000)
	opts := &imapclient.SortOptions{SearchCriteria: &imap.SearchCriteria{}, SortCriteria: []imapclient.SortCriterion{{Key: imapclient.SortKeyDate}}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		nums, err := c.Sort(opts).Wait()
		if err != nil || len(nums) != 10_000 {
			b.Fatalf("SORT: %d, %v", len(nums), err)
		}
	}
	reportMs(b)
}

// BenchmarkThreadReferences10k: THREAD REFERENCES UTF-8 ALL over 10,000
// messages in 1,000 conversations. The first THREAD of a session reads every
// message's header (logged); later ones use the session's cache (timed).
func BenchmarkThreadReferences10k(b *testing.B) {
	c := benchThreadEnv(b, 10_000)
	opts := &imapclient.ThreadOptions{Algorithm: imap.ThreadReferences, SearchCriteria: &imap.SearchCriteria{}}
	thread := func() {
		threads, err := c.Thread(opts).Wait()
		if err != nil || len(threads) != 1_000 {
			b.Fatalf("THREAD: %d threads, %v", len(threads), err)
		}
	}
	start := time.Now()
	thread()
	b.Logf("first THREAD REFERENCES (headers read from the store): %v", time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		thread()
	}
	reportMs(b)
}
