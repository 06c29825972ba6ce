package mta_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/mta/mtatest"
	"multimail.dev/multimail/queue"
)

// body5K is a 5 KB message body, the size the Postfix anchors use.
var body5K = func() []byte {
	var b strings.Builder
	b.WriteString("From: load@example.com\r\nTo: rcpt@dest.test\r\nSubject: load\r\n\r\n")
	for b.Len() < 5*1024 {
		b.WriteString("The quick brown fox jumps over the lazy dog, again and again and again.\r\n")
	}
	return []byte(b.String())
}()

// BenchmarkDeliverer measures end-to-end delivery: b.N messages of 5 KB already in a real
// queue (Pebble on t.TempDir()) delivered to a loopback MX through a "*" transport, from
// Run's start until the MX has them all. Run with a fixed count, e.g. -benchtime=5000x.
func BenchmarkDeliverer(b *testing.B) {
	for _, domains := range []int{1, 50} {
		b.Run(fmt.Sprintf("domains=%d", domains), func(b *testing.B) {
			q := openQueue(b, queue.Options{})
			mx := mtatest.NewMX(b, mtatest.MXOptions{DiscardData: true})
			enqueueMany(b, q, b.N, func(i int) *queue.Message {
				m := message("load@example.com", queue.LaneNormal, fmt.Sprintf("ok-%d@d%d.test", i, i%domains))
				m.Body = body5K
				return m
			})
			d := mta.New(q, mta.Options{Hostname: "bench.test", Pacing: mta.Pacing{Off: true}, // the engine, not the policy
				Transports: []mta.Transport{{Domain: "*", NextHop: mx.Addr(), TLS: mta.TLSNone}}})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			stop := runDeliverer(b, d)
			if _, err := mx.WaitFor(ctx, b.N); err != nil {
				b.Fatal(err)
			}
			took, cpuUsed := time.Since(start), cpuTime()-cpu
			b.StopTimer()
			_ = stop()
			b.ReportMetric(float64(b.N)/took.Seconds(), "msgs/s")
			b.ReportMetric(float64(cpuUsed.Microseconds())/float64(b.N), "cpu-µs/msg")
			b.ReportMetric(float64(mx.Conns()), "conns")
		})
	}
}

// BenchmarkHighLatency measures how long a high-lane message takes from Enqueue to the MX
// while 3,000 bulk messages for the same domain wait behind an MX that takes 50 ms a message.
// b.N high messages are sent one after another. Run with e.g. -benchtime=40x.
func BenchmarkHighLatency(b *testing.B) {
	const bulk = 3000
	arrivals := &arrivalLog{at: map[string]time.Time{}}
	q := openQueue(b, queue.Options{})
	mx := mtatest.NewMX(b, mtatest.MXOptions{Delay: 50 * time.Millisecond, DiscardData: true,
		OnMessage: arrivals.record})
	enqueueMany(b, q, bulk, func(i int) *queue.Message {
		m := message("bulk@example.com", queue.LaneNormal, fmt.Sprintf("bulk-%d@slow.test", i))
		m.Body = body5K
		return m
	})
	d := mta.New(q, mta.Options{Hostname: "bench.test", Pacing: mta.Pacing{Off: true}, // the engine, not the policy
		Transports: []mta.Transport{{Domain: "*", NextHop: mx.Addr(), TLS: mta.TLSNone}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	runDeliverer(b, d)
	if _, err := mx.WaitFor(ctx, 50); err != nil { // the bulk is flowing
		b.Fatal(err)
	}
	b.ResetTimer()
	lat := make([]time.Duration, 0, b.N)
	for i := range b.N {
		rcpt := fmt.Sprintf("high-%d@slow.test", i)
		start := time.Now()
		if _, err := q.Enqueue(ctx, message("urgent@example.com", queue.LaneHigh, rcpt)); err != nil {
			b.Fatal(err)
		}
		at, err := arrivals.wait(ctx, rcpt)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, at.Sub(start))
	}
	b.StopTimer()
	left := bulk + b.N - mx.Count()
	if left <= 0 {
		b.Fatalf("the bulk drained during the measurement: increase bulk or lower -benchtime")
	}
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[(len(lat)*99)/100]), "p99-ms")
	b.ReportMetric(float64(left), "bulk-left")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// arrivalLog records when each recipient arrived at the MX.
type arrivalLog struct {
	mu   sync.Mutex
	at   map[string]time.Time
	cond chan struct{}
}

func (a *arrivalLog) record(m mtatest.Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range m.To {
		if strings.HasPrefix(r, "high-") {
			a.at[r] = m.Received
		}
	}
	if a.cond != nil {
		close(a.cond)
		a.cond = nil
	}
}

func (a *arrivalLog) wait(ctx context.Context, rcpt string) (time.Time, error) {
	for {
		a.mu.Lock()
		at, ok := a.at[rcpt]
		if a.cond == nil {
			a.cond = make(chan struct{})
		}
		ch := a.cond
		a.mu.Unlock()
		if ok {
			return at, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// cpuTime is the user and system CPU time of the process so far (the MX and Pebble
// included): on a shared machine a steadier measure than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
