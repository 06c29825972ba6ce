package inbound

import (
	"context"
	"testing"

	"multimail.dev/multimail/queue"
)

// TestReceivedEventSummary: the "received" event carries the email in brief, so a webhook
// receiver can act without a second call.
func TestReceivedEventSummary(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	em, _ := e.mustStore(t, "sender@pass.example", "agent@example.com", plainMessage("sender@pass.example", "hello there", "Hi.  Your code is 1234."))
	evs, err := e.queue.Events(context.Background(), em.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got *queue.ReceivedInfo
	for _, ev := range evs {
		if ev.Type == queue.EventReceived {
			got = ev.Received
		}
	}
	if got == nil {
		t.Fatalf("no received summary in %+v", evs)
	}
	if got.Subject != "hello there" || len(got.From) != 1 || got.From[0] != "Sender <sender@pass.example>" ||
		len(got.To) == 0 || got.ThreadID != em.ThreadID || got.ThreadID == "" || got.Snippet != "Hi. Your code is 1234." ||
		got.Auth["spf"] != "pass" || got.Auth["dmarc"] != "pass" || got.Auth["dkim"] != "none" || got.AuthResults != em.AuthResults {
		t.Fatalf("received = %+v", got)
	}
}

func TestBodyPartsHTMLSnippet(t *testing.T) {
	t.Parallel()
	msg := []byte("From: a@b\r\nContent-Type: text/html\r\n\r\n<p>Hello <span style=\"display:none\">SECRET</span>world</p>")
	text, html := bodyParts(msg)
	if text != "" || html == "" {
		t.Fatalf("%q %q", text, html)
	}
}
