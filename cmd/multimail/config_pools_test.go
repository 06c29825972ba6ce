package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/queue"
)

func TestPoolConfigErrors(t *testing.T) {
	t.Parallel()
	base := "hostname = \"mx.test\"\n[[domain]]\nname = \"example.com\"\n"
	pool := "[[ip_pool]]\nname = \"auth\"\naddresses = [\"192.0.2.1\"]\n"
	for _, tc := range []struct{ name, src, key, msg string }{
		{"no addresses", "[[ip_pool]]\nname = \"a\"\n", "ip_pool[0].addresses", "at least one"},
		{"bad address", "[[ip_pool]]\nname = \"a\"\naddresses = [\"mx.example\"]\n", "ip_pool[0].addresses[0]", "IPv4 or IPv6"},
		{"duplicate", pool + pool, "ip_pool[1].name", "twice"},
		{"bad helo", pool + "helo = \"not a name\"\n", "ip_pool[0].helo", "host name"},
		{"warmup without start", pool + "warmup = [10]\n", "ip_pool[0].warmup_start", "required"},
		{"bad warmup", pool + "warmup = [0]\nwarmup_start = \"2026-12-01\"\n", "ip_pool[0].warmup[0]", "at least 1"},
		{"unknown mailbox pool", base + "[[mailbox]]\naddress = \"a@example.com\"\nip_pool = \"nope\"\n", "mailbox[0].ip_pool", "no [[ip_pool]]"},
		{"unknown lane pool", "[delivery]\nip_pool_low = \"nope\"\n", "delivery.ip_pool_low", "no [[ip_pool]]"},
		{"foreign sending domain", base + "[[domain]]\nname = \"other.com\"\n[[mailbox]]\naddress = \"a@example.com\"\nsending_domain = \"other.com\"\n", "mailbox[0].sending_domain", "subdomain"},
		{"undeclared sending domain", base + "[[mailbox]]\naddress = \"a@example.com\"\nsending_domain = \"auth.example.com\"\n", "mailbox[0].sending_domain", "[[domain]]"},
		{"bad rate", "[pacing]\nmessages_per_minute = 0\n", "pacing.messages_per_minute", "positive"},
		{"bad reserve", "[pacing]\nhigh_reserve = 1.5\n", "pacing.high_reserve", "[0, 1)"},
		{"bad destination", "[pacing]\n[[pacing.destination]]\nname = \"google.com\"\n", "pacing.destination[0].messages_per_minute", "positive"},
	} {
		_, err := parseConfig("multimail.toml", []byte(tc.src))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(ce.Msg, tc.msg) {
			t.Errorf("%s: err = %v, want key %s with %q", tc.name, err, tc.key, tc.msg)
		}
	}
}

// TestPoolFor: a mailbox's pool wins over its domain's, which wins over its lane's.
func TestPoolFor(t *testing.T) {
	t.Parallel()
	src := `hostname = "mx.test"
[delivery]
ip_pool_high = "lane"
[[ip_pool]]
name = "mbox"
addresses = ["192.0.2.1"]
[[ip_pool]]
name = "dom"
addresses = ["192.0.2.2", "2001:db8::2"]
warmup = [5, 10]
warmup_start = "2026-12-01"
[[ip_pool]]
name = "lane"
addresses = ["192.0.2.3"]
[[domain]]
name = "example.com"
ip_pool = "dom"
[[domain]]
name = "other.com"
[[mailbox]]
address = "auth@example.com"
ip_pool = "mbox"
`
	c, err := parseConfig("multimail.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	pf := c.poolFor()
	for _, tc := range []struct {
		mailbox string
		lane    queue.Lane
		want    string
	}{
		{"Auth@example.com", queue.LaneLow, "mbox"}, {"news@example.com", queue.LaneHigh, "dom"},
		{"x@other.com", queue.LaneHigh, "lane"}, {"x@other.com", queue.LaneLow, ""}, {"", queue.LaneHigh, "lane"},
	} {
		if got := pf(&queue.Lease{Mailbox: tc.mailbox, Lane: tc.lane}); got != tc.want {
			t.Errorf("pool of %s/%v = %q, want %q", tc.mailbox, tc.lane, got, tc.want)
		}
	}
	pools := c.ipPools()
	if len(pools) != 3 || pools[1].HELO != "mx.test" || len(pools[1].Addrs) != 2 ||
		!pools[1].WarmupStart.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ipPools = %+v", pools)
	}
	if p := c.pacing(); p.Off || p.PerMinute != 300 || p.MaxWait != 2*time.Second {
		t.Errorf("default pacing = %+v", p)
	}
}
