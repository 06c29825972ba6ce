package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"multimail.dev/multimail/budget"
)

// rawPost opens a TCP connection to the test server and writes the header of a POST with
// the given Content-Length. The connection has a generous deadline so a server that holds
// it fails the test instead of hanging it.
func rawPost(t *testing.T, e *testEnv, path, key string, length int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, key, length)
	return c
}

// readAnswer reads one response and then expects the server to close the connection.
func readAnswer(t *testing.T, c net.Conn) *http.Response {
	t.Helper()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// Closed: EOF, or a reset when the server closed with body bytes it chose not to read
	// still in its receive buffer (the kernel answers those with RST).
	if _, err := br.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after the answer: %v, want the server to close (EOF or reset)", err)
	}
	return resp
}

// TestBodyNotReadAfterAuthFailure: a request with a bad key and a body that never comes is
// answered 401 at once and closed; before, the server waited for the body first.
func TestBodyNotReadAfterAuthFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	c := rawPost(t, e, "/v1/send_email", "mm_live_wrong", 1000)
	io.WriteString(c, "{")
	resp := readAnswer(t, c)
	if resp.StatusCode != 401 || !resp.Close {
		t.Errorf("answer %d close=%v, want 401 and Connection: close", resp.StatusCode, resp.Close)
	}
}

// TestBodyReadDeadline: an authenticated client sending its body too slowly (slowloris)
// gets a 408 and the connection is closed.
func TestBodyReadDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{bodyTime: 200 * time.Millisecond})
	c := rawPost(t, e, "/v1/send_email", e.keys["send"], 1000)
	io.WriteString(c, "{")
	resp := readAnswer(t, c)
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("answer %d close=%v, want 408 and Connection: close", resp.StatusCode, resp.Close)
	}
}

// TestBodyOversizeAnswered: a body over the limit is answered 413 and the client reads it
// after sending its whole body; before, it got a connection reset.
func TestBodyOversizeAnswered(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	e := newEnv(t, envOptions{maxBody: limit})
	for _, tc := range []struct {
		name    string
		declare int // Content-Length
	}{
		{"declared", 40 * limit},
	} {
		c := rawPost(t, e, "/v1/send_email", e.keys["send"], tc.declare)
		sent := make(chan error, 1)
		go func() {
			_, err := c.Write([]byte(strings.Repeat("x", tc.declare)))
			sent <- err
		}()
		if err := <-sent; err != nil {
			t.Fatalf("%s: sending the body: %v", tc.name, err)
		}
		resp := readAnswer(t, c)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: answer %d, want 413", tc.name, resp.StatusCode)
		}
	}
}

// TestBodyBudget: a large send that cannot get memory budget in time is answered 503 with
// Retry-After before its body is read; once the budget is free the same send is accepted.
func TestBodyBudget(t *testing.T) {
	t.Parallel()
	b := budget.New(8<<20, 20*time.Millisecond)
	e := newEnv(t, envOptions{budget: b})
	hold, err := b.Reserve(context.Background(), 8<<20) // other large bodies in flight
	if err != nil {
		t.Fatal(err)
	}
	body := otpBody()
	body["attachments"] = []map[string]any{{"filename": "a.bin", "content": make([]byte, 512<<10)}}
	r := e.do("POST", "/v1/send_email", e.keys["send"], body)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("send without budget: %d %s (Retry-After %q), want 503", r.status, r.body, r.header.Get("Retry-After"))
	}
	hold()
	if r := e.do("POST", "/v1/send_email", e.keys["send"], body); r.status != http.StatusAccepted {
		t.Fatalf("send with budget: %d %s", r.status, r.body)
	}
}
