package mta

import (
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

func TestIsThrottle(t *testing.T) {
	for _, c := range []struct {
		code   int
		status string
		text   string
		want   bool
	}{
		{421, "4.7.28", "Our system has detected an unusual rate of unsolicited mail", true},
		{451, "4.7.650", "The mail server [1.2.3.4] has been temporarily rate limited due to IP reputation", true},
		{421, "4.7.0", "[TSS04] Messages from 1.2.3.4 temporarily deferred due to unexpected volume or user complaints", true},
		{450, "4.2.1", "The user you are trying to contact is receiving mail at a rate that prevents additional messages", false}, // one recipient's limit: its own backoff
		{452, "4.3.2", "Too many messages from your IP, slow down", true},
		{451, "4.7.1", "Greylisted, please try again later", false},
		{450, "4.2.0", "Recipient address rejected: Greylisted for 300 seconds", false},
		{451, "4.7.1", "Please try again later", false},
		{451, "4.3.0", "Temporary failure, try again later", false},
		{550, "5.7.28", "unusual rate", false}, // permanent: a bounce, not pacing
		{250, "2.0.0", "ok", false},
		{0, "4.4.1", "connection refused", false},
	} {
		if got := isThrottle(c.code, c.status, c.text); got != c.want {
			t.Errorf("isThrottle(%d %s %q) = %v, want %v", c.code, c.status, c.text, got, c.want)
		}
	}
}

func TestDestKey(t *testing.T) {
	for in, want := range map[string]string{
		"gmail-smtp-in.l.google.com.": "google.com", "ASPMX.L.GOOGLE.COM": "google.com",
		"example-com.mail.protection.outlook.com": "outlook.com", "mx.example.co.uk": "example.co.uk",
		"127.0.0.1": "127.0.0.1", "::1": "::1", "localhost": "localhost",
	} {
		if got := destKey(in); got != want {
			t.Errorf("destKey(%q) = %q, want %q", in, got, want)
		}
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// TestPacerBudget: the burst goes, then one message per 1/rate; bulk leaves the high
// lane its reserve; a throttling reply pauses the destination, halves its rate, and a
// delivery speeds it up again; greylisting changes nothing.
func TestPacerBudget(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}
	p, err := newPacer(Pacing{PerMinute: 60, Burst: 4, HighReserve: 0.5}, clk.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := "example.net"
	for i := range 2 { // bulk may use 4-2 tokens
		if ok, _ := p.try(key, queue.LaneLow); !ok {
			t.Fatalf("bulk message %d refused within its share of the burst", i)
		}
	}
	if ok, wait := p.try(key, queue.LaneNormal); ok || wait <= 0 {
		t.Fatalf("bulk got into the high reserve (ok=%v wait=%v)", ok, wait)
	}
	for i := range 2 {
		if ok, _ := p.try(key, queue.LaneHigh); !ok {
			t.Fatalf("high message %d refused with its reserve left", i)
		}
	}
	ok, wait := p.try(key, queue.LaneHigh)
	if ok || wait != time.Second {
		t.Fatalf("empty bucket: ok=%v wait=%v, want a 1s wait at 60/min", ok, wait)
	}
	clk.t = clk.t.Add(time.Second)
	if ok, _ := p.try(key, queue.LaneHigh); !ok {
		t.Fatal("refill of one token after 1s not usable by high")
	}
	if ok, _ := p.try("other.example", queue.LaneLow); !ok {
		t.Fatal("another destination shares the budget")
	}

	p.observe([]queue.Result{{MXHost: "mx.example.net", Outcome: queue.Deferred, SMTPCode: 451,
		EnhancedCode: "4.7.1", Detail: "greylisted"}})
	if b := p.dests[key]; b.factor != 1 || !b.paused.IsZero() {
		t.Fatalf("greylisting slowed the destination: %+v", b)
	}
	p.observe([]queue.Result{{MXHost: "mx.example.net", Outcome: queue.Deferred, SMTPCode: 421,
		EnhancedCode: "4.7.28", Detail: "unusual rate"}})
	b := p.dests[key]
	if b.factor != 0.5 || !b.paused.Equal(clk.t.Add(time.Minute)) {
		t.Fatalf("after a throttle: %+v", b)
	}
	if ok, wait := p.try(key, queue.LaneHigh); ok || wait != time.Minute {
		t.Fatalf("paused destination: ok=%v wait=%v", ok, wait)
	}
	p.observe([]queue.Result{{MXHost: "mx2.example.net", Outcome: queue.Deferred, SMTPCode: 451,
		EnhancedCode: "4.7.650", Detail: "rate limited"}})
	if b.strikes != 2 || !b.paused.Equal(clk.t.Add(2*time.Minute)) || b.factor != 0.25 {
		t.Fatalf("a second throttle does not double the pause: %+v", b)
	}
	clk.t = clk.t.Add(2 * time.Minute) // 120 s at 60/min x 0.25 = 30 tokens, capped at 4
	if ok, _ := p.try(key, queue.LaneHigh); !ok {
		t.Fatal("destination still closed after its pause")
	}
	p.observe([]queue.Result{{MXHost: "mx.example.net", Outcome: queue.Delivered}})
	if b.strikes != 0 || b.factor <= 0.25 {
		t.Fatalf("a delivery did not speed the destination up: %+v", b)
	}

	off, _ := newPacer(Pacing{Off: true}, clk.now, nil)
	for range 1000 {
		if _, ok := off.admit(t.Context(), key, queue.LaneLow); !ok {
			t.Fatal("pacing off still paces")
		}
	}
}

// FuzzPacingClassify: remote reply text is hostile input; classifying it never panics, a
// reply that says greylisting is never throttling, and a destination key is never empty
// for a non-empty host.
func FuzzPacingClassify(f *testing.F) {
	f.Add(421, "4.7.28", "unusual rate", "gmail-smtp-in.l.google.com")
	f.Add(451, "4.7.1", "Greylisted", "127.0.0.1")
	f.Add(450, "", "\xff\x00 rate limit", "[::1]")
	f.Fuzz(func(t *testing.T, code int, status, text, host string) {
		if isThrottle(code, status, text) && greylistWords.MatchString(text) {
			t.Fatalf("greylisting classified as throttling: %d %s %q", code, status, text)
		}
		if host != "" && destKey(host) == "" && strings.Trim(host, ".") != "" {
			t.Fatalf("empty key for %q", host)
		}
	})
}
