package mta

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"multimail.dev/multimail/mta/mtatest"
	"multimail.dev/multimail/queue"
)

var testBody = []byte("From: sender@example.com\r\nTo: x@dest.test\r\nSubject: test\r\n\r\nHello.\r\n")

// newTestDeliverer returns a Deliverer without a queue, for calling deliver directly.
func newTestDeliverer(t *testing.T, o Options) *Deliverer {
	t.Helper()
	if o.Hostname == "" {
		o.Hostname = "client.test"
	}
	o.ConnectTimeout, o.CommandTimeout, o.DataTimeout = 10*time.Second, 10*time.Second, 10*time.Second
	d := New(nil, o)
	if d.err != nil {
		t.Fatal(d.err)
	}
	t.Cleanup(d.pool.close)
	return d
}

func testLease(domain string, rcpts ...string) *queue.Lease {
	return &queue.Lease{ID: "lease_test", MsgID: "msg_test", Domain: domain, From: "sender@example.com",
		Recipients: rcpts, Attempt: 1}
}

func via(mx *mtatest.MX, policy TLSPolicy) []Transport {
	return []Transport{{Domain: "*", NextHop: mx.Addr(), TLS: policy}}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// want is the expected result of one recipient.
type want struct {
	outcome queue.Outcome
	code    int
	status  string
}

func checkResults(t *testing.T, got []queue.Result, wants ...want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d results, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		r := got[i]
		if r.Outcome != w.outcome || r.SMTPCode != w.code || r.EnhancedCode != w.status {
			t.Errorf("result %d (%s) = outcome %d %d %s %q; want outcome %d %d %s", i, r.Recipient,
				r.Outcome, r.SMTPCode, r.EnhancedCode, r.Detail, w.outcome, w.code, w.status)
		}
	}
}

var (
	delivered = want{queue.Delivered, 250, "2.0.0"}
	deferredC = func(code int, status string) want { return want{queue.Deferred, code, status} }
	bouncedC  = func(code int, status string) want { return want{queue.Bounced, code, status} }
)

func TestDeliverTLSPolicies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		peer    mtatest.MXOptions
		policy  TLSPolicy
		want    want
		wantTLS bool
		backoff bool
	}{
		{"plain peer, none", mtatest.MXOptions{}, TLSNone, delivered, false, false},
		{"plain peer, opportunistic", mtatest.MXOptions{}, TLSOpportunistic, delivered, false, false},
		{"plain peer, required defers", mtatest.MXOptions{}, TLSRequired, deferredC(0, "4.7.4"), false, true},
		{"tls peer, none", mtatest.MXOptions{TLS: true}, TLSNone, delivered, false, false},
		{"tls peer, opportunistic", mtatest.MXOptions{TLS: true}, TLSOpportunistic, delivered, true, false},
		{"tls peer, required", mtatest.MXOptions{TLS: true}, TLSRequired, delivered, true, false},
		{"broken tls, opportunistic falls back", mtatest.MXOptions{BrokenTLS: true}, TLSOpportunistic, delivered, false, false},
		{"broken tls, required defers", mtatest.MXOptions{BrokenTLS: true}, TLSRequired, deferredC(0, "4.7.5"), false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mx := mtatest.NewMX(t, tc.peer)
			d := newTestDeliverer(t, Options{Transports: via(mx, tc.policy)})
			res, backoff := d.deliver(testCtx(t), testLease("dest.test", "ok@dest.test"), testBody)
			checkResults(t, res, tc.want)
			if res[0].TLS != tc.wantTLS || backoff != tc.backoff {
				t.Errorf("TLS=%v backoff=%v, want %v %v (%+v)", res[0].TLS, backoff, tc.wantTLS, tc.backoff, res[0])
			}
			if tc.want.outcome != queue.Delivered {
				return
			}
			msgs := mx.Messages()
			if len(msgs) != 1 || msgs[0].TLS != tc.wantTLS || msgs[0].Helo != "client.test" ||
				string(msgs[0].Data) != string(testBody) || msgs[0].From != "sender@example.com" {
				t.Errorf("peer saw %+v", msgs)
			}
		})
	}
}

func TestDeliverPerRecipient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		rcpts []string
		wants []want
		count int // messages the peer accepted
	}{
		{"rcpt mix", []string{"ok-1@dest.test", "tempfail-1@dest.test", "reject-1@dest.test", "ok-2@dest.test"},
			[]want{delivered, deferredC(451, "4.3.0"), bouncedC(550, "5.1.1"), delivered}, 1},
		{"all rejected at rcpt", []string{"reject-1@dest.test", "reject-2@dest.test"},
			[]want{bouncedC(550, "5.1.1"), bouncedC(550, "5.1.1")}, 0},
		{"5xx at end of data", []string{"ok-1@dest.test", "datafail-1@dest.test", "reject-3@dest.test"},
			[]want{bouncedC(554, "5.6.0"), bouncedC(554, "5.6.0"), bouncedC(550, "5.1.1")}, 0},
		{"4xx at end of data", []string{"datatemp-1@dest.test"}, []want{deferredC(452, "4.3.1")}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mx := mtatest.NewMX(t, mtatest.MXOptions{})
			d := newTestDeliverer(t, Options{Transports: via(mx, TLSNone)})
			ctx := testCtx(t)
			res, backoff := d.deliver(ctx, testLease("dest.test", tc.rcpts...), testBody)
			checkResults(t, res, tc.wants...)
			if backoff {
				t.Error("SMTP replies must not back the domain off")
			}
			if mx.Count() != tc.count {
				t.Errorf("peer accepted %d messages, want %d", mx.Count(), tc.count)
			}
			for _, r := range res {
				if r.MXHost != "127.0.0.1" || r.Detail == "" {
					t.Errorf("result %+v: want MXHost 127.0.0.1 and a detail", r)
				}
			}
			// The session is still good after any of these: the next delivery reuses it.
			res, _ = d.deliver(ctx, testLease("dest.test", "ok-9@dest.test"), testBody)
			checkResults(t, res, delivered)
			if mx.Conns() != 1 {
				t.Errorf("peer saw %d connections, want 1 (reuse)", mx.Conns())
			}
		})
	}
}

func TestDeliverConnectionReuse(t *testing.T) {
	t.Parallel()
	mx := mtatest.NewMX(t, mtatest.MXOptions{TLS: true})
	d := newTestDeliverer(t, Options{Transports: via(mx, TLSOpportunistic), MaxConnUses: 4})
	ctx := testCtx(t)
	for i := range 6 {
		res, _ := d.deliver(ctx, testLease("dest.test", fmt.Sprintf("ok-%d@dest.test", i)), testBody)
		checkResults(t, res, delivered)
	}
	msgs := mx.Messages()
	seqs := make([]string, len(msgs))
	for i, m := range msgs {
		seqs[i] = fmt.Sprintf("%d.%d", m.Conn, m.Seq)
		if !m.TLS {
			t.Errorf("message %d not over TLS", i)
		}
	}
	// Four messages on the first connection (MaxConnUses), the rest on a second.
	if got := strings.Join(seqs, " "); got != "1.1 1.2 1.3 1.4 2.1 2.2" {
		t.Fatalf("connection.sequence of messages = %s", got)
	}
}

// TestDeliverStalePooledConnection restarts the peer on the same port: the pooled session is
// dead, and the delivery retries at once on a fresh one.
func TestDeliverStalePooledConnection(t *testing.T) {
	t.Parallel()
	mx := mtatest.NewMX(t, mtatest.MXOptions{})
	d := newTestDeliverer(t, Options{Transports: via(mx, TLSNone)})
	ctx := testCtx(t)
	res, _ := d.deliver(ctx, testLease("dest.test", "ok-1@dest.test"), testBody)
	checkResults(t, res, delivered)
	addr := mx.Addr()
	if err := mx.Close(); err != nil {
		t.Fatal(err)
	}
	mx2 := mtatest.NewMX(t, mtatest.MXOptions{Addr: addr})
	res, backoff := d.deliver(ctx, testLease("dest.test", "ok-2@dest.test"), testBody)
	checkResults(t, res, delivered)
	if backoff || mx2.Count() != 1 {
		t.Fatalf("backoff=%v, second peer got %d", backoff, mx2.Count())
	}
}

func TestDeliverConnectionFailures(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	d := newTestDeliverer(t, Options{Transports: []Transport{{Domain: "*", NextHop: closed}}})
	res, backoff := d.deliver(testCtx(t), testLease("dest.test", "a@dest.test", "b@dest.test"), testBody)
	checkResults(t, res, deferredC(0, "4.4.1"), deferredC(0, "4.4.1"))
	if !backoff || res[0].MXHost != "127.0.0.1" {
		t.Fatalf("backoff=%v result %+v", backoff, res[0])
	}
}

func TestDeliverRefusedSession(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		refuse  *smtp.SMTPError
		want    want
		backoff bool
	}{
		{"554 at EHLO defers", &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "go away"},
			deferredC(554, "4.7.1"), true},
		{"521 accepts no mail (RFC 7504)", &smtp.SMTPError{Code: 521, EnhancedCode: smtp.EnhancedCode{5, 3, 2}, Message: "no mail here"},
			bouncedC(521, "5.3.2"), false},
		{"421 defers", &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "busy"},
			deferredC(421, "4.7.0"), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mx := mtatest.NewMX(t, mtatest.MXOptions{RefuseSession: tc.refuse})
			d := newTestDeliverer(t, Options{Transports: via(mx, TLSNone)})
			res, backoff := d.deliver(testCtx(t), testLease("dest.test", "ok@dest.test"), testBody)
			checkResults(t, res, tc.want)
			if backoff != tc.backoff {
				t.Errorf("backoff=%v, want %v", backoff, tc.backoff)
			}
		})
	}
}

func TestDeliverLimits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		peer mtatest.MXOptions
		from string
		rcpt string
		want want
	}{
		{"size over limit", mtatest.MXOptions{MaxMessageBytes: 10}, "s@example.com", "ok@dest.test", bouncedC(0, "5.3.4")},
		{"utf8 not offered", mtatest.MXOptions{}, "s@example.com", "üser@dest.test", bouncedC(0, "5.6.7")},
		{"utf8 offered", mtatest.MXOptions{SMTPUTF8: true}, "sénder@example.com", "üser@dest.test", delivered},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mx := mtatest.NewMX(t, tc.peer)
			d := newTestDeliverer(t, Options{Transports: via(mx, TLSNone)})
			l := testLease("dest.test", tc.rcpt)
			l.From = tc.from
			res, _ := d.deliver(testCtx(t), l, testBody)
			checkResults(t, res, tc.want)
		})
	}
}

func TestDeliverMXRouting(t *testing.T) {
	t.Parallel()
	mx := mtatest.NewMX(t, mtatest.MXOptions{TLS: true})
	dns := mtatest.NewDNS(t, map[string]mtatest.Records{
		"dest.test":      {MX: []net.MX{{Host: "gone.dest.test", Pref: 5}, {Host: "mx.dest.test", Pref: 10}}},
		"mx.dest.test":   {A: []string{"127.0.0.1"}},
		"implicit.test":  {A: []string{"127.0.0.1"}},
		"null.test":      {MX: mtatest.NullMX()},
		"servfail.test":  {ServFail: true},
		"unreached.test": {MX: []net.MX{{Host: "gone.dest.test", Pref: 5}}},
	})
	d := newTestDeliverer(t, Options{Resolver: testResolver(t, dns.Addr()), MXPort: mx.Port()})
	cases := []struct {
		name    string
		domain  string
		want    want
		mxHost  string
		backoff bool
	}{
		{"backup mx after unresolvable primary", "dest.test", delivered, "mx.dest.test", false},
		{"implicit mx", "implicit.test", delivered, "implicit.test", false},
		{"null mx bounces", "null.test", bouncedC(0, "5.1.10"), "", false},
		{"nxdomain bounces", "nxdomain.test", bouncedC(0, "5.1.2"), "", false},
		{"servfail defers", "servfail.test", deferredC(0, "4.4.3"), "", true},
		{"no host resolves", "unreached.test", deferredC(0, "4.4.3"), "gone.dest.test", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, backoff := d.deliver(testCtx(t), testLease(tc.domain, "ok@"+tc.domain), testBody)
			checkResults(t, res, tc.want)
			if res[0].MXHost != tc.mxHost || backoff != tc.backoff {
				t.Errorf("MXHost=%q backoff=%v, want %q %v", res[0].MXHost, backoff, tc.mxHost, tc.backoff)
			}
		})
	}
}

// TestDeliverCancelled cancels a delivery stuck on a slow peer: it returns at once with every
// recipient deferred, which process treats as interrupted (no Complete).
func TestDeliverCancelled(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	mx := mtatest.NewMX(t, mtatest.MXOptions{SlowDelay: time.Hour})
	d := newTestDeliverer(t, Options{Transports: via(mx, TLSNone)})
	ctx, cancel := context.WithCancel(testCtx(t))
	go func() {
		// Cancel once the peer holds the message: its DATA is in progress.
		defer close(arrived)
		for mx.Conns() == 0 && ctx.Err() == nil {
			pause(ctx, time.Millisecond)
		}
		pause(ctx, 20*time.Millisecond)
		cancel()
	}()
	res, _ := d.deliver(ctx, testLease("dest.test", "slow-1@dest.test"), testBody)
	<-arrived
	if res[0].Outcome != queue.Deferred || !interrupted(ctx, res) {
		t.Fatalf("result %+v, interrupted=%v", res[0], interrupted(ctx, res))
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatal("context not cancelled")
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		err    error
		perm   bool
		status string
	}{
		{"unknown is temporary", errors.New("boom"), false, "4.4.2"},
		{"dns", &net.DNSError{Err: "timeout", IsTimeout: true}, false, "4.4.3"},
		{"cancelled", context.Canceled, false, "4.4.7"},
		{"wrapped mta error", fmt.Errorf("x: %w", permanent("5.1.10", ErrNullMX, "null")), true, "5.1.10"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := classify(tc.err, "h")
			if e.Perm != tc.perm || e.Status != tc.status || e.Temporary() == tc.perm {
				t.Fatalf("classify(%v) = %+v", tc.err, e)
			}
		})
	}
}

// deliver is deliverPaced without pacing for the tests: one attempt now, its results and
// backoff; a lease held back by the warm-up quota gets a temporary 4.7.0 result.
func (d *Deliverer) deliver(ctx context.Context, l *queue.Lease, body []byte) ([]queue.Result, bool) {
	res, backoff, later := d.deliverPaced(ctx, l, body, false)
	if !later.IsZero() { // the warm-up quota: defer
		e := temporary("4.7.0", ErrNoSource, "every address of the IP pool is past its warm-up quota for today")
		a := &attempt{lease: l, results: make([]*queue.Result, len(l.Recipients))}
		a.decideRest(e, "", false)
		return a.final(), false
	}
	return res, backoff
}
