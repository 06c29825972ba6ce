package queuetest

// bench.go measures a backend through queue.Core, so that the Pebble queue and queue/pgqueue
// are compared by the same code:
//
//	go test ./queue ./queue/pgqueue -run x -bench Backend -benchtime 200x

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

// benchBodySize is the body of every benchmark message (as the queue's own benchmarks).
const benchBodySize = 5 * 1024

// OpenBench opens a fresh, empty queue for one benchmark.
type OpenBench func(b *testing.B) queue.Core

// Bench runs the backend benchmarks: Enqueue from 1 and 8 goroutines (each a committed,
// durable enqueue of one 5 KB message to one recipient), and LeaseComplete (Next + Complete
// delivered from 8 workers, on b.N messages enqueued beforehand, untimed).
func Bench(b *testing.B, open OpenBench) {
	for _, g := range []int{1, 8} {
		b.Run(fmt.Sprintf("Enqueue/goroutines=%d", g), func(b *testing.B) {
			q := open(b)
			b.SetBytes(benchBodySize)
			b.ResetTimer()
			start := time.Now()
			enqueueN(b, q, b.N, g)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
		})
	}
	b.Run("LeaseComplete/workers=8", func(b *testing.B) {
		q := open(b)
		enqueueN(b, q, b.N, 8)
		b.ResetTimer()
		start := time.Now()
		leaseComplete(b, q, b.N, 8)
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	})
}

func enqueueN(b *testing.B, q queue.Core, n, g int) {
	body := bytes.Repeat([]byte("x"), benchBodySize)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				m := &queue.Message{From: "a@x.example", To: []string{fmt.Sprintf("u%d@d%d.example", i, i%100)}, Body: body}
				if _, err := q.Enqueue(context.Background(), m); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func leaseComplete(b *testing.B, q queue.Core, n, w int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				l, err := q.Next(ctx)
				if err == nil {
					_, err = q.Complete(ctx, l, results(l, queue.Delivered, 250, "2.0.0"), false)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
