package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

// runSink runs a recording MX on loopback until interrupted: the far end of a benchmark.
func runSink(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mmload sink", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:47026", "listen address (loopback)")
	logPath := fs.String("log", "", "append one JSON line per message (the SINK_LOG of docs/benchmarks.md)")
	delay := fs.Duration("delay", 0, "time the sink takes per message before its 250")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loopbackOnly(*addr); err != nil {
		return err
	}
	mx, err := mtatest.StartMX(mtatest.MXOptions{Addr: *addr, LogPath: *logPath, Delay: *delay, DiscardData: true})
	if err != nil {
		return err
	}
	defer mx.Close()
	fmt.Printf("sink listening on %s\n", mx.Addr())
	start := time.Now()
	<-ctx.Done()
	fmt.Printf("sink: %d messages over %d connections in %.1fs\n", mx.Count(), mx.Conns(), time.Since(start).Seconds())
	return nil
}
