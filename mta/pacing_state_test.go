package mta

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

// pacedDeliverer is a Deliverer (no queue) with a fake clock, a warm-up pool of one address
// (two messages a day) and its pacing state in file.
func pacedDeliverer(t *testing.T, clk *fakeClock, file string) *Deliverer {
	t.Helper()
	d := New(nil, Options{Hostname: "out.example", Clock: clockFunc(clk.now), Resolver: nil,
		Pacing: Pacing{PerMinute: 60, Burst: 4, ThrottleBackoff: time.Minute}, PacingStateFile: file,
		IPPools: []IPPool{{Name: "warm", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.9")},
			Warmup: []int{2}, WarmupStart: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}}})
	if d.err != nil {
		t.Fatal(d.err)
	}
	return d
}

// TestPacingStateSurvivesRestart: a throttled destination's pause and halved rate, and a
// warm-up pool's count for the day, are saved, read by the next Deliverer, and honour the
// time that passed in between (the pause ends at its instant; a new UTC day resets counts).
func TestPacingStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	file := filepath.Join(t.TempDir(), "pacing.json")
	d := pacedDeliverer(t, clk, file)
	d.pacer.observe([]queue.Result{{MXHost: "mx1.example.net", Outcome: queue.Deferred, SMTPCode: 421,
		EnhancedCode: "4.7.28", Detail: "unusual rate"}})
	if _, e := d.sources.pick("warm", "198.51.100.1:25"); e != nil {
		t.Fatal(e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run without workers: only the last save
	d.runPacingState(ctx)
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), `"example.net"`) {
		t.Fatalf("state file %s: %v", b, err)
	}

	clk.t = clk.t.Add(30 * time.Second) // restarted inside the pause
	d2 := pacedDeliverer(t, clk, file)
	if ok, wait := d2.pacer.try("example.net", queue.LaneHigh); ok || wait != 30*time.Second {
		t.Fatalf("after restart: ok %v wait %v, want paused 30s more", ok, wait)
	}
	if b := d2.pacer.dests["example.net"]; b.factor != 0.5 || b.strikes != 1 {
		t.Fatalf("after restart: factor %v strikes %d, want 0.5 and 1", b.factor, b.strikes)
	}
	if _, e := d2.sources.pick("warm", "198.51.100.1:25"); e != nil {
		t.Fatalf("second message of the day refused: %v", e)
	}
	if _, e := d2.sources.pick("warm", "198.51.100.1:25"); e == nil {
		t.Fatal("third message of the day allowed: the restart forgot the warm-up count")
	}
	s := &pacingSaver{d: d2}
	if err := s.save(); err != nil {
		t.Fatal(err)
	}

	clk.t = time.Date(2026, 12, 7, 0, 0, 1, 0, time.UTC) // next UTC day, pause long over
	d3 := pacedDeliverer(t, clk, file)
	if ok, _ := d3.pacer.try("example.net", queue.LaneHigh); !ok {
		t.Fatal("the pause outlived its end")
	}
	if b := d3.pacer.dests["example.net"]; b.factor != 0.5 {
		t.Fatalf("factor %v, want still 0.5 (only deliveries raise it)", b.factor)
	}
	if _, e := d3.sources.pick("warm", "198.51.100.1:25"); e != nil {
		t.Fatalf("a new day's first message refused: %v", e)
	}
}

// A corrupt state file is moved aside and the node starts from the configured rates.
func TestPacingStateCorrupt(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	file := filepath.Join(t.TempDir(), "pacing.json")
	if err := os.WriteFile(file, []byte(`{"version":1,"destinations":`), 0o600); err != nil {
		t.Fatal(err)
	}
	d := pacedDeliverer(t, clk, file)
	if ok, _ := d.pacer.try("example.net", queue.LaneHigh); !ok {
		t.Fatal("fresh destination refused")
	}
	if _, err := os.Stat(file + ".corrupt"); err != nil {
		t.Fatalf("corrupt file not moved aside: %v", err)
	}
}

// FuzzPacingState: any state file is refused or restored into bounds (a rate factor in
// [1/64, 1], tokens within the burst, a pause no longer than MaxThrottleBackoff), never a
// panic.
func FuzzPacingState(f *testing.F) {
	f.Add([]byte(`{"version":1,"destinations":{"example.net":{"factor":0.5,"tokens":2,"last":"2026-12-06T11:59:00Z","paused_until":"2026-12-06T12:01:00Z","strikes":1}},"warmup":{"warm":{"day":"2026-12-06","sent":{"192.0.2.9":1}}}}`))
	f.Add([]byte(`{"version":1,"destinations":{"x":{"factor":-3,"tokens":1e300,"paused_until":"9999-01-01T00:00:00Z","strikes":-5}}}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parsePacingState(b)
		if err != nil {
			return
		}
		now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
		p, _ := newPacer(Pacing{PerMinute: 60, Burst: 4}, func() time.Time { return now }, nil)
		p.restore(st.Destinations, now)
		for k, b := range p.dests {
			if b.factor < minRateFactor || b.factor > 1 || b.tokens < 0 || b.tokens > 4 ||
				b.paused.After(now.Add(p.opts.MaxThrottleBackoff)) {
				t.Fatalf("%s restored out of bounds: %+v", k, b)
			}
		}
		o := Options{Hostname: "out.example"}.withDefaults()
		o.IPPools = []IPPool{{Name: "warm", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.9")}, Warmup: []int{2}}}
		s, _ := newSources(o)
		s.restore(st.Warmup, now)
	})
}
