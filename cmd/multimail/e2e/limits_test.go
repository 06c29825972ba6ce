package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConnectionCaps: with small [limits], the connection past a cap gets its protocol's
// refusal on SMTP (25, 587 and 465 share one cap), IMAP and HTTP (per client address), and
// /healthz still answers while SMTP is at its cap. The refusals are counted in /metrics.
func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{Config: `
[limits]
smtp_max_connections = 3
imap_max_connections = 2
http_max_connections_per_ip = 2
`})
	// SMTP: one connection on each port fills the cap of 3.
	for _, c := range []struct {
		port     int
		implicit bool
	}{{n.Ports.SMTP, false}, {n.Ports.Submission, false}, {n.Ports.Submissions, true}} {
		if line := firstLine(t, "127.0.0.1", Addr(c.port), c.implicit); !strings.HasPrefix(line, "220 ") {
			t.Fatalf("SMTP connection on %d: %q, want the greeting", c.port, line)
		}
	}
	for _, c := range []struct {
		port     int
		implicit bool
	}{{n.Ports.SMTP, false}, {n.Ports.Submissions, true}} {
		if line := firstLine(t, "127.0.0.1", Addr(c.port), c.implicit); !strings.HasPrefix(line, "421 4.7.0 ") {
			t.Fatalf("4th SMTP connection (port %d): %q, want 421 4.7.0", c.port, line)
		}
	}
	if code, _ := n.Do("GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("/healthz with SMTP at its cap: %d", code)
	}

	// IMAP: 143 and 993 share a cap of 2.
	if line := firstLine(t, "127.0.0.1", Addr(n.Ports.IMAP), false); !strings.HasPrefix(line, "* OK") {
		t.Fatalf("IMAP: %q", line)
	}
	if line := firstLine(t, "127.0.0.1", Addr(n.Ports.IMAPS), true); !strings.HasPrefix(line, "* OK") {
		t.Fatalf("IMAPS: %q", line)
	}
	if line := firstLine(t, "127.0.0.1", Addr(n.Ports.IMAP), false); !strings.HasPrefix(line, "* BYE ") {
		t.Fatalf("3rd IMAP connection: %q, want * BYE", line)
	}

	// HTTP: two kept-alive connections from 127.0.0.2 fill its per-address cap; a third from
	// there gets 503, as a real client reads it; 127.0.0.1 is not affected.
	for i := 0; i < 2; i++ {
		c := dialFrom(t, "127.0.0.2", Addr(n.Ports.HTTP))
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("HTTP connection %d: %v %v", i+1, resp, err)
		}
		resp.Body.Close()
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	resp, err := client.Get(n.URL("/healthz"))
	if err != nil {
		t.Fatalf("3rd HTTP connection: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Connection") != "close" && !resp.Close {
		t.Fatalf("3rd HTTP connection: %d (close %v), want 503 and Connection: close", resp.StatusCode, resp.Close)
	}
	if code, _ := n.Do("GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("/healthz from another address: %d", code)
	}

	_, body := n.Do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`multimail_listener_connections{kind="smtp"} 3`,
		`multimail_listener_connections{kind="imap"} 2`,
		`multimail_listener_connections_refused_total{kind="smtp",reason="total"} 2`,
		`multimail_listener_connections_refused_total{kind="imap",reason="total"} 1`,
		`multimail_listener_connections_refused_total{kind="http",reason="per_ip"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// dialFrom connects to addr from the local address src (a 127/8 address); the connection is
// closed when the test ends.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// firstLine opens a connection (kept open until the test ends) and returns the first line the
// server sends, over TLS when implicit.
func firstLine(t *testing.T, src, addr string, implicit bool) string {
	t.Helper()
	c := dialFrom(t, src, addr)
	if implicit {
		c = tls.Client(c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the node's self-signed certificate
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v (got %q)", addr, err, line)
	}
	return line
}
