package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

// runLatency measures how long `high` sends take to reach the recipient MX while a bulk
// backlog for the same domain waits behind an MX that takes --delay per message. It runs the
// MX itself (the server's [[transport]] must point at --sink), queues --bulk normal-priority
// messages, then sends --high high-priority ones, one every --every, and reports the time from
// the API call to the MX's receipt.
func runLatency(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mmload latency", flag.ContinueOnError)
	var f httpFlags
	f.register(fs)
	sink := fs.String("sink", "127.0.0.1:47026", "address of the MX this tool runs (loopback)")
	delay := fs.Duration("delay", 50*time.Millisecond, "MX time per message")
	bulk := fs.Int("bulk", 3000, "bulk messages queued first")
	high := fs.Int("high", 50, "high-priority messages measured")
	every := fs.Duration("every", 100*time.Millisecond, "interval between high sends")
	domain := fs.String("domain", "customer.test", "recipient domain of both")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	if err := loopbackOnly(*sink); err != nil {
		return err
	}
	arrived := &arrivals{at: map[string]time.Time{}}
	mx, err := mtatest.StartMX(mtatest.MXOptions{Addr: *sink, Delay: *delay, DiscardData: true,
		OnMessage: arrived.record})
	if err != nil {
		return err
	}
	defer mx.Close()
	s := newSender(f, 16)
	if err := queueBulk(ctx, s, *bulk, *domain); err != nil {
		return err
	}
	fmt.Printf("queued %d bulk messages; MX has %d so far\n", *bulk, mx.Count())
	sent := map[string]time.Time{}
	for i := 0; i < *high && ctx.Err() == nil; i++ {
		to := fmt.Sprintf("high-%d@%s", i, *domain)
		t0 := time.Now()
		if _, err := s.send(ctx, to, "your code", "123456", "high"); err != nil {
			return err
		}
		sent[to] = t0
		time.Sleep(*every)
	}
	lat := arrived.wait(ctx, sent, 60*time.Second)
	st := &stats{lat: lat}
	if missing := len(sent) - len(lat); missing > 0 {
		st.errs = missing
		st.first = fmt.Errorf("%d high messages did not arrive in 60 s", missing)
	}
	st.report(fmt.Sprintf("high lane behind %d bulk (MX %s/msg)", *bulk, *delay), time.Duration(*high)**every)
	fmt.Printf("bulk delivered when the last high arrived: %d of %d\n", arrived.bulkCount(), *bulk)
	return nil
}

func queueBulk(ctx context.Context, s *sender, n int, domain string) error {
	text := body(5000)
	var i atomic.Int64
	st, _ := drive(ctx, 16, n, func(take func() bool) *stats {
		st := &stats{}
		for take() {
			to := fmt.Sprintf("bulk-%d@%s", i.Add(1), domain)
			if _, err := s.send(ctx, to, "newsletter", text, "normal"); err != nil {
				st.add(0, err)
				return st
			}
		}
		return st
	})
	return st.first
}

// arrivals records when each recipient's message reached the MX.
type arrivals struct {
	mu   sync.Mutex
	at   map[string]time.Time
	bulk int
}

func (a *arrivals) record(m mtatest.Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range m.To {
		if strings.HasPrefix(r, "bulk-") {
			a.bulk++
			continue
		}
		a.at[r] = m.Received
	}
}

func (a *arrivals) bulkCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bulk
}

// wait polls until every sent recipient has arrived or the timeout passes; it returns the
// latencies of those that did.
func (a *arrivals) wait(ctx context.Context, sent map[string]time.Time, timeout time.Duration) []time.Duration {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		a.mu.Lock()
		n := 0
		for r := range sent {
			if _, ok := a.at[r]; ok {
				n++
			}
		}
		a.mu.Unlock()
		if n == len(sent) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var lat []time.Duration
	for r, t0 := range sent {
		if t1, ok := a.at[r]; ok {
			lat = append(lat, t1.Sub(t0))
		}
	}
	return lat
}
