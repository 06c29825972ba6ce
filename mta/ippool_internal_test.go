package mta

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

// TestSourcesPick: round robin within the next hop's family, none of the other family, the
// warm-up quota per address per UTC day (day N of the ramp, no cap past its end), and the
// default source for a lease without a pool.
func TestSourcesPick(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)}
	o := Options{Hostname: "out.example", Clock: nil}.withDefaults()
	o.Clock = clockFunc(clk.now)
	o.IPPools = []IPPool{
		{Name: "v4", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.2")}, HELO: "v4.example"},
		{Name: "warm", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.9")},
			Warmup: []int{1, 2}, WarmupStart: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)},
		{Name: "only4", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.7")}},
	}
	o.PoolFor = func(l *queue.Lease) string { return l.Mailbox }
	s, err := newSources(o)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 4 {
		src, e := s.pick("v4", "198.51.100.1:25")
		if e != nil {
			t.Fatal(e)
		}
		got = append(got, src.ip.String())
		if src.helo != "v4.example" || src.pool != "v4" {
			t.Fatalf("source %+v", src)
		}
	}
	if want := "[192.0.2.1 192.0.2.2 192.0.2.1 192.0.2.2]"; fmtList(got) != want {
		t.Errorf("IPv4 picks %v, want %s", got, want)
	}
	if src, e := s.pick("v4", "[2001:db8::25]:25"); e != nil || src.ip.String() != "2001:db8::1" {
		t.Errorf("IPv6 pick %v %v", src, e)
	}
	if _, e := s.pick("only4", "[2001:db8::25]:25"); e == nil || !errors.Is(e, ErrNoSource) || e.Status != "4.4.0" {
		t.Errorf("an IPv4-only pool to an IPv6 MX: %v", e)
	}
	if src, e := s.pick("", "198.51.100.1:25"); e != nil || src.ip.IsValid() || src.helo != "out.example" || src.localAddr() != nil {
		t.Errorf("default source %+v %v", src, e)
	}
	if p := s.poolOf(&queue.Lease{Mailbox: "nope"}); p != "" {
		t.Errorf("an unknown pool name gives %q, want the default", p)
	}

	// Day 1: one message; then none until the next UTC day, which allows two.
	if _, e := s.pick("warm", "198.51.100.1:25"); e != nil {
		t.Fatal(e)
	}
	if _, e := s.pick("warm", "198.51.100.1:25"); e == nil || e.Status != "4.7.0" {
		t.Fatalf("past the day's quota: %v", e)
	}
	if nd := nextDay(clk.t); !nd.Equal(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("nextDay %v", nd)
	}
	clk.t = clk.t.Add(2 * time.Hour) // day 2
	for i := range 2 {
		if _, e := s.pick("warm", "198.51.100.1:25"); e != nil {
			t.Fatalf("day 2 message %d: %v", i+1, e)
		}
	}
	if _, e := s.pick("warm", "198.51.100.1:25"); e == nil {
		t.Fatal("day 2 past its quota of 2")
	}
	clk.t = clk.t.Add(24 * time.Hour) // past the ramp: no cap
	for range 50 {
		if _, e := s.pick("warm", "198.51.100.1:25"); e != nil {
			t.Fatalf("past the ramp: %v", e)
		}
	}
}

type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

func fmtList(l []string) string {
	out := "["
	for i, s := range l {
		if i > 0 {
			out += " "
		}
		out += s
	}
	return out + "]"
}
