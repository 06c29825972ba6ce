package api

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"multimail.dev/multimail/throttle"
)

// throttledEnv is a testEnv's API with a login throttle on a frozen clock, served on
// 127.0.0.1; from returns a client whose connections come from another loopback address.
func throttledEnv(t *testing.T, o throttle.Options) (*testEnv, string) {
	t.Helper()
	e := newEnv(t, envOptions{})
	o.Clock = &fakeClock{t: time.Now()}
	lim, err := throttle.New(o)
	if err != nil {
		t.Fatal(err)
	}
	opts := e.srv.opts
	opts.Throttle, opts.Registerer = lim, nil
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return e, hs.URL
}

// getFrom sends GET url+path with key from the loopback address from.
func getFrom(t *testing.T, url, path, from, key string) *http.Response {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestBearerThrottle: wrong keys from 127.0.0.1 reach 429 with Retry-After after the threshold
// (and so does a valid key never used from there), while a valid key from 127.0.0.2 works.
func TestBearerThrottle(t *testing.T) {
	t.Parallel()
	e, url := throttledEnv(t, throttle.Options{MaxFailures: 5})
	const path = "/v1/approvals"
	var got []int
	for i := range 8 {
		got = append(got, getFrom(t, url, path, "127.0.0.1", "mm_live_wrong_"+strconv.Itoa(i)).StatusCode)
	}
	want := []int{401, 401, 401, 401, 401, 429, 429, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
	resp := getFrom(t, url, path, "127.0.0.1", e.keys["readonly"])
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("valid key from the throttled address: %d Retry-After %q, want 429 and 1",
			resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if s := getFrom(t, url, path, "127.0.0.2", e.keys["readonly"]).StatusCode; s != 200 {
		t.Fatalf("valid key from 127.0.0.2: %d, want 200", s)
	}
}

// TestBearerThrottleKnownKey: a key already used from an address still passes when someone
// else's wrong keys from that address (a shared NAT) opened a refusal window.
func TestBearerThrottleKnownKey(t *testing.T) {
	t.Parallel()
	e, url := throttledEnv(t, throttle.Options{MaxFailures: 3})
	const path = "/v1/approvals"
	if s := getFrom(t, url, path, "127.0.0.3", e.keys["readonly"]).StatusCode; s != 200 {
		t.Fatalf("first use: %d", s)
	}
	for range 3 {
		getFrom(t, url, path, "127.0.0.3", "mm_live_wrong")
	}
	if s := getFrom(t, url, path, "127.0.0.3", "mm_live_wrong").StatusCode; s != 429 {
		t.Fatalf("wrong key after the threshold: %d, want 429", s)
	}
	if s := getFrom(t, url, path, "127.0.0.3", e.keys["readonly"]).StatusCode; s != 200 {
		t.Fatalf("known key behind the refused address: %d, want 200", s)
	}
}
