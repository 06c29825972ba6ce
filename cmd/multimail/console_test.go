package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
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
	// [api] public_url wins (a proxy in front), without a trailing slash.
	c := &Config{Hostname: "mx", Listen: ListenConfig{HTTP: "127.0.0.1:8025"}, API: APIConfig{PublicURL: "https://mail.example.com/"}}
	if got := consoleBaseURL(c); got != "https://mail.example.com" {
		t.Errorf("with public_url: %q", got)
	}
	for _, u := range []string{"mail.example.com", "ftp://x", "https://x/prefix", "https://x/?a=1", "https://u:p@x"} {
		c.API.PublicURL = u
		if err := c.validateAPI(); err == nil || !strings.Contains(err.Error(), "api.public_url") {
			t.Errorf("public_url %q: %v", u, err)
		}
	}
	c.API.PublicURL = "http://127.0.0.1:8080"
	if err := c.validateAPI(); err != nil {
		t.Errorf("public_url %q: %v", c.API.PublicURL, err)
	}
}

// TestLinkKey: the one-click link key is made once (0600) and read back the same; a damaged
// file is refused; a backup leaves it out (a restored node makes a new one).
func TestLinkKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, err := loadLinkKey(dir)
	if err != nil || len(k1) != 32 {
		t.Fatalf("first: %d %v", len(k1), err)
	}
	fi, err := os.Stat(filepath.Join(dir, linkKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	k2, err := loadLinkKey(dir)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second load differs: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, linkKeyFile), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadLinkKey(dir); err == nil {
		t.Fatal("a 5-byte key was taken")
	}
	if !skipInBackup(linkKeyFile, nil) {
		t.Fatal("the link key goes into backups")
	}
	if !skipInBackup("tlsrpt/.counters-2026-12-06.json.123", nil) || !skipInBackup(".mta-sts.json.9", nil) {
		t.Fatal("a hidden temporary file goes into backups")
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
