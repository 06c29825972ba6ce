// Command mmload drives load at a multimail server on loopback and reports throughput and
// latency percentiles. It is the load tool of issue 5 and the benchmarks in the README.
//
//	mmload sink    --addr 127.0.0.1:47026 [--log FILE] [--delay 50ms]
//	mmload smtp    --addr 127.0.0.1:2587 --from A --to B -n 10000 -c 50 [--size 5120] [--user U --pass P]
//	mmload http    --url http://127.0.0.1:8025 --key K --from A --to B -n 10000 -c 50 [--priority high]
//	mmload latency --url … --key K --from A --sink-port P -bulk 3000 -high 50 [--delay 50ms]
//	mmload imap    --addr 127.0.0.1:2993 [--tls implicit|starttls|none] --user U --pass P -c 8 -d 10s [--seed 200]
//
// Every address it talks to must be on loopback; it refuses others.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "sink":
		err = runSink(ctx, os.Args[2:])
	case "smtp":
		err = runSMTP(ctx, os.Args[2:])
	case "http":
		err = runHTTP(ctx, os.Args[2:])
	case "latency":
		err = runLatency(ctx, os.Args[2:])
	case "imap":
		err = runIMAP(ctx, os.Args[2:])
	default:
		usage()
		os.Exit(2)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "mmload:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: mmload sink|smtp|http|latency|imap [flags]  (mmload MODE --help)")
}

// loopbackOnly refuses any target that is not a loopback address (benchmarks never leave the
// machine).
func loopbackOnly(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s is not a loopback address", hostport)
	}
	return nil
}

// stats collects per-operation latencies.
type stats struct {
	lat   []time.Duration
	errs  int
	first error
}

func (s *stats) add(d time.Duration, err error) {
	if err != nil {
		s.errs++
		if s.first == nil {
			s.first = err
		}
		return
	}
	s.lat = append(s.lat, d)
}

func (s *stats) merge(o *stats) {
	s.lat = append(s.lat, o.lat...)
	s.errs += o.errs
	if s.first == nil {
		s.first = o.first
	}
}

// pct returns the p-th percentile (0–100) of the latencies.
func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	sorted := append([]time.Duration(nil), lat...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}

func (s *stats) report(what string, elapsed time.Duration) {
	n := len(s.lat)
	fmt.Printf("%s: %d ok, %d errors in %.2fs: %.0f msg/s; latency p50 %s p90 %s p99 %s max %s\n",
		what, n, s.errs, elapsed.Seconds(), float64(n)/elapsed.Seconds(),
		ms(pct(s.lat, 50)), ms(pct(s.lat, 90)), ms(pct(s.lat, 99)), ms(pct(s.lat, 100)))
	if s.first != nil {
		fmt.Printf("first error: %v\n", s.first)
	}
}

// drive runs c workers until n operations have been claimed (or ctx ends) and merges their
// stats. Each worker calls take before an operation; take reports whether one is left.
func drive(ctx context.Context, c, n int, worker func(take func() bool) *stats) (*stats, time.Duration) {
	var next atomic.Int64
	take := func() bool { return next.Add(1) <= int64(n) && ctx.Err() == nil }
	var mu sync.Mutex
	var wg sync.WaitGroup
	all := &stats{}
	start := time.Now()
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := worker(take)
			mu.Lock()
			all.merge(st)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, time.Since(start)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// body makes a message body of about size bytes of printable text in 76-column lines.
func body(size int) string {
	var b strings.Builder
	line := strings.Repeat("x", 75)
	for b.Len() < size {
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	return b.String()
}
