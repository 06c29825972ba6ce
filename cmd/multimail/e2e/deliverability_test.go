package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

const newsKey = "mm_live_e2e_news_key_00000000001"

// poolsConfig gives auth@ the pool 127.0.0.2 and news@ the pool 127.0.0.3 (docs/deliverability.md).
const poolsConfig = `[[ip_pool]]
name = "auth"
addresses = ["127.0.0.2"]
helo = "auth-out.e2e.test"

[[ip_pool]]
name = "news"
addresses = ["127.0.0.3"]
helo = "news-out.e2e.test"

[[mailbox]]
address = "news@example.com"
oversight = "autonomous"
api_keys = ["` + newsKey + `"]
ip_pool = "news"
sending_domain = "news.example.com"
`

// TestIPPoolsTwoMailboxes: auth@ and news@ are configured to two pools; the test MX sees the
// two source addresses and the two HELO names, and the delivered webhook and the trail say
// which source address and pool carried each message.
func TestIPPoolsTwoMailboxes(t *testing.T) {
	t.Parallel()
	// news@ also signs and bounces as its sending subdomain news.example.com.
	newsDomain := fmt.Sprintf("[[domain]]\nname = \"news.example.com\"\ndkim_selector = \"mm1\"\ndkim_key = %q\n\n", testKeyPath(t))
	n := Start(t, Options{Config: newsDomain + poolsConfig, SenderExtra: "ip_pool = \"auth\"\n"})
	ctx := Context(t, 60*time.Second)
	want := map[string][4]string{ // mailbox -> source, HELO, pool, DKIM d= and bounce domain
		"auth@example.com": {"127.0.0.2", "auth-out.e2e.test", "auth", "example.com"},
		"news@example.com": {"127.0.0.3", "news-out.e2e.test", "news", "news.example.com"},
	}
	ids := map[string]string{}
	for i := range 4 {
		from, key := "auth@example.com", APIKey
		if i%2 == 1 {
			from, key = "news@example.com", newsKey
		}
		body := fmt.Sprintf(`{"mailbox_id":%q,"to":"user%d@customer.test","subject":"s","text":"x"}`, from, i)
		code, out := n.Do("POST", "/v1/send_email", key, []byte(body))
		if code != 202 {
			t.Fatalf("send as %s = %d %s", from, code, out)
		}
		var r sendResp
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		ids[r.MessageID] = from
	}
	msgs, err := n.MX.WaitFor(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	conns := map[uint64]string{}
	for _, m := range msgs {
		w := want[m.From]
		if w[0] == "" { // the envelope sender is a VERP bounce address: find the mailbox by header
			for mb, ww := range want {
				if bytes.Contains(m.Data, []byte("From: "+mb)) || bytes.Contains(m.Data, []byte("<"+mb+">")) {
					w = ww
				}
			}
		}
		if m.RemoteIP != w[0] || m.Helo != w[1] {
			t.Errorf("message from %s arrived from %s with EHLO %s, want %s and %s", m.From, m.RemoteIP, m.Helo, w[0], w[1])
		}
		if !strings.HasSuffix(m.From, "@"+w[3]) || !bytes.Contains(m.Data, []byte("d="+w[3]+";")) {
			t.Errorf("message from %s: return path %s, want one at %s signed d=%s", m.RemoteIP, m.From, w[3], w[3])
		}
		if prev, ok := conns[m.Conn]; ok && prev != m.RemoteIP {
			t.Errorf("connection %d carried mail of %s and %s", m.Conn, prev, m.RemoteIP)
		}
		conns[m.Conn] = m.RemoteIP
	}
	for id, from := range ids {
		h, err := n.Hooks.WaitEvent(ctx, id, "delivered")
		if err != nil {
			t.Fatal(err)
		}
		w := want[from]
		if h.Event["source_ip"] != w[0] || h.Event["ip_pool"] != w[2] {
			t.Errorf("delivered webhook of %s's message: %s", from, h.Body)
		}
		code, out := n.Do("GET", "/v1/messages/"+id, APIKey, nil)
		if from == "news@example.com" {
			code, out = n.Do("GET", "/v1/messages/"+id, newsKey, nil)
		}
		if code != 200 || !strings.Contains(string(out), `"source_ip":"`+w[0]+`"`) {
			t.Errorf("trail of %s's message = %d %s", from, code, out)
		}
	}
}

// TestPacingThrottlingE2E: the test MX answers 421 4.7.28 past 4 messages in 300 ms; the
// node pauses and slows that destination (its metrics count the throttling replies and the
// leases handed back without an attempt) and every message is delivered. Counts only.
func TestPacingThrottlingE2E(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{
		MX: mtatest.MXOptions{Throttle: &mtatest.Throttle{Max: 4, Per: 300 * time.Millisecond}},
		Config: fastRetry + `
[pacing]
messages_per_minute = 1200
burst = 6
max_wait = "50ms"
throttle_backoff = "200ms"
max_throttle_backoff = "800ms"
`})
	ctx := Context(t, 120*time.Second)
	const total = 24
	for i := range total {
		prio := "low"
		if i%6 == 0 {
			prio = "high"
		}
		send(t, n, fmt.Sprintf(`{"mailbox_id":"auth@example.com","to":"r%d@dest%d.test","subject":"s","text":"x","priority":%q}`, i, i%3, prio))
	}
	if _, err := n.MX.WaitFor(ctx, total); err != nil {
		t.Fatalf("%v: %d of %d delivered", err, n.MX.Count(), total)
	}
	if n.MX.Throttled() == 0 {
		t.Fatal("the MX never throttled: the test proves nothing")
	}
	m := scrapeMetrics(t, n)
	if m["multimail_mta_throttled_total"] == 0 || m["multimail_mta_paced_postponed_total"] == 0 {
		t.Errorf("the node did not slow down: throttled %v, postponed %v",
			m["multimail_mta_throttled_total"], m["multimail_mta_paced_postponed_total"])
	}
	t.Logf("%d messages, %d throttling replies, pacer: %v throttled, %v postponed", total, n.MX.Throttled(),
		m["multimail_mta_throttled_total"], m["multimail_mta_paced_postponed_total"])
}

// scrapeMetrics reads the unlabelled samples of GET /metrics.
func scrapeMetrics(t *testing.T, n *Node) map[string]float64 {
	t.Helper()
	code, out := n.Do("GET", "/metrics", "", nil)
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			m[name] = v
		}
	}
	return m
}

// TestPacingStateRestart: a destination paused by a throttling reply stays paused across a
// restart of the binary (data_dir/pacing.json): after the restart no message reaches the MX,
// the pacer postpones them instead.
func TestPacingStateRestart(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{
		MX: mtatest.MXOptions{Throttle: &mtatest.Throttle{Max: 1, Per: time.Hour}},
		Config: fastRetry + `
[pacing]
throttle_backoff = "1h"
max_throttle_backoff = "2h"
`})
	ctx := Context(t, 60*time.Second)
	first := send(t, n, `{"mailbox_id":"auth@example.com","to":"a@dest.test","subject":"s","text":"x"}`)
	if _, err := n.Hooks.WaitEvent(ctx, first.MessageID, "delivered"); err != nil {
		t.Fatal(err)
	}
	second := send(t, n, `{"mailbox_id":"auth@example.com","to":"b@dest.test","subject":"s","text":"x"}`)
	if _, err := n.Hooks.WaitEvent(ctx, second.MessageID, "deferred"); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(n.DataDir(), "pacing.json")
	for deadline := time.Now().Add(30 * time.Second); ; {
		if b, _ := os.ReadFile(state); bytes.Contains(b, []byte(`"paused_until"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pacing.json never recorded the pause")
		}
		time.Sleep(50 * time.Millisecond) // polling the file, bounded by the deadline
	}
	n.Stop()
	throttled := n.MX.Throttled()
	n.Restart()

	send(t, n, `{"mailbox_id":"auth@example.com","to":"c@dest.test","subject":"s","text":"x","priority":"high"}`)
	for deadline := time.Now().Add(30 * time.Second); scrapeMetrics(t, n)["multimail_mta_paced_postponed_total"] < 1; {
		if time.Now().After(deadline) {
			t.Fatal("nothing postponed after the restart")
		}
		time.Sleep(50 * time.Millisecond) // polling the metric, bounded by the deadline
	}
	if n.MX.Count() != 1 || n.MX.Throttled() != throttled {
		t.Fatalf("after the restart the MX saw %d messages and %d throttling replies (before: 1, %d): the pause was forgotten",
			n.MX.Count(), n.MX.Throttled(), throttled)
	}
}
