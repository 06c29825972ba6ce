package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"multimail.dev/multimail/mailbox"
)

// message5K is a 5 KB message with a realistic header (as mailbox's BenchmarkDeliver).
func message5K(i int) []byte {
	head := fmt.Sprintf("Authentication-Results: mx.example.com; spf=pass; dkim=pass\r\n"+
		"From: Sender %d <sender%d@example.org>\r\nTo: agent@example.com\r\nSubject: Message %d\r\n"+
		"Message-ID: <%d@example.org>\r\nDate: Wed, 25 Nov 2026 09:00:00 +0000\r\n\r\n", i, i, i, i)
	line := strings.Repeat("x", 76) + "\r\n"
	return []byte(head + strings.Repeat(line, (5*1024-len(head))/len(line)))
}

// BenchmarkDeliver measures durable deliveries of 5 KB messages into PostgreSQL (each one a
// committed transaction, fsync and synchronous_commit on): one writer, 8 writers to 8
// mailboxes, and 8 writers to one mailbox (serialised on its row).
func BenchmarkDeliver(b *testing.B) {
	raw := message5K(1)
	for _, tc := range []struct {
		name      string
		mailboxes int
		parallel  bool
	}{{"serial", 1, false}, {"parallel8", 8, true}, {"parallel8-onemailbox", 1, true}} {
		b.Run(tc.name, func(b *testing.B) {
			s, _ := newStore(b)
			ctx := context.Background()
			var mbs []string
			for i := range tc.mailboxes {
				a := fmt.Sprintf("agent%d@example.com", i)
				if err := s.AddMailbox(ctx, mailbox.Mailbox{Address: a}); err != nil {
					b.Fatal(err)
				}
				mbs = append(mbs, a)
			}
			b.SetBytes(int64(len(raw)))
			b.ResetTimer()
			if !tc.parallel {
				for range b.N {
					if _, err := s.Deliver(ctx, mbs[0], "INBOX", raw, mailbox.DeliverOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				var next atomic.Int64
				b.SetParallelism(4) // 8 goroutines on 2 cores
				b.RunParallel(func(pb *testing.PB) {
					mb := mbs[next.Add(1)%int64(len(mbs))]
					for pb.Next() {
						if _, err := s.Deliver(ctx, mb, "INBOX", raw, mailbox.DeliverOptions{}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
