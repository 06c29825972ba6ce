package e2e

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// dialerFrom is a dialer whose connections come from the loopback address from.
func dialerFrom(from string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
}

// imapLoginFrom logs in over STARTTLS from the loopback address from, as many times as
// passwords has entries on one connection, and returns each tagged response's code ("OK").
func imapLoginFrom(t *testing.T, n *Node, from string, passwords ...string) []string {
	t.Helper()
	conn, err := dialerFrom(from).Dial("tcp", Addr(n.Ports.IMAP))
	if err != nil {
		t.Fatal(err)
	}
	c, err := imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var codes []string
	for _, p := range passwords {
		err := c.Login(Sender, p).Wait()
		var ie *imap.Error
		switch {
		case err == nil:
			codes = append(codes, "OK")
		case errors.As(err, &ie):
			codes = append(codes, string(ie.Code))
		default:
			t.Fatalf("login: %v", err)
		}
	}
	return codes
}

// httpFrom sends GET path with key from the loopback address from.
func httpFrom(t *testing.T, n *Node, from, path, key string) (*http.Response, string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialerFrom(from).DialContext}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, n.URL(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestAuthThrottle runs the real binary with a long refusal window: 20 wrong IMAP passwords
// from 127.0.0.1 end in NO [UNAVAILABLE] (the right password too), the throttle is shared so
// the HTTP API answers that address 429 with Retry-After, and from 127.0.0.2 the owner logs in
// over IMAP and the API key works. The counters show it on /metrics.
func TestAuthThrottle(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{Config: "[auth_throttle]\nmax_failures = 5\nbackoff = \"1h\"\nmax_backoff = \"2h\"\n"})
	wrong := make([]string, 20)
	for i := range wrong {
		wrong[i] = "wrong-password"
	}
	got := strings.Join(imapLoginFrom(t, n, "127.0.0.1", append(wrong, Password)...), " ")
	want := strings.TrimSpace(strings.Repeat("AUTHENTICATIONFAILED ", 5) + strings.Repeat("UNAVAILABLE ", 16))
	if got != want {
		t.Fatalf("IMAP from 127.0.0.1:\n %s\nwant\n %s", got, want)
	}
	if got := imapLoginFrom(t, n, "127.0.0.2", Password); got[0] != "OK" {
		t.Fatalf("the owner from 127.0.0.2: %v", got)
	}
	for _, key := range []string{"mm_live_wrong_key_000000000000000", APIKey} {
		resp, body := httpFrom(t, n, "127.0.0.1", "/v1/approvals", key)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("API from 127.0.0.1: %d Retry-After %q %s, want 429", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if resp, body := httpFrom(t, n, "127.0.0.2", "/v1/approvals", APIKey); resp.StatusCode != 200 {
		t.Fatalf("API key from 127.0.0.2: %d %s", resp.StatusCode, body)
	}
	_, metrics := httpFrom(t, n, "127.0.0.2", "/metrics", "")
	for _, line := range []string{
		`multimail_auth_failures_total{door="imap"} 5`,
		`multimail_auth_throttled_total{door="imap"} 16`,
		`multimail_auth_throttled_total{door="http"} 2`,
		`multimail_auth_throttle_clients 1`,
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}
