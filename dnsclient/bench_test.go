package dnsclient

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkLookupMX compares a cached answer with one asked of a loopback server each time.
func BenchmarkLookupMX(b *testing.B) {
	for _, tc := range []struct {
		name string
		size int
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			u := startUpstreamB(b)
			c, _, _ := newTestClient(b, Config{CacheSize: tc.size}, u)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.LookupMX(ctx, "bench.test"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// startUpstreamB is a UDP server answering every MX question.
func startUpstreamB(b *testing.B) string {
	b.Helper()
	srv := &dns.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		r, _ := dns.NewRR("bench.test. 300 IN MX 10 mx.bench.test.")
		m.Answer = []dns.RR{r}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ListenAndServe() }()
	<-started
	b.Cleanup(func() { _ = srv.Shutdown() })
	return srv.PacketConn.LocalAddr().String()
}
