package mta_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/mta/mtatest"
	"multimail.dev/multimail/queue"
)

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// openQueue opens a real queue on a Pebble database in a temporary directory.
func openQueue(t testing.TB, opts queue.Options) *queue.Queue {
	t.Helper()
	db, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	q, err := queue.Open(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// runDeliverer runs d until the test ends; stop cancels it and waits for Run to return.
func runDeliverer(t testing.TB, d *mta.Deliverer) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("Run did not return 30s after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return stop
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, failing the test at the deadline.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition with a deadline
	}
}

func message(from string, lane queue.Lane, to ...string) *queue.Message {
	body := "From: " + from + "\r\nTo: " + strings.Join(to, ", ") +
		"\r\nSubject: hello\r\nMessage-ID: <m1@example.com>\r\n\r\nHello.\r\n"
	return &queue.Message{Mailbox: from, From: from, To: to, Subject: "hello", Lane: lane,
		Body: []byte(body), Source: "api"}
}

// dsnSink collects DSNs handed to Options.DSN.
type dsnSink struct {
	mu   sync.Mutex
	msgs []*queue.Message
}

func (s *dsnSink) send(_ context.Context, m *queue.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *dsnSink) all() []*queue.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*queue.Message(nil), s.msgs...)
}

func statusOf(t testing.TB, q *queue.Queue, id string) map[string]string {
	t.Helper()
	st, err := q.Status(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range st.Recipients {
		out[r.Address] = r.Status
	}
	return out
}

func TestDelivererEndToEnd(t *testing.T) {
	t.Parallel()
	q := openQueue(t, queue.Options{})
	mx := mtatest.NewMX(t, mtatest.MXOptions{TLS: true})
	sink := &dsnSink{}
	reg := prometheus.NewRegistry()
	d := mta.New(q, mta.Options{Hostname: "out.example.com", DSN: sink.send, Registerer: reg,
		Transports: []mta.Transport{{Domain: "*", NextHop: mx.Addr()}}})
	runDeliverer(t, d)
	ctx := testCtx(t)
	rc, err := q.Enqueue(ctx, message("agent@example.com", queue.LaneNormal,
		"ok-1@dest.test", "reject-1@dest.test", "tempfail-1@dest.test", "ok@other.test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mx.WaitFor(ctx, 2); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ok-1@dest.test": "delivered", "reject-1@dest.test": "bounced",
		"tempfail-1@dest.test": "deferred", "ok@other.test": "delivered"}
	eventually(t, "recipient states", func() bool { return fmt.Sprint(statusOf(t, q, rc.ID)) == fmt.Sprint(want) })
	checkEvents(t, q, rc.ID)
	eventually(t, "a DSN", func() bool { return len(sink.all()) == 1 })
	checkDSN(t, sink.all()[0], "agent@example.com", "reject-1@dest.test", "tempfail-1@dest.test")
	if n := len(gather(t, reg)); n == 0 {
		t.Error("no metrics registered")
	}
}

func checkEvents(t *testing.T, q *queue.Queue, id string) {
	t.Helper()
	evs, err := q.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]queue.Event{}
	for _, ev := range evs {
		seen[string(ev.Type)+" "+ev.Recipient] = ev
	}
	del := seen["delivered ok-1@dest.test"]
	if del.MXHost != "127.0.0.1" || del.SMTPCode != 250 || !del.TLS || del.Attempt != 1 {
		t.Errorf("delivered event %+v", del)
	}
	b := seen["bounced reject-1@dest.test"]
	if b.SMTPCode != 550 || b.EnhancedCode != "5.1.1" || b.Detail == "" || b.MXHost != "127.0.0.1" {
		t.Errorf("bounced event %+v", b)
	}
	df := seen["deferred tempfail-1@dest.test"]
	if df.SMTPCode != 451 || df.EnhancedCode != "4.3.0" {
		t.Errorf("deferred event %+v", df)
	}
}

func checkDSN(t *testing.T, m *queue.Message, to, bounced, notBounced string) {
	t.Helper()
	body := string(m.Body)
	if m.From != "" || len(m.To) != 1 || m.To[0] != to || m.Source != "dsn" {
		t.Errorf("DSN envelope from=%q to=%v source=%q", m.From, m.To, m.Source)
	}
	for _, s := range []string{"From: Mail Delivery System <MAILER-DAEMON@out.example.com>",
		"report-type=delivery-status", "Final-Recipient: rfc822; " + bounced, "Status: 5.1.1",
		"Diagnostic-Code: smtp; 550 5.1.1", "Remote-MTA: dns; 127.0.0.1", "In-Reply-To: <m1@example.com>",
		"Arrival-Date: "} {
		if !strings.Contains(body, s) {
			t.Errorf("DSN lacks %q:\n%s", s, body)
		}
	}
	if strings.Contains(body, notBounced) && strings.Contains(body, "Final-Recipient: rfc822; "+notBounced) {
		t.Errorf("DSN reports %s, which was only deferred", notBounced)
	}
}

func gather(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return names
}

// TestDelivererNeverBouncesABounce: a message from the null sender that bounces makes no DSN.
func TestDelivererNeverBouncesABounce(t *testing.T) {
	t.Parallel()
	q := openQueue(t, queue.Options{})
	mx := mtatest.NewMX(t, mtatest.MXOptions{})
	sink := &dsnSink{}
	d := mta.New(q, mta.Options{Hostname: "out.example.com", DSN: sink.send,
		Transports: []mta.Transport{{Domain: "*", NextHop: mx.Addr(), TLS: mta.TLSNone}}})
	runDeliverer(t, d)
	ctx := testCtx(t)
	bounce, err := q.Enqueue(ctx, message("", queue.LaneNormal, "reject-1@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	// A second, ordinary bounce afterwards proves DSNs flow; the first must not have made one.
	normal, err := q.Enqueue(ctx, message("agent@example.com", queue.LaneNormal, "reject-2@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "both bounced", func() bool {
		return statusOf(t, q, bounce.ID)["reject-1@dest.test"] == "bounced" &&
			statusOf(t, q, normal.ID)["reject-2@dest.test"] == "bounced"
	})
	eventually(t, "the DSN", func() bool { return len(sink.all()) >= 1 })
	if dsns := sink.all(); len(dsns) != 1 || dsns[0].To[0] != "agent@example.com" {
		t.Fatalf("DSNs %+v, want exactly one, to agent@example.com", dsns)
	}
}

// TestDelivererShutdown cancels Run while a delivery is stuck on a slow peer: Run returns,
// and the interrupted attempt is not recorded as deferred.
func TestDelivererShutdown(t *testing.T) {
	t.Parallel()
	q := openQueue(t, queue.Options{})
	mx := mtatest.NewMX(t, mtatest.MXOptions{SlowDelay: time.Hour})
	d := mta.New(q, mta.Options{Transports: []mta.Transport{{Domain: "*", NextHop: mx.Addr()}}})
	stop := runDeliverer(t, d)
	rc, err := q.Enqueue(testCtx(t), message("agent@example.com", queue.LaneHigh, "slow-1@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the peer to get a connection", func() bool { return mx.Conns() > 0 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	evs, err := q.Events(context.Background(), rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type != queue.EventQueued {
			t.Errorf("event %s after an interrupted attempt", ev.Type)
		}
	}
}

// TestHighLaneOvertakesBulk queues 2,000 bulk messages for one slow domain, then one high
// message for the same domain: it must arrive before the bulk finishes.
func TestHighLaneOvertakesBulk(t *testing.T) {
	t.Parallel()
	const bulk = 2000
	q := openQueue(t, queue.Options{})
	mx := mtatest.NewMX(t, mtatest.MXOptions{Delay: 5 * time.Millisecond, DiscardData: true})
	ctx := testCtx(t)
	enqueueMany(t, q, bulk, func(i int) *queue.Message {
		return message("bulk@example.com", queue.LaneNormal, fmt.Sprintf("bulk-%d@slow.test", i))
	})
	d := mta.New(q, mta.Options{Transports: []mta.Transport{{Domain: "*", NextHop: mx.Addr(), TLS: mta.TLSNone}}})
	runDeliverer(t, d)
	if _, err := mx.WaitFor(ctx, 20); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, message("urgent@example.com", queue.LaneHigh, "high@slow.test")); err != nil {
		t.Fatal(err)
	}
	pos := -1
	_, err := mx.WaitUntil(ctx, func(msgs []mtatest.Message) bool {
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].From == "urgent@example.com" {
				pos = i
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the high message arrived after %d of %d bulk messages", pos, bulk)
	if pos >= bulk {
		t.Fatalf("the high message arrived after all %d bulk messages", bulk)
	}
}

// enqueueMany enqueues n messages from 8 goroutines (Pebble group commit shares the fsyncs).
func enqueueMany(t testing.TB, q *queue.Queue, n int, msg func(i int) *queue.Message) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				if _, err := q.Enqueue(context.Background(), msg(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestDelivererFailedGetsDSN: a recipient still deferred when its next try would fall past
// MaxLifetime fails, and the sender gets a DSN saying so.
func TestDelivererFailedGetsDSN(t *testing.T) {
	t.Parallel()
	q := openQueue(t, queue.Options{MaxLifetime: 10 * time.Second, BackoffInitial: 30 * time.Second})
	mx := mtatest.NewMX(t, mtatest.MXOptions{})
	sink := &dsnSink{}
	d := mta.New(q, mta.Options{Hostname: "out.example.com", DSN: sink.send,
		Transports: []mta.Transport{{Domain: "*", NextHop: mx.Addr(), TLS: mta.TLSNone}}})
	runDeliverer(t, d)
	rc, err := q.Enqueue(testCtx(t), message("agent@example.com", queue.LaneNormal, "tempfail-1@dest.test"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "failed", func() bool { return statusOf(t, q, rc.ID)["tempfail-1@dest.test"] == "failed" })
	eventually(t, "the DSN", func() bool { return len(sink.all()) == 1 })
	body := string(sink.all()[0].Body)
	for _, s := range []string{"Final-Recipient: rfc822; tempfail-1@dest.test", "Action: failed",
		"Status: 4.3.0", "Diagnostic-Code: smtp; 451 4.3.0"} {
		if !strings.Contains(body, s) {
			t.Errorf("DSN lacks %q:\n%s", s, body)
		}
	}
}
