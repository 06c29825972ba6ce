package queue

// Benchmarks. Plain runs stay short:
//
//	go test -run XXX -bench . ./queue
//
// The 1,000,000-message variants are gated by MULTIMAIL_BENCH_1M=1:
//
//	MULTIMAIL_BENCH_1M=1 go test -run XXX -bench 1M -benchtime 3000x -timeout 30m ./queue

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

const benchBodySize = 5 * 1024

// benchOpen opens a database on disk configured as a server would (64 MB memtable, 256 MB
// block cache; Pebble's defaults of 4 MB and 8 MB stall bulk loads and miss the cache at
// 1M messages) and a queue on it.
func benchOpen(b *testing.B, dir string) (*pebble.DB, *Queue) {
	b.Helper()
	cache := pebble.NewCache(256 << 20)
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}, MemTableSize: 64 << 20, Cache: cache})
	if err != nil {
		b.Fatal(err)
	}
	q, err := Open(db, Options{PerDomainConcurrency: 10})
	if err != nil {
		b.Fatal(err)
	}
	return db, q
}

func BenchmarkEnqueue(b *testing.B) {
	for _, g := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			db, q := benchOpen(b, b.TempDir())
			defer db.Close()
			defer q.Close()
			benchEnqueue(b, q, g)
		})
	}
}

// benchEnqueue runs b.N synced enqueues of 5 KB bodies from g goroutines.
func benchEnqueue(b *testing.B, q *Queue, g int) {
	body := bytes.Repeat([]byte("x"), benchBodySize)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(benchBodySize)
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				m := &Message{From: "a@x", To: []string{fmt.Sprintf("u%d@d%d.example", i, i%100)}, Body: body, Lane: LaneNormal}
				if _, err := q.Enqueue(context.Background(), m); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
	reportCPU(b, cpu)
}

// cpuTime is the user and system CPU time of the process so far (every goroutine, Pebble's
// included): on a shared machine a steadier measure than the wall clock, which fsync rules.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since since (a cpuTime reading).
func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64((cpuTime()-since).Microseconds())/float64(b.N), "cpu-µs/op")
}

func BenchmarkLeaseComplete(b *testing.B) {
	db, q := benchOpen(b, b.TempDir())
	defer db.Close()
	defer q.Close()
	bulkLoad(b, q, b.N, benchBodySize)
	waitCompactions(b, db)
	benchLeaseComplete(b, q, 8)
}

// benchLeaseComplete runs b.N Next+Complete(delivered) pairs from w workers.
func benchLeaseComplete(b *testing.B, q *Queue, w int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				l, err := q.Next(ctx, LaneHigh, LaneNormal, LaneLow)
				if err == nil {
					_, err = q.Complete(ctx, l, delivered(l.Recipients...), false)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	reportCPU(b, cpu)
}

// bulkLoad queues n messages fast: many messages per batch, committed without fsync.
func bulkLoad(tb testing.TB, q *Queue, n, bodySize int) {
	tb.Helper()
	body := bytes.Repeat([]byte("y"), bodySize)
	const per = 1000
	for i := 0; i < n; i += per {
		batch := q.db.NewBatch()
		var es []*enqueued
		for k := i; k < min(i+per, n); k++ {
			m := &Message{From: "a@x", To: []string{fmt.Sprintf("u%d@d%d.example", k, k%1000)}, Body: body, Lane: LaneNormal}
			rcpts, err := normaliseRcpts(m.To)
			if err != nil {
				tb.Fatal(err)
			}
			id, _, _ := q.assignIDs(m)
			e, err := q.build(batch, m, id, rcpts)
			if err != nil {
				tb.Fatal(err)
			}
			es = append(es, e)
		}
		if err := commit(batch, pebble.NoSync); err != nil {
			tb.Fatal(err)
		}
		for _, e := range es {
			q.publish(e)
		}
	}
}

// Benchmark1M repeats the enqueue and lease+complete benchmarks with 1,000,000 messages
// (1 KB bodies) already queued, to show that the cost stays flat. It also reports how long
// Open takes to rebuild the in-memory index and the heap it uses per queued message.
func Benchmark1M(b *testing.B) {
	if os.Getenv("MULTIMAIL_BENCH_1M") != "1" {
		b.Skip("set MULTIMAIL_BENCH_1M=1")
	}
	const n = 1_000_000
	dir := b.TempDir()
	db, q := benchOpen(b, dir)
	t0 := time.Now()
	bulkLoad(b, q, n, 1024)
	b.Logf("bulk-loaded %d messages in %v", n, time.Since(t0))
	q.Close()
	q = nil // let the loader's index be collected before measuring the reopened one
	waitCompactions(b, db)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	t0 = time.Now()
	q, err := Open(db, Options{PerDomainConcurrency: 10})
	if err != nil {
		b.Fatal(err)
	}
	openTime := time.Since(t0)
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	b.Logf("Open with %d queued: %v; heap +%.1f MB (%.0f bytes/message)", n, openTime, grown/1e6, grown/n)
	defer db.Close()
	defer q.Close()
	for _, g := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("enqueue/goroutines=%d", g), func(b *testing.B) { benchEnqueue(b, q, g) })
	}
	b.Run("lease+complete", func(b *testing.B) {
		if b.N > n {
			b.Skip("b.N exceeds the backlog")
		}
		benchLeaseComplete(b, q, 8)
	})
}

// BenchmarkFsync is the disk's raw rate: append 5 KB then fdatasync, one at a time.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(b.TempDir() + "/fsync")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte("z"), benchBodySize)
	b.SetBytes(benchBodySize)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fsyncs/s")
}

// waitCompactions waits (bounded) until Pebble has no compaction running, so that the
// measurement after a bulk load is not competing with it.
func waitCompactions(b *testing.B, db *pebble.DB) {
	deadline := time.Now().Add(5 * time.Minute)
	for db.Metrics().Compact.NumInProgress > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // polling Pebble's metrics; there is no event to wait on
	}
}
