package main

import (
	"context"
	"testing"

	"multimail.dev/multimail/mailbox"
)

func TestConsoleBaseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		listen, https, host string
		names               []string
		want                string
	}{
		{"127.0.0.1:8025", "", "localhost", nil, "http://127.0.0.1:8025"},
		{"0.0.0.0:80", "", "mx.example.com", nil, "http://mx.example.com:80"},
		{":8025", "", "mx.example.com", nil, "http://mx.example.com:8025"},
		{"[::1]:8025", "", "x", nil, "http://[::1]:8025"},
		{"", "", "x", nil, ""},
		{"127.0.0.1:8025", "0.0.0.0:443", "mx.example.com", nil, "https://mx.example.com"},
		{"", ":8443", "mx.example.com", []string{"mail.example.com"}, "https://mail.example.com:8443"},
	} {
		c := &Config{Hostname: tc.host, Listen: ListenConfig{HTTP: tc.listen, HTTPS: tc.https}, TLS: TLSConfig{ACMENames: tc.names}}
		if got := consoleBaseURL(c); got != tc.want {
			t.Errorf("consoleBaseURL(%q, %q, %q, %v) = %q, want %q", tc.listen, tc.https, tc.host, tc.names, got, tc.want)
		}
	}
}

// TestOversightLeaks: an oversight address the agent can read (its own mailbox, or a local
// mailbox one of its sending keys reads) is found; an outside or unreadable one is not.
func TestOversightLeaks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := mailbox.NewMemory()
	if err := st.AddDomain(ctx, mailbox.Domain{Name: "example.com"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []mailbox.Mailbox{
		{Address: "self@example.com", OversightAddress: "self@example.com"},
		{Address: "agent@example.com", OversightAddress: "boss@example.com"},
		{Address: "safe@example.com", OversightAddress: "boss@example.com"},
		{Address: "outside@example.com", OversightAddress: "boss@elsewhere.test"},
		{Address: "boss@example.com"},
	} {
		m.Oversight = mailbox.GatedSend
		if err := st.AddMailbox(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []mailbox.APIKey{
		{ID: "k_agent", Hash: mailbox.HashAPIKey("k1"), Mailboxes: []string{"agent@example.com", "boss@example.com"}, Scopes: []string{"send", "read"}},
		{ID: "k_safe", Hash: mailbox.HashAPIKey("k2"), Mailboxes: []string{"safe@example.com"}, Scopes: []string{"send", "read"}},
		{ID: "k_boss", Hash: mailbox.HashAPIKey("k3"), Mailboxes: []string{"boss@example.com"}, Scopes: []string{"read", "approve"}},
	} {
		if err := st.AddAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	leaks, err := oversightLeaks(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, l := range leaks {
		got[l.mailbox] = true
	}
	if len(got) != 2 || !got["self@example.com"] || !got["agent@example.com"] {
		t.Fatalf("leaks = %+v, want self@ and agent@", leaks)
	}
}
