package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/internal/pgtest"
	"multimail.dev/multimail/mta/mtatest"
)

// pgCluster is N nodes on one PostgreSQL database with one recipient MX and one webhook
// receiver between them, as N nodes behind one MX record and one API address would be.
type pgCluster struct {
	dsn   string
	mx    *mtatest.MX
	hooks *WebhookReceiver
	nodes []*Node
}

// startPgCluster starts n nodes with [store] backend = "postgres" on a fresh database; every
// node routes all mail to one MX and posts to one webhook endpoint (so the outbox's subscriber
// is the same on every node, and each event is posted once across the nodes).
func startPgCluster(t testing.TB, n int, leaseTTL string, mx mtatest.MXOptions, extra string) *pgCluster {
	t.Helper()
	c := &pgCluster{dsn: pgtest.DSN(t), mx: mtatest.NewMX(t, mx), hooks: NewWebhookReceiver(t, WebhookOptions{})}
	t.Cleanup(func() { c.hooks.CheckTrails(t) })
	cfg := fmt.Sprintf("[store]\nbackend = \"postgres\"\ndsn = %q\nlease_ttl = %q\n\n", c.dsn, leaseTTL) +
		fmt.Sprintf("[[transport]]\ndomain = \"*\"\nnext_hop = %q\ntls = \"none\"\n\n", c.mx.Addr()) +
		fmt.Sprintf("[[webhook]]\nurl = %q\nsecret = %q\n\n", c.hooks.URL(), WebhookToken) + extra
	for i := 0; i < n; i++ {
		c.nodes = append(c.nodes, Start(t, Options{Config: cfg, NoTransport: true, NoWebhook: true}))
	}
	return c
}

var msgIDRe = regexp.MustCompile(`msg_[0-9A-Za-z]+`)

// submitOnce sends one message through n's submission port and returns the id from its 250
// reply, or an error (the node may be dead): nothing here fails the test.
func submitOnce(n *Node, to, subject string) (string, error) {
	c, err := smtp.DialStartTLS(Addr(n.Ports.Submission), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the node's self-signed certificate
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", Sender, Password)); err != nil {
		return "", err
	}
	if err := c.Mail(Sender, nil); err != nil {
		return "", err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return "", err
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(w, "From: "+Sender+"\r\nTo: "+to+"\r\nSubject: "+subject+"\r\n\r\nhello\r\n"); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	id := msgIDRe.FindString(resp.StatusText)
	if id == "" {
		return "", fmt.Errorf("no message id in %q", resp.StatusText)
	}
	_ = c.Quit()
	return id, nil
}

// inboundOnce hands one message for the local mailbox Sender to n's port 25.
func inboundOnce(n *Node, subject string) error {
	c, err := smtp.Dial(Addr(n.Ports.SMTP))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.sender.test"); err != nil {
		return err
	}
	if err := c.Mail("someone@sender.test", nil); err != nil {
		return err
	}
	if err := c.Rcpt(Sender, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "From: someone@sender.test\r\nTo: %s\r\nSubject: %s\r\n\r\nin\r\n", Sender, subject)
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// sendOnce posts one send_email to n and returns its id, or an error.
func sendOnce(n *Node, to, subject string) (string, error) {
	body := fmt.Sprintf(`{"mailbox_id":%q,"to":%q,"subject":%q,"text":"x"}`, Sender, to, subject)
	code, out, err := n.try("POST", "/v1/send_email", APIKey, []byte(body))
	if err != nil {
		return "", err
	}
	if code != 202 {
		return "", fmt.Errorf("send_email = %d %s", code, out)
	}
	var r sendResp
	if err := json.Unmarshal(out, &r); err != nil {
		return "", err
	}
	return r.MessageID, nil
}

// TestPostgresThreeNodesKill: three nodes on one database take API sends, SMTP submissions
// and inbound mail spread over all three; one is killed with SIGKILL in the middle. Every
// acknowledged send reaches the MX (duplicates counted: only a message the dead node was
// delivering when it died may arrive twice), each gets one delivered webhook, and an IMAP
// client of a surviving node sees every acknowledged inbound message. The log gives the
// failover time: from the kill to the last of the units leased at the kill being delivered.
func TestPostgresThreeNodesKill(t *testing.T) {
	t.Parallel()
	c := startPgCluster(t, 3, "3s", mtatest.MXOptions{Delay: 300 * time.Millisecond}, "")
	victim := c.nodes[2]

	var (
		mu      sync.Mutex
		acked   = map[string]int{} // message id → node index that acknowledged it
		inbound = map[string]bool{}
		refused int // attempts a node did not acknowledge (the dead one, mostly)
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ni := (w + i) % 3
				n := c.nodes[ni]
				to := fmt.Sprintf("r%d-%d@c%d.test", w, i, i%4)
				subject := fmt.Sprintf("pg3-%d-%d", w, i)
				var id string
				var err error
				switch w % 3 {
				case 0:
					id, err = sendOnce(n, to, subject)
				case 1:
					id, err = submitOnce(n, to, subject)
				default:
					err = inboundOnce(n, subject)
				}
				mu.Lock()
				switch {
				case err != nil:
					refused++
				case id != "":
					acked[id] = ni
				default:
					inbound[subject] = true
				}
				mu.Unlock()
			}
		}(w)
	}
	counts := func() (int, int) { mu.Lock(); defer mu.Unlock(); return len(acked), len(inbound) }
	waitUntil(t, 60*time.Second, func() bool { a, _ := counts(); return a >= 60 })

	// Kill one node mid-load, and note which units were leased at that moment.
	victim.Kill()
	killed := time.Now()
	leased := leasedUnits(t, c.dsn)
	ackedAtKill, _ := counts()
	// A survivor finishes an attempt in about the MX's 300 ms; a lease still held under the
	// same id 1.5 s after the kill is the dead node's, waiting to expire.
	time.Sleep(1500 * time.Millisecond)
	orphaned := map[string]bool{}
	for id, lease := range leasedUnits(t, c.dsn) {
		if leased[id] == lease {
			orphaned[id] = true
		}
	}
	waitUntil(t, 60*time.Second, func() bool { a, _ := counts(); return a >= ackedAtKill+60 })
	close(stop)
	wg.Wait()

	mu.Lock()
	want := len(acked)
	byNode := [3]int{}
	for _, ni := range acked {
		byNode[ni]++
	}
	mu.Unlock()
	ctx := Context(t, 3*time.Minute)
	if _, err := c.mx.WaitUntil(ctx, func(ms []mtatest.Message) bool {
		return len(deliveredIDs(ms, toSet(acked))) >= want
	}); err != nil {
		got := deliveredIDs(c.mx.Messages(), toSet(acked))
		t.Fatalf("%d of %d acknowledged sends delivered after one of three nodes was killed: %v", len(got), want, err)
	}
	perID := map[string]int{}
	lastAt := map[string]time.Time{}
	for _, m := range c.mx.Messages() {
		id := bounceID(m.From)
		if _, ok := acked[id]; ok {
			perID[id]++
			if m.Received.After(lastAt[id]) {
				lastAt[id] = m.Received
			}
		}
	}
	var dups []string
	for id, k := range perID {
		if k > 1 {
			dups = append(dups, fmt.Sprintf("%s×%d", id, k))
			if _, ok := orphaned[id]; !ok {
				t.Errorf("%s delivered %d times but was not leased when the node died", id, k)
			}
		}
	}
	sort.Strings(dups)

	// Failover: from the kill to the dead node's units being delivered by another node.
	var failover []time.Duration
	for id := range orphaned {
		failover = append(failover, lastAt[id].Sub(killed).Round(time.Millisecond))
	}
	sort.Slice(failover, func(i, j int) bool { return failover[i] < failover[j] })
	t.Logf("acknowledged %d sends (node 0: %d, node 1: %d, killed node 2: %d) and %d inbound; %d attempts refused; %d units leased at the kill, %d of them the dead node's; duplicates at the MX: %d %v; failover (kill → each of the dead node's units delivered by another node, lease_ttl 3s): %v",
		want, byNode[0], byNode[1], byNode[2], len(inbound), refused, len(leased), len(orphaned), len(dups), dups, failover)

	// One delivered webhook per acknowledged send, posted by whichever node delivered it.
	deadline := time.Now().Add(3 * time.Minute)
	for len(deliveredHooks(c.hooks.Hooks(), acked)) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered webhooks", len(deliveredHooks(c.hooks.Hooks(), acked)), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for id, ids := range deliveredHooks(c.hooks.Hooks(), acked) {
		if len(ids) != 1 {
			t.Errorf("%s: delivered webhooks with %d different ids %v, want one id (retries keep it)", id, len(ids), ids)
		}
	}

	// An IMAP client of a surviving node sees every acknowledged inbound message.
	ic, err := imapclient.DialTLS(Addr(c.nodes[0].Ports.IMAPS), &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login(Sender, Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := ic.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.Envelope != nil {
			seen[m.Envelope.Subject] = true
		}
	}
	for s := range inbound {
		if !seen[s] {
			t.Errorf("inbound %q was acknowledged but node 0's INBOX does not have it", s)
		}
	}
}

func toSet(m map[string]int) map[string]bool {
	s := make(map[string]bool, len(m))
	for k := range m {
		s[k] = true
	}
	return s
}

// deliveredHooks returns, per acknowledged message, its delivered webhooks' distinct ids.
func deliveredHooks(hs []Hook, acked map[string]int) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, h := range hs {
		if _, ok := acked[h.MessageID()]; ok && h.Type() == "delivered" {
			if out[h.MessageID()] == nil {
				out[h.MessageID()] = map[string]bool{}
			}
			out[h.MessageID()][h.ID] = true
		}
	}
	return out
}

// leasedUnits returns the messages with a live lease right now and their lease ids, read from
// the queue's tables.
func leasedUnits(t *testing.T, dsn string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT msg_id || ' ' || lease_id FROM mq_unit WHERE lease_id IS NOT NULL AND lease_expires > now()")
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pairs {
		id, lease, _ := strings.Cut(p, " ")
		out[id] = lease
	}
	return out
}

// BenchmarkNodes measures throughput end to end for one Pebble node, one PostgreSQL node and
// three PostgreSQL nodes on one database, through the API (send_email) and SMTP submission
// (STARTTLS, AUTH, 16 sessions each reused), the load spread over the nodes: accepted/s is
// acknowledgements (202 or 250), delivered/s is b.N over the time until the MX has them all.
// Every node and PostgreSQL share this machine: on 2 cores three nodes measure contention,
// not scaling. Run with a fixed count, e.g. -bench Nodes -benchtime 1000x.
func BenchmarkNodes(b *testing.B) {
	for _, tc := range []struct {
		name  string
		pg    bool
		nodes int
	}{{"pebble-1", false, 1}, {"pg-1", true, 1}, {"pg-3", true, 3}} {
		for _, via := range []string{"api", "smtp"} {
			b.Run(tc.name+"/"+via, func(b *testing.B) {
				mxo := mtatest.MXOptions{DiscardData: true}
				var nodes []*Node
				var mx *mtatest.MX
				// No pacing (it is per node and would cap delivery at 5/s per node) and no API
				// rate limit (per node too): this measures the store, not the limits.
				extra := "[pacing]\nenabled = false\n\n[api]\nrate_limit = -1\n\n"
				if tc.pg {
					c := startPgCluster(b, tc.nodes, "30s", mxo, extra)
					nodes, mx = c.nodes, c.mx
				} else {
					n := Start(b, Options{MX: mxo, Config: extra})
					nodes, mx = []*Node{n}, n.MX
				}
				var next atomic.Int64
				take := func() (int, bool) { i := next.Add(1) - 1; return int(i), i < int64(b.N) }
				var errs atomic.Int64
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for w := 0; w < 16; w++ {
					wg.Add(1)
					go func(n *Node) {
						defer wg.Done()
						if via == "api" {
							for i, ok := take(); ok; i, ok = take() {
								if _, err := sendOnce(n, fmt.Sprintf("b%d@c%d.test", i, i%8), "bench"); err != nil {
									errs.Add(1)
								}
							}
							return
						}
						errs.Add(int64(submitSession(n, take)))
					}(nodes[w%len(nodes)])
				}
				wg.Wait()
				accepted := time.Since(start)
				ctx := Context(b, 5*time.Minute)
				if _, err := mx.WaitFor(ctx, b.N-int(errs.Load())); err != nil {
					b.Fatalf("MX has %d of %d: %v", mx.Count(), b.N-int(errs.Load()), err)
				}
				delivered := time.Since(start)
				b.StopTimer()
				if errs.Load() > 0 {
					b.Errorf("%d sends refused", errs.Load())
				}
				b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
				b.ReportMetric(float64(b.N)/delivered.Seconds(), "delivered/s")
			})
		}
	}
}

// submitSession sends messages over one submission session while take hands out numbers,
// and returns how many were not accepted.
func submitSession(n *Node, take func() (int, bool)) int {
	failed := 0
	c, err := smtp.DialStartTLS(Addr(n.Ports.Submission), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the node's self-signed certificate
	if err == nil {
		defer c.Close()
		err = c.Auth(sasl.NewPlainClient("", Sender, Password))
	}
	for i, ok := take(); ok; i, ok = take() {
		if err != nil {
			failed++
			continue
		}
		to := fmt.Sprintf("b%d@c%d.test", i, i%8)
		msg := "From: " + Sender + "\r\nTo: " + to + "\r\nSubject: bench\r\n\r\nhello\r\n"
		if err = c.SendMail(Sender, []string{to}, strings.NewReader(msg)); err != nil {
			failed++
		}
	}
	return failed
}

// TestPostgresApprovalAcrossNodes: a send held on node A is listed on node B, two operators
// decide it at once on A and B, one wins (the other is told it is decided), and the message
// goes out once, delivered by whichever node leases it.
func TestPostgresApprovalAcrossNodes(t *testing.T) {
	t.Parallel()
	c := startPgCluster(t, 2, "30s", mtatest.MXOptions{}, `[[mailbox]]
address = "gated@example.com"
oversight = "gated_send"
api_keys = ["mm_live_e2e_gated_key_00000000001"]
`)
	a, b := c.nodes[0], c.nodes[1]
	const key = "mm_live_e2e_gated_key_00000000001"
	code, out := a.Do("POST", "/v1/send_email", key, []byte(`{"mailbox_id":"gated@example.com","to":"user@customer.test","subject":"held on A","text":"x"}`))
	var held sendResp
	if code != 202 || json.Unmarshal(out, &held) != nil || held.Status != "pending_approval" {
		t.Fatalf("send on A = %d %s", code, out)
	}
	code, out = b.Do("GET", "/v1/approvals", key, nil)
	id := regexp.MustCompile(`apr_[0-9A-Z]+`).FindString(string(out))
	if code != 200 || id == "" || !strings.Contains(string(out), held.MessageID) {
		t.Fatalf("approvals on B = %d %s", code, out)
	}
	opA := operatorKey(t, a, "gated@example.com", "approve")
	opB := operatorKey(t, b, "gated@example.com", "approve")
	type answer struct {
		code int
		body string
	}
	answers := make(chan answer, 2)
	for _, d := range []struct {
		n        *Node
		key, act string
	}{{a, opA, "approve"}, {b, opB, "reject"}} {
		go func() {
			code, out := d.n.Do("POST", "/v1/approvals/"+id+"/"+d.act, d.key, []byte(`{"reason":"race"}`))
			answers <- answer{code, string(out)}
		}()
	}
	r1, r2 := <-answers, <-answers
	if (r1.code == 200) == (r2.code == 200) || r1.code != 200 && r1.code != 409 || r2.code != 200 && r2.code != 409 {
		t.Fatalf("two decisions on two nodes: %d %s / %d %s; want one 200 and one 409", r1.code, r1.body, r2.code, r2.body)
	}
	won := r1.body
	if r2.code == 200 {
		won = r2.body
	}
	ctx := Context(t, 60*time.Second)
	if strings.Contains(won, `"approved"`) {
		if _, err := c.hooks.WaitEvent(ctx, held.MessageID, "delivered"); err != nil {
			t.Fatal(err)
		}
		if n := c.mx.Count(); n != 1 {
			t.Fatalf("MX got %d messages, want the approved one once", n)
		}
	} else {
		if _, err := c.hooks.WaitEvent(ctx, held.MessageID, "rejected"); err != nil {
			t.Fatal(err)
		}
		if n := c.mx.Count(); n != 0 {
			t.Fatalf("MX got %d messages after the rejection won", n)
		}
	}
	t.Logf("winner: %s", won)
}
