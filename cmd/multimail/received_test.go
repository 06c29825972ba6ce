package main

import (
	"testing"

	"multimail.dev/multimail/mailbox"
)

func TestReceivedSummary(t *testing.T) {
	t.Parallel()
	em := mailbox.Email{From: []string{"Sender <s@pass.example>"}, To: []string{"agent@example.com"}, Subject: "hello",
		ThreadID: "th_X", AuthResults: "mx.example.com; spf=pass smtp.mailfrom=s@pass.example; dkim=none; dmarc=pass header.from=pass.example"}
	raw := []byte("From: s@pass.example\r\nContent-Type: text/html\r\n\r\n<p>Hello <span style=\"display:none\">SECRET</span>world</p>")
	got := receivedSummary(em, raw)
	if got.Subject != "hello" || got.ThreadID != "th_X" || got.Snippet != "Hello world" || got.From[0] != em.From[0] ||
		got.Auth["spf"] != "pass" || got.Auth["dkim"] != "none" || got.Auth["dmarc"] != "pass" || got.AuthResults != em.AuthResults {
		t.Fatalf("%+v", got)
	}
}
