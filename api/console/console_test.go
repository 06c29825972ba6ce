package console

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/crypto/bcrypt"

	"multimail.dev/multimail/api"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/submission"
	"multimail.dev/multimail/throttle"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a real API (memory directory, Pebble queue in memory, submitter, throttle) with the
// console in front, served on 127.0.0.1.
type env struct {
	t     *testing.T
	q     *queue.Queue
	sub   *submission.Submitter
	con   *Console
	links *Links
	clock *fakeClock
	srv   *httptest.Server
	keys  map[string]string
	store mailbox.Store
}

const pw = "mailbox-password-1"

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(db, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close(); _ = db.Close() })
	st := mailbox.NewMemory()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	if err := st.AddDomain(ctx, mailbox.Domain{Name: "example.com", DKIMSelector: "mm1",
		DKIMKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}); err != nil {
		t.Fatal(err)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	for _, a := range []string{"a@example.com", "b@example.com"} {
		if err := st.AddMailbox(ctx, mailbox.Mailbox{Address: a, Oversight: mailbox.GatedSend, PasswordHash: string(h),
			OversightAddress: "boss@overseer.test"}); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, q: q, keys: map[string]string{}, clock: &fakeClock{t: time.Now()}, store: st}
	for name, k := range map[string]mailbox.APIKey{
		"agentA":    {Mailboxes: []string{"a@example.com"}, Scopes: []string{"send", "read"}},
		"agentB":    {Mailboxes: []string{"b@example.com"}, Scopes: []string{"send"}},
		"approverA": {Mailboxes: []string{"a@example.com"}, Scopes: []string{"approve"}},
		"readerA":   {Mailboxes: []string{"a@example.com"}, Scopes: []string{"read"}},
		"operator":  {Mailboxes: []string{"*"}, Scopes: []string{"approve", "admin"}},
	} {
		plain, hash := mailbox.NewAPIKeySecret()
		k.ID, k.Hash = "key_"+name, hash
		if err := st.AddAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		e.keys[name] = plain
	}
	e.links = NewLinks(LinkOptions{BaseURL: "http://127.0.0.1", Lifetime: time.Hour, Clock: e.clock})
	e.sub, err = submission.New(submission.Options{Queue: q, Store: st, Hostname: "mx.test", Links: e.links})
	if err != nil {
		t.Fatal(err)
	}
	thr, err := throttle.New(throttle.Options{MaxFailures: 5})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Store: st, Queue: q, Submitter: e.sub, RateLimit: api.RateLimit{PerSecond: -1}, Throttle: thr})
	if err != nil {
		t.Fatal(err)
	}
	e.con, err = New(Options{API: a, Links: e.links, Clock: e.clock, Hosts: []string{"console.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", e.con.Handler())
	mux.Handle("/", a.Handler())
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.con.Stop)
	return e
}

type quiet struct{}

func (quiet) Infof(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(f string, a ...any) {
	panic(f)
}

// hold sends a gated message from mailbox as key and returns its approval id.
func (e *env) hold(key, subject string) string {
	e.t.Helper()
	body := `{"mailbox_id":"` + map[string]string{"agentA": "a@example.com", "agentB": "b@example.com"}[key] +
		`","to":"x@customer.test","subject":"` + subject + `","text":"hello"}`
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/send_email", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.keys[key])
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 202 {
		e.t.Fatalf("send: %v %v", resp, err)
	}
	resp.Body.Close()
	recs, err := e.q.Approvals(context.Background(), queue.ApprovalPending)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range recs {
		if r.Subject == subject {
			return r.ID
		}
	}
	e.t.Fatalf("no approval for %q", subject)
	return ""
}

// browser is a cookie-keeping client that does not follow redirects and sends what a
// same-origin browser form post sends.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, hdr map[string]string) page {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(out)}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, p page) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf field in %d page:\n%s", p.status, p.body)
	}
	return m[1]
}

// login signs in with key and returns the sign-in answer.
func (b *browser) login(key string) page {
	b.e.t.Helper()
	lp := b.do("GET", "/console/login", nil, nil)
	return b.do("POST", "/console/login", url.Values{"key": {key}, "csrf": {csrfOf(b.e.t, lp)}}, nil)
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name, key string
		status    int
		says      string
	}{
		{"send key", e.keys["agentA"], 403, "can never decide"},
		{"read-only key", e.keys["readerA"], 403, "neither approve nor admin"},
		{"mailbox password", pw, 401, "not a valid API key"},
		{"unknown key", "mm_live_nope", 401, "not a valid API key"},
		{"approver", e.keys["approverA"], 303, ""},
		{"operator", e.keys["operator"], 303, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			p := b.login(tc.key)
			if p.status != tc.status || !strings.Contains(p.body, tc.says) {
				t.Fatalf("sign-in = %d %q, want %d saying %q", p.status, p.body, tc.status, tc.says)
			}
			if tc.status != 303 {
				return
			}
			ck := p.header.Get("Set-Cookie")
			for _, want := range []string{cookiePlain + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
				if !strings.Contains(ck, want) {
					t.Errorf("session cookie %q lacks %q", ck, want)
				}
			}
			if strings.Contains(ck, "Secure") {
				t.Errorf("plain-http cookie %q is Secure (a browser would drop it)", ck)
			}
		})
	}
}

// TestLoginThrottled: wrong keys at the sign-in count in the API's throttle; past its limit
// the form answers 429 without checking the key.
func TestLoginThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	var last page
	for range 8 {
		last = b.login("mm_live_wrong_key")
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" || !strings.Contains(last.body, "Too many failed sign-ins") {
		t.Fatalf("after 8 wrong keys: %d %q", last.status, last.body)
	}
}

// TestSessionLifetime: idle and absolute expiry, sign-out, and a new id at every sign-in.
func TestSessionLifetime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	if p := b.login(e.keys["approverA"]); p.status != 303 {
		t.Fatal(p.status)
	}
	ok := func() bool { return b.do("GET", "/console/approvals", nil, nil).status == 200 }
	first := cookieValue(b)
	if !ok() {
		t.Fatal("fresh session refused")
	}
	if b.login(e.keys["approverA"]); cookieValue(b) == first {
		t.Fatal("sign-in kept the session id")
	}
	old := first
	b2 := e.browser()
	u, _ := url.Parse(e.srv.URL)
	b2.c.Jar.SetCookies(u, []*http.Cookie{{Name: cookiePlain, Value: old}})
	if b2.do("GET", "/console/approvals", nil, nil).status == 200 {
		t.Fatal("the session id from before the second sign-in still works")
	}
	// Idle: 29 minutes between requests keep it alive, 31 end it.
	for range 3 {
		e.clock.Add(29 * time.Minute)
		if !ok() {
			t.Fatal("active session ended")
		}
	}
	e.clock.Add(31 * time.Minute)
	if ok() {
		t.Fatal("idle session still alive after 31 min")
	}
	// Absolute: 12 h even when active.
	b.login(e.keys["approverA"])
	for range 25 {
		e.clock.Add(29 * time.Minute)
		ok()
	}
	if ok() {
		t.Fatal("session alive past 12 h")
	}
	// Sign-out.
	b.login(e.keys["approverA"])
	p := b.do("GET", "/console/approvals", nil, nil)
	b.do("POST", "/console/logout", url.Values{"csrf": {csrfOf(t, p)}}, nil)
	if ok() {
		t.Fatal("session alive after sign-out")
	}
}

func cookieValue(b *browser) string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == cookiePlain {
			return c.Value
		}
	}
	return ""
}

// TestForgedPosts: a decision needs the session's CSRF token and a same-origin request; the
// Host must be the console's (DNS rebinding).
func TestForgedPosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	b.login(e.keys["approverA"])
	csrf := csrfOf(t, b.do("GET", "/console/approvals", nil, nil))
	for _, tc := range []struct {
		name   string
		csrf   string
		hdr    map[string]string
		status int
	}{
		{"no token", "", nil, 403},
		{"wrong token", "x" + csrf, nil, 403},
		{"cross-site fetch", csrf, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site other origin", csrf, map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"foreign Origin, no Sec-Fetch", csrf, map[string]string{"Sec-Fetch-Site": "", "Origin": "http://evil.test"}, 403},
		{"rebinding Host", csrf, map[string]string{"Host": "evil.test"}, 421},
		{"good", csrf, nil, 303},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.hold("agentA", "forged "+tc.name)
			form := url.Values{"approve": {id}}
			if tc.csrf != "" {
				form.Set("csrf", tc.csrf)
			}
			p := b.do("POST", "/console/approvals/decide", form, tc.hdr)
			if p.status != tc.status {
				t.Fatalf("status %d %q, want %d", p.status, p.body, tc.status)
			}
			rec, _ := e.q.Approval(context.Background(), id)
			if decided := rec.State != queue.ApprovalPending; decided != (tc.status == 303) {
				t.Fatalf("state %s after %d", rec.State, p.status)
			}
		})
	}
	for _, host := range []string{"localhost", "127.0.0.1", "[::1]:8025", "console.example.com", "LOCALHOST."} {
		if p := b.do("GET", "/console/login", nil, map[string]string{"Host": host}); p.status != 303 && p.status != 200 {
			t.Errorf("Host %s: %d", host, p.status)
		}
	}
}

// TestHeaders: every console response carries the strict headers; the held HTML its own CSP.
func TestHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	p := b.do("GET", "/console/login", nil, nil)
	for k, want := range map[string]string{
		"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY",
		"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
	} {
		if !strings.Contains(p.header.Get(k), want) {
			t.Errorf("%s = %q, want %q", k, p.header.Get(k), want)
		}
	}
	if strings.Contains(p.header.Get("Content-Security-Policy"), "unsafe") {
		t.Errorf("page CSP allows unsafe: %s", p.header.Get("Content-Security-Policy"))
	}
	b.login(e.keys["approverA"])
	id := e.hold("agentA", "html")
	h := b.do("GET", "/console/approvals/"+id+"/html", nil, nil)
	if csp := h.header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'") || !strings.Contains(csp, "sandbox") {
		t.Errorf("held HTML CSP = %q", csp)
	}
}

// TestApproverScoped: an approver of a@ neither lists, opens nor decides b@'s sends.
func TestApproverScoped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	idA := e.hold("agentA", "send of a")
	idB := e.hold("agentB", "send of b")
	b := e.browser()
	b.login(e.keys["approverA"])
	list := b.do("GET", "/console/approvals", nil, nil)
	if !strings.Contains(list.body, idA) || strings.Contains(list.body, idB) || strings.Contains(list.body, "send of b") {
		t.Fatalf("approver of a@ sees:\n%s", list.body)
	}
	if p := b.do("GET", "/console/approvals/"+idB, nil, nil); p.status != 404 || strings.Contains(p.body, "send of b") {
		t.Fatalf("b's approval page: %d", p.status)
	}
	if p := b.do("GET", "/console/approvals/"+idB+"/html", nil, nil); p.status != 404 {
		t.Fatalf("b's HTML: %d", p.status)
	}
	csrf := csrfOf(t, list)
	p := b.do("POST", "/console/approvals/decide", url.Values{"csrf": {csrf}, "bulk": {"approve"}, "id": {idA, idB}}, nil)
	if loc, _ := url.QueryUnescape(p.header.Get("Location")); !strings.Contains(loc, "Approved 1.") || !strings.Contains(loc, "Not decided: "+idB) {
		t.Fatalf("bulk approve: %d %s", p.status, loc)
	}
	ra, _ := e.q.Approval(context.Background(), idA)
	rb, _ := e.q.Approval(context.Background(), idB)
	if ra.State != queue.ApprovalApproved || rb.State != queue.ApprovalPending {
		t.Fatalf("states a=%s b=%s", ra.State, rb.State)
	}
}

// TestRejectNeedsReason: a rejection without a reason decides nothing.
func TestRejectNeedsReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.hold("agentA", "to reject")
	b := e.browser()
	b.login(e.keys["approverA"])
	csrf := csrfOf(t, b.do("GET", "/console/approvals", nil, nil))
	b.do("POST", "/console/approvals/decide", url.Values{"csrf": {csrf}, "reject": {id}}, nil)
	if r, _ := e.q.Approval(context.Background(), id); r.State != queue.ApprovalPending {
		t.Fatalf("rejected without a reason: %s", r.State)
	}
	b.do("POST", "/console/approvals/decide", url.Values{"csrf": {csrf}, "reject": {id}, "reason-" + id: {"not ours"}}, nil)
	if r, _ := e.q.Approval(context.Background(), id); r.State != queue.ApprovalRejected || r.Reason != "not ours" || r.By != "console:key_approverA" {
		t.Fatalf("after reject: %+v", r)
	}
}

// TestLinks: the one-click tokens are bound to their approval and decision, unforgeable,
// expiring, and valid across a restart with the same key (single use: TestLinkFlow, TestLinkRace).
func TestLinks(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := NewLinks(LinkOptions{BaseURL: "http://127.0.0.1:8025", Lifetime: time.Hour, Clock: clock})
	tok := func(u string) string { return u[strings.LastIndex(u, "/")+1:] }
	a, r, ok := l.DecisionLinks("apr_1", "a@example.com", time.Time{})
	if !ok || !strings.HasPrefix(a, "http://127.0.0.1:8025/console/d/") {
		t.Fatalf("links %q %q %v", a, r, ok)
	}
	if id, d, err := l.Peek(tok(a)); err != nil || id != "apr_1" || d != decideApprove {
		t.Fatalf("peek approve: %s %s %v", id, d, err)
	}
	if _, d, _ := l.Peek(tok(r)); d != decideReject {
		t.Fatalf("reject token decides %s", d)
	}
	// Tampering with the payload (another approval, or the decision) breaks the MAC.
	p, mac, _ := strings.Cut(tok(a), ".")
	if _, _, err := l.Peek(p[:len(p)-2] + "xx." + mac); err != ErrLinkInvalid {
		t.Fatalf("tampered token: %v", err)
	}
	// A restarted node with the same key (data_dir/console-links.key) takes the links it
	// mailed before; a node with another key refuses them.
	same := NewLinks(LinkOptions{BaseURL: "http://127.0.0.1:8025", Key: l.key, Lifetime: time.Hour, Clock: clock})
	if id, d, err := same.Peek(tok(r)); err != nil || id != "apr_1" || d != decideReject {
		t.Fatalf("after a restart with the same key: %s %s %v", id, d, err)
	}
	other := NewLinks(LinkOptions{BaseURL: "http://127.0.0.1:8025", Lifetime: time.Hour, Clock: clock})
	if _, _, err := other.Peek(tok(a)); err != ErrLinkInvalid {
		t.Fatalf("another key: %v", err)
	}
	// Expiry: the lifetime, or the message's expires_at when earlier.
	a2, _, _ := l.DecisionLinks("apr_2", "a@example.com", clock.Now().Add(10*time.Minute))
	a3, _, _ := l.DecisionLinks("apr_3", "a@example.com", time.Time{})
	clock.Add(11 * time.Minute)
	if _, _, err := l.Peek(tok(a2)); err != ErrLinkExpired {
		t.Fatalf("past expires_at: %v", err)
	}
	if _, _, err := l.Peek(tok(a3)); err != nil {
		t.Fatalf("within lifetime: %v", err)
	}
	clock.Add(time.Hour)
	if _, _, err := l.Peek(tok(a3)); err != ErrLinkExpired {
		t.Fatalf("past lifetime: %v", err)
	}
	// A mailbox whose oversight address the agent can read gets no links.
	l.Disable("A@example.com", "test")
	if _, _, ok := l.DecisionLinks("apr_4", "a@example.com", time.Time{}); ok {
		t.Fatal("links minted for a disabled mailbox")
	}
	if l.Allowed("a@example.com") || !l.Allowed("b@example.com") {
		t.Fatal("Allowed does not follow Disable")
	}
}

// TestLinkFlow: the approval request carries the links; GET shows and decides nothing; POST
// decides once, as the oversight address; the token is never in the log.
func TestLinkFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.hold("agentA", "linked")
	body := noticeBody(t, e, "Approval needed: linked")
	m := regexp.MustCompile(`Reject:\s+http://127\.0\.0\.1(/console/d/\S+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no reject link in:\n%s", body)
	}
	b := e.browser()
	for range 2 {
		if p := b.do("GET", m[1], nil, nil); p.status != 200 || !strings.Contains(p.body, "Reason for rejecting") {
			t.Fatalf("confirmation page: %d %s", p.status, p.body)
		}
	}
	if r, _ := e.q.Approval(context.Background(), id); r.State != queue.ApprovalPending {
		t.Fatalf("GET decided: %s", r.State)
	}
	if p := b.do("POST", m[1], url.Values{"reason": {"no"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); p.status != 403 {
		t.Fatalf("cross-site link post: %d", p.status)
	}
	if p := b.do("POST", m[1], url.Values{"reason": {"not this one"}}, nil); p.status != 200 || !strings.Contains(p.body, "Rejected") {
		t.Fatalf("link post: %d %s", p.status, p.body)
	}
	r, _ := e.q.Approval(context.Background(), id)
	if r.State != queue.ApprovalRejected || r.By != "oversight:boss@overseer.test" || r.Reason != "not this one" {
		t.Fatalf("decision: %+v", r)
	}
	if p := b.do("POST", m[1], url.Values{"reason": {"again"}}, nil); p.status != 410 {
		t.Fatalf("second use: %d", p.status)
	}
	// The approve link of the same approval is used up with it.
	a := regexp.MustCompile(`Approve:\s+http://127\.0\.0\.1(/console/d/\S+)`).FindStringSubmatch(body)
	if a == nil {
		t.Fatalf("no approve link in:\n%s", body)
	}
	if p := b.do("POST", a[1], nil, nil); p.status != 410 {
		t.Fatalf("approve after reject: %d %s", p.status, p.body)
	}
	if r, _ := e.q.Approval(context.Background(), id); r.State != queue.ApprovalRejected {
		t.Fatalf("approve link changed a rejected approval: %s", r.State)
	}
}

// TestLinkRace: the approve and the reject link of one approval clicked at once, from two
// browsers: exactly one decides, the other is told the link was used.
func TestLinkRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.hold("agentA", "raced")
	body := noticeBody(t, e, "Approval needed: raced")
	a := regexp.MustCompile(`Approve:\s+http://127\.0\.0\.1(/console/d/\S+)`).FindStringSubmatch(body)
	r := regexp.MustCompile(`Reject:\s+http://127\.0\.0\.1(/console/d/\S+)`).FindStringSubmatch(body)
	if a == nil || r == nil {
		t.Fatalf("links missing in:\n%s", body)
	}
	ba, br := e.browser(), e.browser()
	codes := make(chan int, 2)
	go func() { codes <- ba.do("POST", a[1], nil, nil).status }()
	go func() { codes <- br.do("POST", r[1], url.Values{"reason": {"race"}}, nil).status }()
	got := map[int]int{}
	for range 2 {
		got[<-codes]++
	}
	if got[200] != 1 || got[410] != 1 {
		t.Fatalf("statuses %v, want one 200 and one 410", got)
	}
	if rec, _ := e.q.Approval(context.Background(), id); rec.State == queue.ApprovalPending {
		t.Fatal("neither click decided")
	}
}

// noticeBody waits for the oversight message with subject and returns its text, with
// quoted-printable soft breaks joined.
func noticeBody(t *testing.T, e *env, subject string) string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		list, err := e.q.List(ctx, queue.ListFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range list {
			if st.Subject == subject {
				raw, err := e.q.Body(ctx, st.ID)
				if err != nil {
					t.Fatal(err)
				}
				return strings.ReplaceAll(string(raw), "=\r\n", "")
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no oversight message %q", subject)
	return ""
}

func TestMismatchedLinkText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text, href string
		want       bool
	}{
		{"http://bank.test/", "http://evil.test/login", true},
		{"bank.test", "https://evil.test/", true},
		{"https://bank.test/login", "https://bank.test/other", false},
		{"click here", "https://evil.test/", false},
		{"", "https://evil.test/", false},
	} {
		if got := mismatch(tc.text, tc.href); got != tc.want {
			t.Errorf("mismatch(%q, %q) = %v", tc.text, tc.href, got)
		}
	}
}
