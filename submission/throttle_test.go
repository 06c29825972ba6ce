package submission

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/throttle"
)

// frozenClock is a throttle clock that never moves: a refusal window never ends.
type frozenClock struct{ t time.Time }

func (c frozenClock) Now() time.Time { return c.t }

// authFrom connects from the loopback address from, upgrades with STARTTLS and runs AUTH
// PLAIN; it returns the reply's code ("ok" on success).
func authFrom(t *testing.T, ts *testServer, from, user, pass string) string {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", ts.submission)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClientStartTLS(conn, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return codeOf(c.Auth(sasl.NewPlainClient("", user, pass)))
}

// TestAuthThrottle: 25 wrong passwords from 127.0.0.1 end in 421 4.7.0 without a password
// check, while the owner authenticates from 127.0.0.2.
func TestAuthThrottle(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	lim, err := throttle.New(throttle.Options{Clock: frozenClock{time.Now()}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ts := newServer(t, false, func(o *ServerOptions) { o.Throttle = lim })
	var codes []string
	for range 25 {
		codes = append(codes, authFrom(t, ts, "127.0.0.1", "auto@example.com", "wrong"))
	}
	want := strings.Repeat("535 5.7.8,", throttle.DefaultMaxFailures) +
		strings.Repeat("421 4.7.0,", 25-throttle.DefaultMaxFailures)
	if got := strings.Join(codes, ",") + ","; got != want {
		t.Fatalf("replies:\n %s\nwant\n %s", got, want)
	}
	if got := authFrom(t, ts, "127.0.0.1", "auto@example.com", testPassword); got != "421 4.7.0" {
		t.Fatalf("right password from the refused address: %s, want 421 4.7.0 (no password check)", got)
	}
	if got := authFrom(t, ts, "127.0.0.2", "auto@example.com", testPassword); got != "ok" {
		t.Fatalf("the owner from 127.0.0.2: %s", got)
	}
	if got := doorCount(t, reg, "multimail_auth_throttled_total", "smtp"); got != 16 {
		t.Errorf("throttled = %v, want 16", got)
	}
	if got := doorCount(t, reg, "multimail_auth_failures_total", "smtp"); got != 10 {
		t.Errorf("failures = %v, want 10", got)
	}
}

// TestAuthThrottleLogin: AUTH LOGIN goes through the same throttle.
func TestAuthThrottleLogin(t *testing.T) {
	t.Parallel()
	lim, err := throttle.New(throttle.Options{Clock: frozenClock{time.Now()}, MaxFailures: 1})
	if err != nil {
		t.Fatal(err)
	}
	ts := newServer(t, false, func(o *ServerOptions) { o.Throttle = lim })
	login := func(pass string) string {
		c := smtpClient(t, ts)
		return codeOf(c.Auth(sasl.NewLoginClient("auto@example.com", pass)))
	}
	if got := login("wrong"); got != "535 5.7.8" {
		t.Fatalf("first wrong password: %s", got)
	}
	if got := login(testPassword); got != "421 4.7.0" {
		t.Fatalf("after the threshold: %s, want 421 4.7.0", got)
	}
}

// doorCount is the value of the counter name with the label door=door in reg.
func doorCount(t *testing.T, reg *prometheus.Registry, name, door string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if mf.GetName() == name && lp.GetName() == "door" && lp.GetValue() == door {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
