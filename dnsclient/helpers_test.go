package dnsclient

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// upstream is an in-process DNS server on 127.0.0.1 (UDP and TCP on one port) whose answers
// a test writes, and which counts the questions it gets per transport.
type upstream struct {
	addr     string
	udp, tcp atomic.Int64
	handle   func(req *dns.Msg, overTCP bool) *dns.Msg
}

func startUpstream(t *testing.T, handle func(req *dns.Msg, overTCP bool) *dns.Msg) *upstream {
	t.Helper()
	u := &upstream{handle: handle}
	var pc net.PacketConn
	var ln net.Listener
	for range 20 {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		ln = nil
	}
	if ln == nil {
		t.Fatal("no UDP and TCP port pair")
	}
	u.addr = pc.LocalAddr().String()
	var started sync.WaitGroup
	started.Add(2)
	serve := func(tcp bool) dns.HandlerFunc {
		return func(w dns.ResponseWriter, req *dns.Msg) {
			if tcp {
				u.tcp.Add(1)
			} else {
				u.udp.Add(1)
			}
			if resp := u.handle(req, tcp); resp != nil {
				_ = w.WriteMsg(resp)
			}
		}
	}
	us := &dns.Server{PacketConn: pc, Handler: serve(false), NotifyStartedFunc: started.Done}
	ts := &dns.Server{Listener: ln, Handler: serve(true), NotifyStartedFunc: started.Done}
	go func() { _ = us.ActivateAndServe() }()
	go func() { _ = ts.ActivateAndServe() }()
	started.Wait()
	t.Cleanup(func() {
		_ = us.ShutdownContext(context.Background())
		_ = ts.ShutdownContext(context.Background())
	})
	return u
}

// queries returns the questions received over both transports.
func (u *upstream) queries() int { return int(u.udp.Load() + u.tcp.Load()) }

// reply starts a response to req.
func reply(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	return m
}

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// soa is the negative-answer SOA of zone "test.": TTL ttl, MINIMUM minimum.
func soa(t testing.TB, ttl, minimum int) dns.RR {
	return rr(t, fmt.Sprintf("test. %d IN SOA ns.test. host.test. 1 3600 600 86400 %d", ttl, minimum))
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestClient returns a client asking u with a fake clock and its own registry.
func newTestClient(t testing.TB, cfg Config, servers ...string) (*Client, *fakeClock, *prometheus.Registry) {
	t.Helper()
	clk := newClock()
	reg := prometheus.NewRegistry()
	cfg.Servers, cfg.Clock, cfg.Registerer = servers, clk, reg
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, clk, reg
}

// silentServer is a UDP socket that counts questions and never answers.
func silentServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	var n atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	return pc.LocalAddr().String(), &n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
