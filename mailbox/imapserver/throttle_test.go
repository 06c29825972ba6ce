package imapserver

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"multimail.dev/multimail/throttle"
)

// frozenClock is a throttle clock that never moves: a refusal window never ends.
type frozenClock struct{ t time.Time }

func (c frozenClock) Now() time.Time { return c.t }

// connectFrom opens a STARTTLS connection whose local address is the loopback address from.
func (e *env) connectFrom(t *testing.T, from string) *imapclient.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", e.imapAddr)
	must(t, err)
	c, err := imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: e.clientTLS, DebugWriter: debugOut(t)})
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// responseCode is the code of a tagged NO, "" when err is nil.
func responseCode(t *testing.T, err error) imap.ResponseCode {
	t.Helper()
	if err == nil {
		return ""
	}
	var ie *imap.Error
	if !errors.As(err, &ie) {
		t.Fatalf("not an IMAP status response: %v", err)
	}
	return ie.Code
}

// TestLoginThrottle: 25 wrong passwords from 127.0.0.1 end in refusals that do not even check
// the password, while the owner logs in from 127.0.0.2.
func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	lim, err := throttle.New(throttle.Options{Clock: frozenClock{time.Now()}, Registerer: reg})
	must(t, err)
	e := newEnv(t, func(o *Options) { o.Throttle = lim })
	c := e.connectFrom(t, "127.0.0.1")
	var codes []string
	for range 25 {
		codes = append(codes, string(responseCode(t, c.Login(testUser, "wrong").Wait())))
	}
	want := strings.Repeat("AUTHENTICATIONFAILED ", throttle.DefaultMaxFailures) +
		strings.Repeat("UNAVAILABLE ", 25-throttle.DefaultMaxFailures)
	if got := strings.Join(codes, " ") + " "; got != want {
		t.Fatalf("codes:\n %s\nwant\n %s", got, want)
	}
	if code := responseCode(t, c.Login(testUser, testPassword).Wait()); code != imap.ResponseCodeUnavailable {
		t.Fatalf("right password from the refused address: [%s], want [UNAVAILABLE] (no password check)", code)
	}
	if code := responseCode(t, c.Authenticate(sasl.NewPlainClient("", testUser, testPassword))); code != imap.ResponseCodeUnavailable {
		t.Fatalf("AUTHENTICATE PLAIN from the refused address: [%s], want [UNAVAILABLE]", code)
	}
	if code := responseCode(t, e.connectFrom(t, "127.0.0.2").Login(testUser, testPassword).Wait()); code != "" {
		t.Fatalf("the owner from 127.0.0.2 refused: [%s]", code)
	}
	got := testutil.ToFloat64(e.srv.metrics.logins.WithLabelValues("throttled"))
	if got != 17 {
		t.Errorf("imap logins throttled = %v, want 17", got)
	}
	if n, err := testutil.GatherAndCount(reg, "multimail_auth_throttled_total"); err != nil || n != 1 {
		t.Errorf("multimail_auth_throttled_total series: %d, %v", n, err)
	}
}

// TestLoginThrottleSpray: a spray of one account from one address per attempt does not lock
// out the owner's address, which logged in before.
func TestLoginThrottleSpray(t *testing.T) {
	t.Parallel()
	lim, err := throttle.New(throttle.Options{Clock: frozenClock{time.Now()}, AccountMaxFailures: 5})
	must(t, err)
	e := newEnv(t, func(o *Options) { o.Throttle = lim })
	owner := e.connectFrom(t, "127.0.0.9")
	must(t, owner.Login(testUser, testPassword).Wait())
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			c := e.connectFrom(t, net.IPv4(127, 0, 1, byte(i+1)).String())
			_ = c.Login(testUser, "wrong").Wait()
		})
	}
	wg.Wait()
	c := e.connectFrom(t, "127.0.1.1")
	if code := responseCode(t, c.Login(testUser, "wrong").Wait()); code != imap.ResponseCodeUnavailable {
		t.Fatalf("a spraying address's second guess: [%s], want [UNAVAILABLE]", code)
	}
	if code := responseCode(t, e.connectFrom(t, "127.0.0.9").Login(testUser, testPassword).Wait()); code != "" {
		t.Fatalf("the owner's known address refused: [%s]", code)
	}
	if code := responseCode(t, e.connectFrom(t, "127.0.0.10").Login(testUser, testPassword).Wait()); code != "" {
		t.Fatalf("a fresh address refused: [%s]", code)
	}
}
