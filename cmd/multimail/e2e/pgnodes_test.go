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
func startPgCluster(t *testing.T, n int, leaseTTL string, mx mtatest.MXOptions) *pgCluster {
	t.Helper()
	c := &pgCluster{dsn: pgtest.DSN(t), mx: mtatest.NewMX(t, mx), hooks: NewWebhookReceiver(t, WebhookOptions{})}
	t.Cleanup(func() { c.hooks.CheckTrails(t) })
	cfg := fmt.Sprintf("[store]\nbackend = \"postgres\"\ndsn = %q\nlease_ttl = %q\n\n", c.dsn, leaseTTL) +
		fmt.Sprintf("[[transport]]\ndomain = \"*\"\nnext_hop = %q\ntls = \"none\"\n\n", c.mx.Addr()) +
		fmt.Sprintf("[[webhook]]\nurl = %q\nsecret = %q\n\n", c.hooks.URL(), WebhookToken)
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
	c := startPgCluster(t, 3, "3s", mtatest.MXOptions{Delay: 300 * time.Millisecond})
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
