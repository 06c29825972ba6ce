package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

// message is the part of GET /v1/messages/{id} these tests read.
type message struct {
	Status     string `json:"status"`
	Recipients []struct {
		Address, Status string
	} `json:"recipients"`
	Events []struct {
		Event     string `json:"event"`
		Recipient string `json:"recipient"`
	} `json:"events"`
}

func getMessage(t *testing.T, n *Node, id string) message {
	t.Helper()
	code, out := n.Do("GET", "/v1/messages/"+id, APIKey, nil)
	if code != 200 {
		t.Fatalf("get %s: %d %s", id, code, out)
	}
	var m message
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// waitStatus polls a message until its status is want (bounded).
func waitStatus(t *testing.T, n *Node, id, want string) message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := getMessage(t, n, id)
		if m.Status == want {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %s, want %s: %+v", id, m.Status, want, m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestScheduledSendCancelled: a send_at send is held in the queue with a scheduled event;
// cancelled before its time it is never delivered, the cancelled webhook fires, and a
// second cancel is 409 nothing_to_cancel. A scheduled send left alone goes at its time.
func TestScheduledSendCancelled(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	at := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339Nano)
	r := send(t, n, fmt.Sprintf(`{"mailbox_id":%q,"to":"later@customer.test","subject":"s","text":"scheduled","send_at":%q}`, Sender, at))
	kept := send(t, n, fmt.Sprintf(`{"mailbox_id":%q,"to":"kept@customer.test","subject":"k","text":"scheduled, kept","send_at":%q}`, Sender, at))
	ctx := Context(t, 30*time.Second)
	if _, err := n.Hooks.WaitEvent(ctx, r.MessageID, "scheduled"); err != nil {
		t.Fatal(err)
	}
	code, out := n.Do("POST", "/v1/messages/"+r.MessageID+"/cancel", APIKey, nil)
	if code != 200 || !strings.Contains(string(out), `"cancelled":["later@customer.test"]`) {
		t.Fatalf("cancel: %d %s", code, out)
	}
	if h, err := n.Hooks.WaitEvent(ctx, r.MessageID, "cancelled"); err != nil || h.Event["recipient"] != "later@customer.test" {
		t.Fatalf("cancelled webhook: %v", err)
	}
	if code, out = n.Do("POST", "/v1/messages/"+r.MessageID+"/cancel", APIKey, nil); code != 409 || !strings.Contains(string(out), "nothing_to_cancel") {
		t.Fatalf("second cancel: %d %s", code, out)
	}
	if _, err := n.Hooks.WaitEvent(ctx, kept.MessageID, "delivered"); err != nil {
		t.Fatal(err)
	}
	for _, m := range n.MX.Messages() {
		for _, to := range m.To {
			if to == "later@customer.test" {
				t.Fatal("the cancelled send reached the MX")
			}
		}
	}
	if m := getMessage(t, n, r.MessageID); m.Status != "cancelled" {
		t.Fatalf("status %s", m.Status)
	}
}

// TestSuppressionFromBounces: a 5.1.1 at RCPT suppresses the address, so the next send to it
// is 422 suppressed naming why; a 5.7.1 policy refusal does not, and the next send to that
// address is accepted.
func TestSuppressionFromBounces(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	for _, to := range []string{"reject-gone@customer.test", "policy-strict@customer.test"} {
		r := send(t, n, fmt.Sprintf(`{"mailbox_id":%q,"to":%q,"subject":"code","text":"123456"}`, Sender, to))
		waitStatus(t, n, r.MessageID, "bounced")
	}
	code, out := n.Do("POST", "/v1/send_email", APIKey, []byte(fmt.Sprintf(`{"mailbox_id":%q,"to":["ok@customer.test","reject-gone@customer.test"],"subject":"code","text":"654321"}`, Sender)))
	if code != 422 || !strings.Contains(string(out), `"code":"suppressed"`) || !strings.Contains(string(out), `"field":"to[1]"`) ||
		!strings.Contains(string(out), "hard_bounce") || !strings.Contains(string(out), "5.1.1") {
		t.Fatalf("send to a hard-bounced address: %d %s", code, out)
	}
	send(t, n, fmt.Sprintf(`{"mailbox_id":%q,"to":"policy-strict@customer.test","subject":"code","text":"654321"}`, Sender))
	code, out = n.Do("GET", "/v1/suppressions?domain="+Domain, APIKey, nil)
	if code != 200 || !strings.Contains(string(out), "reject-gone@customer.test") || strings.Contains(string(out), "policy-strict") {
		t.Fatalf("list: %d %s", code, out)
	}
}

// TestBatchAndCcBcc: a batch of three (one refused) gives one result each; cc and bcc reach
// the MX as envelope recipients while Bcc is absent from the delivered header; from_name
// and a markdown body arrive rendered.
func TestBatchAndCcBcc(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{})
	body := fmt.Sprintf(`{"messages":[
	 {"mailbox_id":%[1]q,"to":"one@customer.test","cc":"cc@customer.test","bcc":"hidden@customer.test","from_name":"Zoë Login","subject":"b1","markdown":"**bold** <script>x</script>","idempotency_key":"b-1"},
	 {"mailbox_id":%[1]q,"to":"bad@customer.test","subject":"b2\r\nBcc: x@evil.test","text":"x"},
	 {"mailbox_id":%[1]q,"to":"two@customer.test","subject":"b3","text":"three","idempotency_key":"b-3"}]}`, Sender)
	code, out := n.Do("POST", "/v1/send_batch", APIKey, []byte(body))
	var res struct {
		Results []struct {
			Index      int    `json:"index"`
			HTTPStatus int    `json:"http_status"`
			MessageID  string `json:"message_id"`
			Error      *struct{ Code, Field string }
		} `json:"results"`
	}
	if code != 200 || json.Unmarshal(out, &res) != nil || len(res.Results) != 3 {
		t.Fatalf("batch: %d %s", code, out)
	}
	if res.Results[0].HTTPStatus != 202 || res.Results[2].HTTPStatus != 202 || res.Results[1].HTTPStatus != 400 ||
		res.Results[1].Error == nil || res.Results[1].Error.Field != "messages[1].subject" {
		t.Fatalf("results %s", out)
	}
	ctx := Context(t, 30*time.Second)
	msgs, err := n.MX.WaitUntil(ctx, func(ms []mtatest.Message) bool {
		for _, m := range ms {
			if strings.Contains(string(m.Data), "Subject: b1") {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	var data string
	for _, m := range msgs {
		if strings.Contains(string(m.Data), "Subject: b1") {
			all = append(all, m.To...)
			data = string(m.Data)
		}
	}
	for _, want := range []string{"one@customer.test", "cc@customer.test", "hidden@customer.test"} {
		if !strings.Contains(strings.Join(all, ","), want) {
			t.Errorf("%s did not reach the MX (%v)", want, all)
		}
	}
	head, _, _ := strings.Cut(data, "\r\n\r\n")
	// A Bcc header line, not "bcc" anywhere: a MIME boundary or a signature may hold "bcc".
	if strings.HasPrefix(strings.ToLower(head), "bcc:") || strings.Contains(strings.ToLower(head), "\nbcc:") ||
		strings.Contains(data, "hidden@customer.test") {
		t.Errorf("Bcc in the delivered message:\n%s", head)
	}
	if !strings.Contains(head, "Cc: <cc@customer.test>") && !strings.Contains(head, "Cc: cc@customer.test") {
		t.Errorf("no Cc header:\n%s", head)
	}
	_, html, _ := strings.Cut(data, "Content-Type: text/html")
	if !strings.Contains(head, "From: =?utf-8?") || !strings.Contains(html, "<strong>bold</strong>") || strings.Contains(html, "<script") {
		t.Errorf("from_name/markdown:\n%s", data)
	}
}
