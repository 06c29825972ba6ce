package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mta/mtatest"
)

// sendResp is the 202 body of send_email.
type sendResp struct {
	MessageID string `json:"message_id"`
	Status    string `json:"status"`
	QueuedAt  string `json:"queued_at"`
}

// send posts a send_email body and fails the test unless it is accepted with 202.
func send(t *testing.T, n *Node, body string) sendResp {
	t.Helper()
	code, out := n.Do("POST", "/v1/send_email", APIKey, []byte(body))
	if code != 202 {
		t.Fatalf("send_email = %d %s", code, out)
	}
	var r sendResp
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.MessageID, "msg_") || r.QueuedAt == "" {
		t.Fatalf("send_email answer %s", out)
	}
	return r
}

// TestSeedOTPDelivered sends the seed's OTP example (host and addresses changed) over the
// HTTP API and follows it to the recipient MX, the signed webhook and the event trail.
func TestSeedOTPDelivered(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	r := send(t, n, `{
    "mailbox_id": "auth@example.com",
    "to": "user@customer.test",
    "subject": "Your one-time sign-in code",
    "html": "<p>Your sign-in code is <strong style=\"font-size:28px;letter-spacing:6px;\">847291</strong></p><p>This code expires in 10 minutes and can only be used once.</p>",
    "text": "Your sign-in code is 847291. Expires in 10 minutes. Do not share this code.",
    "priority": "high",
    "tags": ["auth", "otp"]
  }`)
	if r.Status != "queued" {
		t.Fatalf("status %q, want queued", r.Status)
	}
	ctx := Context(t, 30*time.Second)
	msgs, err := n.MX.WaitFor(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if len(m.To) != 1 || m.To[0] != "user@customer.test" || !strings.HasPrefix(m.From, "bounce+") {
		t.Errorf("envelope from %q to %v", m.From, m.To)
	}
	data := string(m.Data)
	for _, want := range []string{"DKIM-Signature:", "d=example.com", "847291", "Subject: Your one-time sign-in code", "multipart/alternative"} {
		if !strings.Contains(data, want) {
			t.Errorf("delivered message lacks %q", want)
		}
	}
	h, err := n.Hooks.WaitEvent(ctx, r.MessageID, "delivered")
	if err != nil {
		t.Fatal(err)
	}
	if h.Event["recipient"] != "user@customer.test" || h.Event["delivered_at"] == nil || h.Event["smtp_code"] != float64(250) {
		t.Errorf("delivered event %s", h.Body)
	}
	code, body := n.Do("GET", "/v1/messages/"+r.MessageID, APIKey, nil)
	if code != 200 {
		t.Fatalf("get message = %d %s", code, body)
	}
	var st struct {
		Status     string `json:"status"`
		Recipients []struct{ Address, Status string }
		Events     []struct{ Event string }
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Recipients) != 1 || st.Recipients[0].Status != "delivered" {
		t.Errorf("recipients %s", body)
	}
	if len(st.Events) < 2 || st.Events[0].Event != "queued" || st.Events[len(st.Events)-1].Event != "delivered" {
		t.Errorf("event trail %s", body)
	}
}

// TestSubmissionSTARTTLSAndImplicitTLS sends through both submission ports with the go-smtp
// client and AUTH PLAIN, with the password and with an API key.
func TestSubmissionSTARTTLSAndImplicitTLS(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	tc := &tls.Config{InsecureSkipVerify: true}
	msg := func(subj string) string {
		return fmt.Sprintf("From: <%s>\r\nTo: <rcpt@customer.test>\r\nSubject: %s\r\n\r\nhello\r\n", Sender, subj)
	}
	c, err := smtp.DialStartTLS(Addr(n.Ports.Submission), tc)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", Sender, Password)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(Sender, []string{"rcpt@customer.test"}, strings.NewReader(msg("starttls"))); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	c, err = smtp.DialTLS(Addr(n.Ports.Submissions), tc)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", Sender, APIKey)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(Sender, []string{"rcpt@customer.test"}, strings.NewReader(msg("implicit"))); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	msgs, err := n.MX.WaitFor(Context(t, 30*time.Second), 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if !strings.Contains(string(m.Data), "DKIM-Signature:") {
			t.Errorf("message not signed:\n%s", m.Data)
		}
	}
}

// TestKillNineLosesNothing acknowledges sends, kills the process with SIGKILL while more are
// in flight, restarts it on the same data directory, and checks every acknowledged message
// reaches the MX. The MX answers slowly, so most are still queued at the kill.
func TestKillNineLosesNothing(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{MX: mtatest.MXOptions{Delay: 20 * time.Millisecond}})
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"mailbox_id":%q,"to":"k%d@customer.test","subject":"kill","text":"x"}`, Sender, i)
				code, out, err := n.try("POST", "/v1/send_email", APIKey, []byte(body))
				if err != nil || code != 202 {
					return // the process is gone
				}
				var r sendResp
				if json.Unmarshal(out, &r) == nil {
					mu.Lock()
					acked[r.MessageID] = true
					mu.Unlock()
				}
			}
		}()
	}
	waitUntil(t, 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 100 })
	n.Kill()
	close(stop)
	wg.Wait()
	n.Restart()
	mu.Lock()
	want := len(acked)
	mu.Unlock()
	ctx := Context(t, 120*time.Second)
	_, err := n.MX.WaitUntil(ctx, func(ms []mtatest.Message) bool {
		return len(deliveredIDs(ms, acked)) >= want
	})
	if err != nil {
		got := deliveredIDs(n.MX.Messages(), acked)
		t.Fatalf("%d of %d acknowledged messages delivered after kill -9: %v", len(got), want, err)
	}
}

// deliveredIDs returns the acknowledged ids found in delivered messages' return paths.
func deliveredIDs(ms []mtatest.Message, acked map[string]bool) map[string]bool {
	got := map[string]bool{}
	for _, m := range ms {
		id := bounceID(m.From)
		if acked[id] {
			got[id] = true
		}
	}
	return got
}

func waitUntil(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met in %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLocalDeliveryAndBounceDSN sends from one local mailbox to another (it never leaves the
// node: the MX sees nothing), then to a recipient the MX refuses, and finds the DSN in the
// sender's INBOX and the bounced webhook.
func TestLocalDeliveryAndBounceDSN(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{Config: "[[mailbox]]\naddress = \"inbox@example.com\"\noversight = \"autonomous\"\n"})
	r := send(t, n, `{"mailbox_id":"auth@example.com","to":"inbox@example.com","subject":"local","text":"hi"}`)
	ctx := Context(t, 30*time.Second)
	if _, err := n.Hooks.WaitEvent(ctx, r.MessageID, "delivered"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Hooks.WaitFor(ctx, func(h Hook) bool { return h.Type() == "received" && h.Event["mailbox_id"] == "inbox@example.com" }); err != nil {
		t.Fatal(err)
	}
	if n.MX.Count() != 0 {
		t.Errorf("local mail went to the MX")
	}
	r = send(t, n, `{"mailbox_id":"auth@example.com","to":"reject-me@customer.test","subject":"will bounce","text":"hi"}`)
	h, err := n.Hooks.WaitEvent(ctx, r.MessageID, "bounced")
	if err != nil {
		t.Fatal(err)
	}
	if h.Event["smtp_code"] != float64(550) || h.Event["enhanced_code"] != "5.1.1" {
		t.Errorf("bounced event %s", h.Body)
	}
	if _, err := n.Hooks.WaitFor(ctx, func(h Hook) bool { return h.Type() == "received" && h.Event["mailbox_id"] == Sender }); err != nil {
		t.Fatalf("no DSN in the sender's INBOX: %v", err)
	}
	code, body := n.Do("GET", "/v1/mailboxes/"+Sender+"/emails?folder=INBOX", APIKey, nil)
	if code != 200 || !strings.Contains(string(body), "Undelivered") && !strings.Contains(string(body), "Delivery Status") {
		t.Errorf("sender INBOX = %d %s", code, body)
	}
}

// TestSubmissionControlFields: an SMTP client picks the high lane and tags with
// X-Multimail-Priority / X-Multimail-Tags, which are removed before the message is sent.
func TestSubmissionControlFields(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	c, err := smtp.DialStartTLS(Addr(n.Ports.Submission), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", Sender, Password)); err != nil {
		t.Fatal(err)
	}
	msg := "From: <" + Sender + ">\r\nTo: <code@customer.test>\r\nSubject: code\r\nX-Multimail-Priority: high\r\nX-Multimail-Tags: auth, otp\r\n\r\n123456\r\n"
	if err := c.SendMail(Sender, []string{"code@customer.test"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	ms, err := n.MX.WaitFor(Context(t, 30*time.Second), 1)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(string(ms[0].Data)), "x-multimail-") {
		t.Errorf("control fields were sent:\n%s", ms[0].Data)
	}
	id := bounceID(ms[0].From)
	code, body := n.Do("GET", "/v1/messages/"+id, APIKey, nil)
	if code != 200 || !strings.Contains(string(body), `"priority":"high"`) || !strings.Contains(string(body), `"otp"`) {
		t.Errorf("message %s = %d %s", id, code, body)
	}
	bad := "From: <" + Sender + ">\r\nX-Multimail-Priority: urgent\r\n\r\nx\r\n"
	if err := c.SendMail(Sender, []string{"code@customer.test"}, strings.NewReader(bad)); err == nil {
		t.Error("an unknown priority was accepted")
	}
}

// bounceID is the message id in a VERP return path bounce+<msg_id>.<tag>@<domain>.
func bounceID(from string) string {
	local, _, _ := strings.Cut(from, "@")
	id, _, _ := strings.Cut(strings.TrimPrefix(local, "bounce+"), ".")
	return id
}
