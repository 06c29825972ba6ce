package mailbox_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"multimail.dev/multimail/mailbox"
)

// Benchmarks: go test -run XXX -bench . -benchtime 2000x ./mailbox/
//
// Deliver runs on a real directory (every delivery is fsynced). List and
// Query fill the store first, on an in-memory filesystem to keep set-up
// short; the measured reads are Pebble reads either way.

// message5K is a 5 KB message with a realistic header.
func message5K(i int) []byte {
	head := fmt.Sprintf("Authentication-Results: mx.example.com; spf=pass; dkim=pass\r\n"+
		"From: Sender %d <sender%d@example.org>\r\nTo: agent@example.com\r\nSubject: Message %d\r\n"+
		"Message-ID: <%d@example.org>\r\nDate: Wed, 25 Nov 2026 09:00:00 +0000\r\n\r\n", i, i, i, i)
	line := strings.Repeat("x", 76) + "\r\n"
	return []byte(head + strings.Repeat(line, (5*1024-len(head))/len(line)))
}

func benchPebble(b *testing.B, dir string, fs vfs.FS) mailbox.Store {
	opts := &pebble.Options{Logger: quietLogger{}, FS: fs}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	s, err := mailbox.OpenPebble(db, mailbox.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func addBenchMailboxes(b *testing.B, s mailbox.Store, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		a := fmt.Sprintf("agent%d@example.com", i)
		if err := s.AddMailbox(context.Background(), mailbox.Mailbox{Address: a}); err != nil {
			b.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// BenchmarkDeliver measures durable deliveries of 5 KB messages: one writer,
// and 8 writers to 8 mailboxes sharing fsyncs through Pebble's group commit.
func BenchmarkDeliver(b *testing.B) {
	raw := message5K(1)
	b.Run("pebble/serial", func(b *testing.B) {
		s := benchPebble(b, b.TempDir(), vfs.Default)
		mb := addBenchMailboxes(b, s, 1)[0]
		b.SetBytes(int64(len(raw)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Deliver(context.Background(), mb, "INBOX", raw, mailbox.DeliverOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
	b.Run("pebble/parallel8", func(b *testing.B) {
		s := benchPebble(b, b.TempDir(), vfs.Default)
		mbs := addBenchMailboxes(b, s, 8)
		var next atomic.Int64
		b.SetBytes(int64(len(raw)))
		b.SetParallelism(4) // 4 goroutines per CPU: 8 on this 2-core machine
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			mb := mbs[next.Add(1)%int64(len(mbs))]
			for pb.Next() {
				if _, err := s.Deliver(context.Background(), mb, "INBOX", raw, mailbox.DeliverOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRate(b)
	})
	b.Run("pebble/parallel8-onemailbox", func(b *testing.B) {
		s := benchPebble(b, b.TempDir(), vfs.Default)
		mb := addBenchMailboxes(b, s, 1)[0]
		b.SetBytes(int64(len(raw)))
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Deliver(context.Background(), mb, "INBOX", raw, mailbox.DeliverOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRate(b)
	})
	b.Run("memory", func(b *testing.B) {
		s := mailbox.NewMemory()
		mb := addBenchMailboxes(b, s, 1)[0]
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Deliver(context.Background(), mb, "INBOX", raw, mailbox.DeliverOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// fill delivers n 5 KB messages to one mailbox, one second apart, a tenth of
// them tagged "invoice" and half of them seen.
func fill(b *testing.B, s mailbox.Store, n int) string {
	mb := addBenchMailboxes(b, s, 1)[0]
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		o := mailbox.DeliverOptions{InternalDate: base.Add(time.Duration(i) * time.Second)}
		if i%10 == 0 {
			o.Keywords = []string{"invoice"}
		}
		if i%2 == 0 {
			o.Flags = []string{`\Seen`}
		}
		if _, err := s.Deliver(context.Background(), mb, "INBOX", message5K(i), o); err != nil {
			b.Fatal(err)
		}
	}
	return mb
}

func stores() map[string]func(b *testing.B) mailbox.Store {
	return map[string]func(b *testing.B) mailbox.Store{
		"pebble": func(b *testing.B) mailbox.Store { return benchPebble(b, "db", vfs.NewMem()) },
		"memory": func(b *testing.B) mailbox.Store { return mailbox.NewMemory() },
	}
}

// BenchmarkList lists a folder of 10,000 emails.
func BenchmarkList(b *testing.B) {
	for name, newStore := range stores() {
		b.Run(name, func(b *testing.B) {
			s := newStore(b)
			mb := fill(b, s, 10_000)
			b.Run("10k", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					list, err := s.List(context.Background(), mb, "INBOX")
					if err != nil || len(list) != 10_000 {
						b.Fatal(len(list), err)
					}
				}
			})
		})
	}
}

// BenchmarkQuery reads a page of 50 from 100,000 emails: the first page, a
// page deep in the mailbox (by cursor), and filtered pages.
func BenchmarkQuery(b *testing.B) {
	for name, newStore := range stores() {
		b.Run(name, func(b *testing.B) {
			s := newStore(b)
			mb := fill(b, s, 100_000)
			benchQueries(b, s, mb)
		})
	}
}

func benchQueries(b *testing.B, s mailbox.Store, mb string) {
	deep := cursorAt(b, s, mb, 50_000)
	unread := true
	cases := []struct {
		name string
		q    mailbox.Query
	}{
		{"first", mailbox.Query{Mailbox: mb}},
		{"deep", mailbox.Query{Mailbox: mb, Cursor: deep}},
		{"tag", mailbox.Query{Mailbox: mb, Tag: "Invoice"}},
		{"unread+folder", mailbox.Query{Mailbox: mb, Unread: &unread, Folder: "INBOX"}},
	}
	for _, tc := range cases {
		b.Run("100k/"+tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				page, _, err := s.Query(context.Background(), tc.q)
				if err != nil || len(page) != 50 {
					b.Fatal(len(page), err)
				}
			}
		})
	}
}

// cursorAt pages through the mailbox to return the cursor after n emails.
func cursorAt(b *testing.B, s mailbox.Store, mb string, n int) string {
	cursor := ""
	for seen := 0; seen < n; {
		page, next, err := s.Query(context.Background(), mailbox.Query{Mailbox: mb, Limit: mailbox.MaxQueryLimit, Cursor: cursor})
		if err != nil {
			b.Fatal(err)
		}
		seen += len(page)
		cursor = next
	}
	return cursor
}

// BenchmarkQueryText is Query with Text over 100,000 emails on Pebble, once
// the full-text index has caught up: a word in one email (the index narrows
// to it), a phrase in 11,111 of them, all older than the newest 80,000 (the index narrows to them, the walk skips the rest) and a two-byte needle
// the index cannot narrow and no email holds (every email verified).
func BenchmarkQueryText(b *testing.B) {
	s := benchPebble(b, "db", vfs.NewMem())
	mb := fill(b, s, 100_000)
	raw := []byte("From: a@example.org\r\nTo: agent@example.com\r\nSubject: Rare\r\n\r\nA zebrafish swam by.\r\n")
	o := mailbox.DeliverOptions{InternalDate: time.Date(2026, 1, 1, 0, 0, 50_000, 500, time.UTC)}
	if _, err := s.Deliver(context.Background(), mb, "INBOX", raw, o); err != nil {
		b.Fatal(err)
	}
	if err := s.(interface{ WaitIndexed(context.Context) error }).WaitIndexed(context.Background()); err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name, text string
		want       int
	}{
		{"one_in_100k", "ZEBRAFISH", 1},
		{"many_old", "Sender 1", 50},
		{"unnarrowed_none", "zq", 0},
	}
	for _, tc := range cases {
		b.Run("100k/"+tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				page, _, err := s.Query(context.Background(), mailbox.Query{Mailbox: mb, Text: tc.text})
				if err != nil || len(page) != tc.want {
					b.Fatal(len(page), err)
				}
			}
		})
	}
}
