package main

import (
	"context"
	"testing"

	"multimail.dev/multimail/mailbox"
)

func TestConsoleBaseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ listen, host, want string }{
		{"127.0.0.1:8025", "localhost", "http://127.0.0.1:8025"},
		{"0.0.0.0:80", "mx.example.com", "http://mx.example.com:80"},
		{":8025", "mx.example.com", "http://mx.example.com:8025"},
		{"[::1]:8025", "x", "http://[::1]:8025"},
		{"", "x", ""},
	} {
		if got := consoleBaseURL(tc.listen, tc.host); got != tc.want {
			t.Errorf("consoleBaseURL(%q, %q) = %q, want %q", tc.listen, tc.host, got, tc.want)
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
