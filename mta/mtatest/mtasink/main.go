// Command mtasink runs an mtatest.MX as a standalone SMTP sink on loopback, for load scripts:
// it accepts every message (the local-part rules of package mtatest apply) and appends one
// JSON line per accepted message to -log, the SINK_LOG of the Postfix comparison script (docs/benchmarks.md).
//
//	go run ./mta/mtatest/mtasink -addr 127.0.0.1:47026 -log /tmp/sink.log
//
// It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"multimail.dev/multimail/mta/mtatest"
)

func main() {
	var o mtatest.MXOptions
	flag.StringVar(&o.Addr, "addr", "127.0.0.1:47026", "listen address (loopback)")
	flag.StringVar(&o.LogPath, "log", "", "append one JSON line per accepted message to this file")
	flag.StringVar(&o.Hostname, "hostname", "sink.mtatest.invalid", "greeting host name")
	flag.BoolVar(&o.TLS, "tls", false, "offer STARTTLS with a self-signed certificate")
	flag.DurationVar(&o.Delay, "delay", 0, "delay before each end-of-DATA reply")
	keep := flag.Bool("keep-data", false, "keep message bodies in memory (off: envelopes only)")
	flag.Parse()
	o.DiscardData = !*keep
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "mtasink:", err)
		os.Exit(1)
	}
}

func run(o mtatest.MXOptions) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mx, err := mtatest.StartMX(o)
	if err != nil {
		return err
	}
	fmt.Printf("mtasink listening on %s (log %q)\n", mx.Addr(), o.LogPath)
	<-ctx.Done()
	n := mx.Count()
	if err := mx.Close(); err != nil {
		return err
	}
	fmt.Printf("mtasink: %d messages accepted on %d connections\n", n, mx.Conns())
	return nil
}
