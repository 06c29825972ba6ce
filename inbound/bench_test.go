package inbound

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/mta/mtatest"
)

// BenchmarkInboundStored measures messages stored per second over SMTP: N parallel sessions,
// each sending its share of b.N messages on one connection, into a real Pebble mailbox store
// and queue sharing one database (as in production), with SPF and DMARC answered by the
// loopback DNS server. Every 250 is after a synced commit.
func BenchmarkInboundStored(b *testing.B) {
	for _, tc := range []struct {
		store    string
		sessions int
	}{{"pebble", 1}, {"pebble", 8}, {"pebble", 32}, {"memory", 8}} {
		sessions := tc.sessions
		b.Run(fmt.Sprintf("store=%s/sessions=%d", tc.store, sessions), func(b *testing.B) {
			e := newBenchEnv(b, tc.store)
			msg := plainMessage("a@pass.example", "bench", strings.Repeat("Lorem ipsum dolor sit amet.\r\n", 100))
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, sessions)
			for i := range sessions {
				n := b.N / sessions
				if i < b.N%sessions {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- e.sendMany(n, msg)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// newBenchEnv is newEnv with the Pebble mailbox store ("pebble") or the memory one, and the
// queue on Pebble either way.
func newBenchEnv(b *testing.B, kind string) *testEnv {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	db := openPebble(b)
	var store mailbox.Store = mailbox.NewMemory()
	if kind == "pebble" {
		ps, err := mailbox.OpenPebble(db, mailbox.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ps.Close() })
		store = ps
	}
	e := &testEnv{t: b, key: key, store: store, dns: mtatest.NewDNS(b, testZone(pub)), queue: openQueue(b, db)}
	e.addMailboxes()
	e.start(Options{Hostname: testHost, Store: store, Queue: e.queue,
		Resolver: testResolver(b, e.dns.Addr(), 2*time.Second)})
	return e
}

// sendMany sends n messages on one connection.
func (e *testEnv) sendMany(n int, msg string) error {
	c, err := smtp.Dial(e.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("bench.test"); err != nil {
		return err
	}
	for range n {
		if err := c.SendMail("a@pass.example", []string{"agent@example.com"}, strings.NewReader(msg)); err != nil {
			return err
		}
	}
	return c.Quit()
}
