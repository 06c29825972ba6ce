package mta_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"multimail.dev/multimail/dnsclient"
	"multimail.dev/multimail/mta"
	"multimail.dev/multimail/mta/mtatest"
	"multimail.dev/multimail/queue"
)

// stsWorld is a recipient world for MTA-STS tests: a test CA, a DNS zone, an HTTPS server
// serving mta-sts.<domain> policies (certificate from the CA), MX hosts and a TLS-RPT
// collector reached over HTTPS.
type stsWorld struct {
	t        *testing.T
	ca       *mtatest.CA
	dns      *mtatest.DNS
	web      *httptest.Server
	webPort  int
	mu       sync.Mutex
	policies map[string]string // host → body
	fetches  map[string]int
	reports  [][]byte // gunzipped bodies POSTed to /tlsrpt
	rptTypes []string // their Content-Types
}

func newSTSWorld(t *testing.T) *stsWorld {
	t.Helper()
	ca, err := mtatest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	w := &stsWorld{t: t, ca: ca, policies: map[string]string{}, fetches: map[string]int{}}
	w.dns = mtatest.NewDNS(t, map[string]mtatest.Records{})
	w.web = httptest.NewUnstartedServer(http.HandlerFunc(w.serve))
	cfg, err := ca.ServerTLS(0, "mta-sts.enforce.test", "mta-sts.testing.test", "mta-sts.mismatch.test",
		"mta-sts.untrusted.test", "mta-sts.cached.test", "mta-sts.redirect.test", "mta-sts.big.test",
		"mta-sts.html.test", "reports.test")
	if err != nil {
		t.Fatal(err)
	}
	w.web.TLS = cfg
	w.web.StartTLS()
	t.Cleanup(w.web.Close)
	w.webPort = w.web.Listener.Addr().(*net.TCPAddr).Port
	w.dns.Set("reports.test", mtatest.Records{A: []string{"127.0.0.1"}})
	return w
}

func (w *stsWorld) serve(rw http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.Host)
	if r.Method == http.MethodPost && r.URL.Path == "/tlsrpt" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(rw, "not gzip", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(zr)
		w.mu.Lock()
		w.reports = append(w.reports, b)
		w.rptTypes = append(w.rptTypes, r.Header.Get("Content-Type"))
		w.mu.Unlock()
		return
	}
	if r.URL.Path != "/.well-known/mta-sts.txt" {
		http.NotFound(rw, r)
		return
	}
	w.mu.Lock()
	body, ok := w.policies[host]
	w.fetches[host]++
	w.mu.Unlock()
	switch {
	case host == "mta-sts.redirect.test":
		http.Redirect(rw, r, "https://mta-sts.enforce.test/.well-known/mta-sts.txt", http.StatusFound)
		return
	case host == "mta-sts.html.test":
		rw.Header().Set("Content-Type", "text/html")
	case !ok:
		http.NotFound(rw, r)
		return
	default:
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	_, _ = io.WriteString(rw, body)
}

func (w *stsWorld) fetchCount(host string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fetches[host]
}

// domain publishes a recipient domain: MX mxName (127.0.0.1), the _mta-sts TXT with id, the
// policy body (when not ""), and a TLS-RPT record pointing at the collector.
func (w *stsWorld) domain(name, mxName, id, policy string) {
	w.dns.Set(name, mtatest.Records{MX: []net.MX{{Host: mxName + ".", Pref: 10}}})
	w.dns.Set(mxName, mtatest.Records{A: []string{"127.0.0.1"}})
	w.dns.Set("mta-sts."+name, mtatest.Records{A: []string{"127.0.0.1"}})
	if id != "" {
		w.dns.Set("_mta-sts."+name, mtatest.Records{TXT: []string{"v=STSv1; id=" + id + ";"}})
	}
	w.dns.Set("_smtp._tls."+name, mtatest.Records{TXT: []string{
		"v=TLSRPTv1; rua=https://reports.test:" + strconv.Itoa(w.webPort) + "/tlsrpt"}})
	if policy != "" {
		w.mu.Lock()
		w.policies["mta-sts."+name] = policy
		w.mu.Unlock()
	}
}

func (w *stsWorld) resolver() *dnsclient.Client {
	c, err := dnsclient.New(dnsclient.Config{Servers: []string{w.dns.Addr()}, Timeout: 2 * time.Second, Attempts: 2})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// deliverer returns a running Deliverer with MTA-STS and TLS-RPT pointed at the world,
// its queue, and the data dir of its cache and reports.
func (w *stsWorld) deliverer(mxPort int, dir string) (*mta.Deliverer, *queue.Queue) {
	return w.delivererDANE(mxPort, dir, false)
}

func (w *stsWorld) delivererDANE(mxPort int, dir string, dane bool) (*mta.Deliverer, *queue.Queue) {
	q := openQueue(w.t, queue.Options{BackoffInitial: time.Hour, BackoffMax: time.Hour})
	loop := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	d := mta.New(q, mta.Options{Hostname: "out.sender.test", Resolver: w.resolver(), MXPort: mxPort, DANE: dane,
		MTASTS: &mta.STSOptions{CacheFile: filepath.Join(dir, "mta-sts.json"), Port: w.webPort,
			AllowNetworks: loop, RootCAs: w.ca.Pool(), Wait: 10 * time.Second},
		TLSRPT: &mta.TLSRPTOptions{Dir: filepath.Join(dir, "tlsrpt")}})
	runDeliverer(w.t, d)
	return d, q
}

func (w *stsWorld) mx(host string, trusted bool) *mtatest.MX {
	opts := mtatest.MXOptions{Hostname: host, TLS: true}
	if trusted {
		cfg, err := w.ca.ServerTLS(0, host)
		if err != nil {
			w.t.Fatal(err)
		}
		opts.TLSConfig = cfg
	}
	return mtatest.NewMX(w.t, opts)
}

// outcome waits for the recipient's first outcome event and returns it.
func outcome(t *testing.T, q *queue.Queue, id string) queue.Event {
	t.Helper()
	var got queue.Event
	eventually(t, "an outcome", func() bool {
		evs, err := q.Events(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			switch ev.Type {
			case queue.EventDelivered, queue.EventDeferred, queue.EventBounced:
				got = ev
				return true
			}
		}
		return false
	})
	return got
}

func send(t *testing.T, q *queue.Queue, to string) string {
	t.Helper()
	rc, err := q.Enqueue(testCtx(t), message("agent@sender.test", queue.LaneNormal, to))
	if err != nil {
		t.Fatal(err)
	}
	return rc.ID
}

func TestMTASTSEnforce(t *testing.T) {
	t.Parallel()
	w := newSTSWorld(t)
	good := w.mx("mx.enforce.test", true)
	w.domain("enforce.test", "mx.enforce.test", "20261206a",
		"version: STSv1\r\nmode: enforce\r\nmx: *.enforce.test\r\nmax_age: 86400\r\n")
	w.domain("mismatch.test", "mx.enforce.test", "1",
		"version: STSv1\r\nmode: enforce\r\nmx: mx.elsewhere.test\r\nmax_age: 86400\r\n")
	dir := t.TempDir()
	d, q := w.deliverer(good.Port(), dir)

	t.Run("matching MX delivers over verified TLS", func(t *testing.T) {
		ev := outcome(t, q, send(t, q, "ok@enforce.test"))
		if ev.Type != queue.EventDelivered || !ev.TLS || ev.MXHost != "mx.enforce.test" {
			t.Fatalf("event %+v, want delivered over TLS by mx.enforce.test", ev)
		}
	})
	t.Run("mismatched MX defers", func(t *testing.T) {
		n := good.Count()
		ev := outcome(t, q, send(t, q, "ok@mismatch.test"))
		if ev.Type != queue.EventDeferred || !strings.Contains(ev.Detail, "MTA-STS policy of mismatch.test") ||
			!strings.Contains(ev.Detail, "mx.enforce.test") {
			t.Fatalf("event %+v, want deferred naming the policy and the MX", ev)
		}
		if good.Count() != n {
			t.Fatal("the MX received the message despite the policy")
		}
	})

	rpts, err := d.TLSReports(testCtx(t), time.Now().UTC().Format(time.DateOnly), true)
	if err != nil {
		t.Fatal(err)
	}
	byDomain := map[string]*mta.TLSReport{}
	for _, r := range rpts {
		byDomain[r.Policies[0].Policy.PolicyDomain] = r
	}
	if r := byDomain["enforce.test"]; r == nil || r.Policies[0].Summary.Success != 1 || r.Policies[0].Policy.PolicyType != "sts" {
		t.Fatalf("enforce.test report %+v", r)
	}
	if r := byDomain["mismatch.test"]; r == nil || r.Policies[0].Summary.Failure != 1 ||
		r.Policies[0].FailureDetails[0].ResultType != "validation-failure" {
		t.Fatalf("mismatch.test report %+v", r)
	}
	eventually(t, "two reports POSTed", func() bool { w.mu.Lock(); defer w.mu.Unlock(); return len(w.reports) == 2 })
	for i, b := range w.reports {
		if w.rptTypes[i] != "application/tlsrpt+gzip" {
			t.Errorf("report content type %q", w.rptTypes[i])
		}
		mtatest.CheckTLSRPT(t, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "tlsrpt", time.Now().UTC().Format(time.DateOnly), "enforce.test.json")); err != nil {
		t.Errorf("report not kept in the data dir: %v", err)
	}
}

func TestMTASTSEnforceUntrustedCertificateDefers(t *testing.T) {
	t.Parallel()
	w := newSTSWorld(t)
	selfSigned := w.mx("mx.untrusted.test", false)
	w.domain("untrusted.test", "mx.untrusted.test", "1",
		"version: STSv1\nmode: enforce\nmx: mx.untrusted.test\nmax_age: 86400\n")
	d, q := w.deliverer(selfSigned.Port(), t.TempDir())
	ev := outcome(t, q, send(t, q, "ok@untrusted.test"))
	if ev.Type != queue.EventDeferred || !strings.Contains(ev.Detail, "valid certificate for mx.untrusted.test") {
		t.Fatalf("event %+v, want deferred for the certificate", ev)
	}
	if selfSigned.Count() != 0 {
		t.Fatal("delivered over an unverified session")
	}
	rpts, err := d.TLSReports(testCtx(t), time.Now().UTC().Format(time.DateOnly), false)
	if err != nil || len(rpts) != 1 {
		t.Fatalf("reports %v %v", rpts, err)
	}
	fd := rpts[0].Policies[0].FailureDetails
	if len(fd) != 1 || fd[0].ResultType != "certificate-not-trusted" || fd[0].ReceivingMXHostname != "mx.untrusted.test" {
		t.Fatalf("failure details %+v", fd)
	}
}

func TestMTASTSTestingDeliversAndReports(t *testing.T) {
	t.Parallel()
	w := newSTSWorld(t)
	selfSigned := w.mx("mx.testing.test", false)
	w.domain("testing.test", "mx.testing.test", "1",
		"version: STSv1\nmode: testing\nmx: mx.other.test\nmax_age: 86400\n")
	d, q := w.deliverer(selfSigned.Port(), t.TempDir())
	ev := outcome(t, q, send(t, q, "ok@testing.test"))
	if ev.Type != queue.EventDelivered {
		t.Fatalf("event %+v, want delivered (testing mode only reports)", ev)
	}
	rpts, err := d.TLSReports(testCtx(t), time.Now().UTC().Format(time.DateOnly), false)
	if err != nil || len(rpts) != 1 {
		t.Fatalf("reports %v %v", rpts, err)
	}
	p := rpts[0].Policies[0]
	if p.Policy.PolicyType != "sts" || p.Summary.Failure != 1 || p.FailureDetails[0].ResultType != "validation-failure" ||
		!strings.Contains(strings.Join(p.Policy.PolicyString, "\n"), "mode: testing") {
		t.Fatalf("policy %+v", p)
	}
	b, _ := json.Marshal(rpts[0])
	mtatest.CheckTLSRPT(t, b)
}

func TestMTASTSCacheSurvivesRestart(t *testing.T) {
	t.Parallel()
	w := newSTSWorld(t)
	mx := w.mx("mx.cached.test", true)
	w.domain("cached.test", "mx.cached.test", "1",
		"version: STSv1\nmode: enforce\nmx: mx.cached.test\nmax_age: 86400\n")
	dir := t.TempDir()
	_, q := w.deliverer(mx.Port(), dir)
	if ev := outcome(t, q, send(t, q, "ok@cached.test")); ev.Type != queue.EventDelivered {
		t.Fatalf("event %+v", ev)
	}
	// An attacker strips the TXT record, the policy host goes away and the MX changes: the
	// restarted node still enforces the cached policy.
	w.dns.Delete("_mta-sts.cached.test")
	w.mu.Lock()
	delete(w.policies, "mta-sts.cached.test")
	w.mu.Unlock()
	w.dns.Set("cached.test", mtatest.Records{MX: []net.MX{{Host: "evil.attacker.test.", Pref: 10}}})
	w.dns.Set("evil.attacker.test", mtatest.Records{A: []string{"127.0.0.1"}})
	_, q2 := w.deliverer(mx.Port(), dir)
	ev := outcome(t, q2, send(t, q2, "ok@cached.test"))
	if ev.Type != queue.EventDeferred || !strings.Contains(ev.Detail, "evil.attacker.test") {
		t.Fatalf("event %+v, want deferred by the cached policy", ev)
	}
	if w.fetchCount("mta-sts.cached.test") != 1 {
		t.Fatalf("%d fetches, want 1 (the cache on disk)", w.fetchCount("mta-sts.cached.test"))
	}
}

func TestMTASTSFetchFailuresMeanNoPolicy(t *testing.T) {
	t.Parallel()
	w := newSTSWorld(t)
	mx := w.mx("mx.x.test", false)
	// Each domain's policy cannot be used: a redirect, a body over the cap, the wrong media
	// type. RFC 8461 §5.1: deliver as without a policy, and report the failure.
	w.domain("redirect.test", "mx.x.test", "1", "")
	w.domain("big.test", "mx.x.test", "1", "version: STSv1\nmode: enforce\nmx: nothing.test\nmax_age: 1\n"+strings.Repeat("x: y\n", 20000))
	w.domain("html.test", "mx.x.test", "1", "")
	w.mu.Lock()
	w.policies["mta-sts.html.test"] = "version: STSv1\nmode: enforce\nmx: nothing.test\nmax_age: 86400\n"
	w.mu.Unlock()
	d, q := w.deliverer(mx.Port(), t.TempDir())
	for _, dom := range []string{"redirect.test", "big.test", "html.test"} {
		if ev := outcome(t, q, send(t, q, "ok@"+dom)); ev.Type != queue.EventDelivered {
			t.Fatalf("%s: event %+v, want delivered as without a policy", dom, ev)
		}
	}
	if n := w.fetchCount("mta-sts.enforce.test"); n != 0 {
		t.Fatalf("the redirect was followed (%d fetches of its target)", n)
	}
	rpts, err := d.TLSReports(testCtx(t), time.Now().UTC().Format(time.DateOnly), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rpts {
		var types []string
		for _, p := range r.Policies {
			for _, f := range p.FailureDetails {
				types = append(types, f.ResultType)
			}
		}
		if !strings.Contains(strings.Join(types, ","), "sts-policy-fetch-error") {
			t.Errorf("%s: failure types %v, want sts-policy-fetch-error", r.Policies[0].Policy.PolicyDomain, types)
		}
	}
}

func TestMTASTSFetchRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	w := newSTSWorld(t)
	mx := w.mx("mx.enforce.test", true)
	w.domain("enforce.test", "mx.enforce.test", "1",
		"version: STSv1\nmode: enforce\nmx: nowhere.test\nmax_age: 86400\n")
	q := openQueue(t, queue.Options{BackoffInitial: time.Hour, BackoffMax: time.Hour})
	d := mta.New(q, mta.Options{Hostname: "out.sender.test", Resolver: w.resolver(), MXPort: mx.Port(),
		MTASTS: &mta.STSOptions{Port: w.webPort, RootCAs: w.ca.Pool()}}) // no AllowNetworks
	runDeliverer(t, d)
	if ev := outcome(t, q, send(t, q, "ok@enforce.test")); ev.Type != queue.EventDelivered {
		t.Fatalf("event %+v: the policy on a loopback address was used", ev)
	}
	if n := w.fetchCount("mta-sts.enforce.test"); n != 0 {
		t.Fatalf("%d fetches reached a loopback address", n)
	}
}

func sendMsg(t *testing.T, q *queue.Queue, m *queue.Message) string {
	t.Helper()
	rc, err := q.Enqueue(testCtx(t), m)
	if err != nil {
		t.Fatal(err)
	}
	return rc.ID
}

func TestREQUIRETLS(t *testing.T) {
	t.Parallel()
	w := newSTSWorld(t)
	ca := w.ca
	cfg, err := ca.ServerTLS(0, "mx.enforce.test", "mx.testing.test")
	if err != nil {
		t.Fatal(err)
	}
	mx := mtatest.NewMX(t, mtatest.MXOptions{Hostname: "mx.enforce.test", TLSConfig: cfg, REQUIRETLS: true})
	w.domain("enforce.test", "mx.enforce.test", "1", "version: STSv1\nmode: enforce\nmx: mx.enforce.test\nmax_age: 86400\n")
	w.domain("testing.test", "mx.testing.test", "1", "version: STSv1\nmode: testing\nmx: mx.testing.test\nmax_age: 86400\n")
	w.domain("cached.test", "mx.cached.test", "", "") // no MTA-STS policy
	_, q := w.deliverer(mx.Port(), t.TempDir())

	rtls := func(to string) *queue.Message {
		m := message("agent@sender.test", queue.LaneNormal, to)
		m.RequireTLS = true
		return m
	}
	t.Run("relayed with REQUIRETLS over verified TLS", func(t *testing.T) {
		for _, to := range []string{"ok@enforce.test", "ok@testing.test"} {
			ev := outcome(t, q, sendMsg(t, q, rtls(to)))
			if ev.Type != queue.EventDelivered || !ev.TLS {
				t.Fatalf("%s: event %+v, want delivered over TLS", to, ev)
			}
		}
		msgs := mx.Messages()
		if len(msgs) != 2 || !msgs[0].RequireTLS || !msgs[1].RequireTLS {
			t.Fatalf("MX saw %+v, want two messages with MAIL FROM … REQUIRETLS", msgs)
		}
	})
	t.Run("no policy bounces 5.7.30", func(t *testing.T) {
		ev := outcome(t, q, sendMsg(t, q, rtls("ok@cached.test")))
		if ev.Type != queue.EventBounced || ev.EnhancedCode != "5.7.30" || !strings.Contains(ev.Detail, "REQUIRETLS") {
			t.Fatalf("event %+v, want bounced 5.7.30", ev)
		}
	})
}

func TestREQUIRETLSNotOfferedBounces(t *testing.T) {
	t.Parallel()
	w := newSTSWorld(t)
	mx := w.mx("mx.enforce.test", true) // verified TLS, but no REQUIRETLS
	w.domain("enforce.test", "mx.enforce.test", "1", "version: STSv1\nmode: enforce\nmx: mx.enforce.test\nmax_age: 86400\n")
	_, q := w.deliverer(mx.Port(), t.TempDir())
	m := message("agent@sender.test", queue.LaneNormal, "ok@enforce.test")
	m.RequireTLS = true
	ev := outcome(t, q, sendMsg(t, q, m))
	if ev.Type != queue.EventBounced || ev.EnhancedCode != "5.7.30" || !strings.Contains(ev.Detail, "does not offer REQUIRETLS") {
		t.Fatalf("event %+v, want bounced 5.7.30", ev)
	}
	if mx.Count() != 0 {
		t.Fatal("relayed to a host without REQUIRETLS")
	}
}

// "TLS-Required: No" (RFC 8689 §5): an enforce policy whose MX does not match and whose MX
// certificate does not verify does not stop the message.
func TestTLSRequiredNoSkipsPolicy(t *testing.T) {
	t.Parallel()
	w := newSTSWorld(t)
	mx := w.mx("mx.untrusted.test", false)
	w.domain("untrusted.test", "mx.untrusted.test", "1", "version: STSv1\nmode: enforce\nmx: mx.elsewhere.test\nmax_age: 86400\n")
	_, q := w.deliverer(mx.Port(), t.TempDir())
	m := message("agent@sender.test", queue.LaneNormal, "ok@untrusted.test")
	m.Body = append([]byte("TLS-Required: No\r\n"), m.Body...)
	ev := outcome(t, q, sendMsg(t, q, m))
	if ev.Type != queue.EventDelivered || !ev.TLS {
		t.Fatalf("event %+v, want delivered over opportunistic TLS", ev)
	}
	// Without the header the same policy defers.
	ev = outcome(t, q, send(t, q, "ok@untrusted.test"))
	if ev.Type != queue.EventDeferred {
		t.Fatalf("event %+v, want deferred", ev)
	}
}
