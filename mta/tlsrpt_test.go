package mta

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *stepClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// The counts of a day survive a restart of the recorder, the day's report is made once the
// UTC day is over (and only once, even after an on-demand report of the same day), and files
// older than keepDays go.
func TestTLSRPTDailyReport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &stepClock{t: time.Date(2026, 12, 5, 23, 0, 0, 0, time.UTC)}
	log := slog.New(slog.DiscardHandler)
	newRec := func() *tlsrptRecorder {
		r, err := newTLSRPT(TLSRPTOptions{Dir: dir}, "out.example", nil, clock, log)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	pol := &STSPolicy{Mode: STSEnforce, MaxAge: 86400, MX: []string{"mx.d.test"}}
	lk := stsLookup{domain: "d.test", id: "1", policy: pol}
	r := newRec()
	r.session(lk, "mx.d.test", "192.0.2.1", "")
	r.session(lk, "mx.d.test", "192.0.2.1", ResultCertExpired)
	if err := r.flush(); err != nil {
		t.Fatal(err)
	}
	r = newRec() // a restart: the day's counts are read back
	r.session(lk, "mx.d.test", "192.0.2.1", "")
	if _, err := r.report(context.Background(), "2026-12-05", false); err != nil { // on demand
		t.Fatal(err)
	}
	clock.set(time.Date(2026, 12, 6, 0, 1, 0, 0, time.UTC))
	r.reportPastDays(context.Background())
	if _, err := os.Stat(filepath.Join(dir, "2026-12-05", ".sent")); err != nil {
		t.Fatalf("the finished day was not reported: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "2026-12-05", "d.test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rpt TLSReport
	if err := json.Unmarshal(b, &rpt); err != nil {
		t.Fatal(err)
	}
	p := rpt.Policies[0]
	if p.Summary.Success != 2 || p.Summary.Failure != 1 || p.FailureDetails[0].ResultType != ResultCertExpired ||
		p.FailureDetails[0].ReceivingIP != "192.0.2.1" || rpt.DateRange.Start != time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC) ||
		rpt.DateRange.End != time.Date(2026, 12, 5, 23, 59, 59, 0, time.UTC) {
		t.Fatalf("report %s", b)
	}
	clock.set(time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC))
	r.reportPastDays(context.Background())
	if _, err := os.Stat(filepath.Join(dir, "counters-2026-12-05.json")); !os.IsNotExist(err) {
		t.Fatalf("old counters kept: %v", err)
	}
}
