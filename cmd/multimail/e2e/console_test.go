package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"multimail.dev/multimail/internal/interoptest"
	"multimail.dev/multimail/mta/mtatest"
)

// The console test's mailboxes: held (gated, overseen by an address outside the node, so its
// approval requests reach the harness MX) and other (gated, a second tenant).
const (
	heldKey   = "mm_live_e2e_held_key_000000000001"
	otherKey  = "mm_live_e2e_othr_key_000000000001"
	heldPass  = "held-password-0001"
	overseer  = "boss@overseer.test"
	consoleMB = `
[[mailbox]]
address = "held@example.com"
oversight = "gated_send"
oversight_address = "boss@overseer.test"
password = "held-password-0001"
api_keys = ["mm_live_e2e_held_key_000000000001"]

[[mailbox]]
address = "other@example.com"
oversight = "gated_send"
api_keys = ["mm_live_e2e_othr_key_000000000001"]
`
)

// browser starts headless Debian chromium with no network of its own beyond loopback, or
// skips (fails under MULTIMAIL_INTEROP=1).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := interoptest.Tool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true), // the tests run as root
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE 127.0.0.2, EXCLUDE 127.0.0.3"),
		chromedp.WindowSize(1200, 900),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// shots is where the test saves its screenshots (kept after the test, for a person to look
// at; MULTIMAIL_CONSOLE_SHOTS names the directory, else a new temp dir).
func shots(t *testing.T) string {
	dir := os.Getenv("MULTIMAIL_CONSOLE_SHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "multimail-console-shots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second) // one step, not the browser's life
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatal(err)
	}
}

// js is a step that runs a script and ignores its value.
func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, tg)
		return err
	})
}

// eval evaluates a JS expression in the page.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitJS polls a JS boolean expression until it is true (deadline d).
func waitJS(t *testing.T, ctx context.Context, d time.Duration, js string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("not true within %v: %s\npage:\n%s", d, js, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bodyHas waits until the page's text contains s.
func bodyHas(t *testing.T, ctx context.Context, s string) {
	t.Helper()
	b, _ := json.Marshal(s)
	waitJS(t, ctx, 10*time.Second, `document.body && document.body.innerText.includes(`+string(b)+`)`)
}

// signIn signs in on the console's form with key.
func signIn(t *testing.T, ctx context.Context, n *Node, key string) {
	t.Helper()
	run(t, ctx, chromedp.Navigate(n.URL("/console/login")), chromedp.WaitVisible(chromedp.ID("#key")))
	run(t, ctx, chromedp.SendKeys(chromedp.ID("#key"), key), chromedp.Submit(chromedp.ID("#key")))
	waitJS(t, ctx, 10*time.Second, `document.readyState === "complete" && !document.querySelector("#key") || !!document.querySelector(".error")`)
}

func signOut(t *testing.T, ctx context.Context, n *Node) {
	t.Helper()
	run(t, ctx, chromedp.Navigate(n.URL("/console/approvals")), chromedp.Click(chromedp.CSS(".signout button")))
	waitJS(t, ctx, 10*time.Second, `!!document.querySelector("#key")`)
}

// held sends a gated message as mailbox with key and returns its message and approval ids.
func held(t *testing.T, n *Node, key, mailbox, subject, html string) (msgID, aprID string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"mailbox_id": mailbox, "to": "someone@customer.test",
		"subject": subject, "text": "plain text of " + subject, "html": html, "tags": []string{"console-e2e"}})
	code, out := n.Do("POST", "/v1/send_email", key, body)
	if code != 202 || !strings.Contains(string(out), "pending_approval") {
		t.Fatalf("held send = %d %s", code, out)
	}
	var r sendResp
	_ = json.Unmarshal(out, &r)
	return r.MessageID, approvalOf(t, n, key, r.MessageID)
}

func approvalOf(t *testing.T, n *Node, key, msgID string) string {
	t.Helper()
	var m struct {
		Status   string `json:"status"`
		Approval *struct {
			ID    string `json:"approval_id"`
			State string `json:"state"`
		} `json:"approval"`
	}
	code, out := n.Do("GET", "/v1/messages/"+msgID, key, nil)
	if code != 200 || json.Unmarshal(out, &m) != nil || m.Approval == nil {
		t.Fatalf("message %s = %d %s", msgID, code, out)
	}
	return m.Approval.ID
}

// state is the approval state of a message, as its sender's key sees it.
func state(t *testing.T, n *Node, key, msgID string) (status, trail string) {
	t.Helper()
	code, out := n.Do("GET", "/v1/messages/"+msgID, key, nil)
	if code != 200 {
		t.Fatalf("message %s = %d %s", msgID, code, out)
	}
	var m struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(out, &m)
	return m.Status, string(out)
}

// remote is a server on another loopback address standing for the internet: a held message's
// HTML points its images and scripts there, and nothing may reach it.
func remote(t *testing.T) (base string, hits *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 not usable: %v", err)
	}
	hits = &atomic.Int64{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		t.Logf("remote server hit: %s %s", r.Method, r.URL)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), hits
}

// attacker serves a page on another origin whose form posts to the console by itself.
func attacker(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Skipf("127.0.0.3 not usable: %v", err)
	}
	page := `<!doctype html><form id=f method=post action="` + target + `/console/approvals/decide">
<input name=approve value="%s"><input name=csrf value="guess"></form><script>document.getElementById("f").submit()</script>`
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, page, r.URL.Query().Get("id"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

var decisionLink = regexp.MustCompile(`(Approve|Reject):\s+(http://\S+/console/d/[A-Za-z0-9_.-]+)`)

// TestConsole drives the approver's console in headless chromium against the real binary:
// sign-in (refusing send keys and passwords), a gated send appearing without reload, approve
// to the MX, reject with a reason, the one-click link from the real approval email (used after a
// restart), forged posts refused, held HTML that can neither run script nor load a remote
// image, and an approver of one mailbox blind to another's sends. It saves a screenshot of every page.
func TestConsole(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	dir := shots(t)
	n := Start(t, Options{Config: consoleMB})
	remoteBase, hits := remote(t)
	keyFor := func(mailbox, scopes string) string {
		out := n.mustCLI(t, "key", "create", "--mailbox", mailbox, "--scope", scopes)
		m := apiKeyLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("key create printed no key:\n%s", out)
		}
		return m[1]
	}
	approverA := keyFor("held@example.com", "approve,read")
	admin := keyFor("*", "approve,admin")

	// Sign-in refusals: a key that can send, a mailbox password, then the approver.
	run(t, ctx, chromedp.Navigate(n.URL("/console/")), chromedp.WaitVisible(chromedp.ID("#key")))
	shoot(t, ctx, dir, "01-login")
	signIn(t, ctx, n, heldKey)
	bodyHas(t, ctx, "can never decide approvals")
	shoot(t, ctx, dir, "02-login-refused-send-key")
	signIn(t, ctx, n, heldPass)
	bodyHas(t, ctx, "not a valid API key")
	signIn(t, ctx, n, approverA)
	bodyHas(t, ctx, "Pending, oldest first")

	// A gated send appears without a reload.
	run(t, ctx, js(`window.__noReload = 1`))
	html := `<p>Hello <b>reviewer</b></p><img src="` + remoteBase + `/pixel.png" alt="tracker">` +
		`<script>document.title="pwned";fetch("` + remoteBase + `/script")</script>` +
		`<img src="data:," onerror="fetch('` + remoteBase + `/onerror')">` +
		`<a href="http://evil.test/login">http://bank.test/</a>`
	sent := time.Now()
	m1, a1 := held(t, n, heldKey, "held@example.com", "first held send", html)
	waitJS(t, ctx, 10*time.Second, `!!document.getElementById("row-`+a1+`")`)
	appeared := time.Since(sent)
	// Speed is measured, not asserted (a loaded CI machine is slower): the time is logged and
	// reported; what the test asserts is that the row came live, without a reload.
	t.Logf("gated send to its row on the open approvals page: %v", appeared)
	if !eval[bool](t, ctx, `window.__noReload === 1`) {
		t.Fatal("the page reloaded")
	}
	// Page weight of the approvals page (navigation plus its resources), fresh load.
	run(t, ctx, chromedp.Navigate(n.URL("/console/approvals")), chromedp.WaitVisible(chromedp.ID("#row-"+a1)))
	weight := eval[float64](t, ctx, `performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource")).reduce((s, e) => s + e.transferSize, 0)`)
	t.Logf("approvals page weight: %.0f bytes transferred (page, CSS, JS)", weight)
	shoot(t, ctx, dir, "03-approvals")
	run(t, ctx, chromedp.EmulateViewport(320, 800))
	shoot(t, ctx, dir, "04-approvals-320px")
	if w := eval[float64](t, ctx, `document.documentElement.scrollWidth`); w > 320 {
		t.Errorf("approvals page is %v px wide at a 320 px viewport", w)
	}
	run(t, ctx, chromedp.EmulateViewport(1200, 900))

	// The held message: text, sandboxed HTML, links with their real targets.
	run(t, ctx, chromedp.Navigate(n.URL("/console/approvals/"+a1)))
	bodyHas(t, ctx, "plain text of first held send")
	bodyHas(t, ctx, "http://evil.test/login")
	bodyHas(t, ctx, "the text names another site than the link goes to")
	if sb := eval[string](t, ctx, `document.querySelector("iframe.html").getAttribute("sandbox")`); sb != "" {
		t.Errorf("iframe sandbox = %q, want empty (no scripts, forms, popups, same-origin)", sb)
	}
	waitJS(t, ctx, 5*time.Second, `(() => { const f = document.querySelector("iframe.html"); return !!f && f.getBoundingClientRect().height > 0 })()`)
	time.Sleep(300 * time.Millisecond) // give a script or an image in the frame every chance to run
	shoot(t, ctx, dir, "05-approval-detail")
	// The HTML endpoint opened on its own: its CSP still forbids script.
	run(t, ctx, chromedp.Navigate(n.URL("/console/approvals/"+a1+"/html")))
	waitJS(t, ctx, 5*time.Second, `document.readyState === "complete"`)
	time.Sleep(300 * time.Millisecond)
	if title := eval[string](t, ctx, `document.title`); title == "pwned" {
		t.Error("a script in the held HTML ran")
	}
	if h := hits.Load(); h != 0 {
		t.Errorf("the held HTML reached the remote server %d times", h)
	}

	// Approve: it reaches the recipient's MX; the trail says who approved.
	run(t, ctx, chromedp.Navigate(n.URL("/console/approvals/"+a1)), chromedp.WaitVisible(chromedp.CSS(`button[name=approve]`)))
	run(t, ctx, chromedp.Click(chromedp.CSS(`button[name=approve]`)))
	bodyHas(t, ctx, "Approved 1.")
	mctx := Context(t, 30*time.Second)
	if _, err := n.MX.WaitUntil(mctx, func(ms []mtatest.Message) bool { return hasSubject(ms, "first held send") }); err != nil {
		t.Fatalf("approved send never reached the MX: %v", err)
	}
	run(t, ctx, chromedp.Navigate(n.URL("/console/messages/"+m1)))
	bodyHas(t, ctx, "delivered")
	bodyHas(t, ctx, "approved by console:key_")
	bodyHas(t, ctx, "at MX")
	shoot(t, ctx, dir, "06-message-trail")

	// Reject with a reason from the list: never delivered, the reason in the trail.
	run(t, ctx, chromedp.Navigate(n.URL("/console/approvals")))
	m2, a2 := held(t, n, heldKey, "held@example.com", "second held send", "")
	waitJS(t, ctx, 10*time.Second, `!!document.getElementById("row-`+a2+`")`)
	run(t, ctx, chromedp.Click(chromedp.CSS(`button[name=reject][value="`+a2+`"]`)))
	bodyHas(t, ctx, "needs a reason")
	// The live update leaves rows that are already shown alone: a reason being typed keeps its
	// node and its focus (the stream's first event, a moment after load, used to re-render).
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("#reason-"+a2)), js(`document.getElementById("reason-`+a2+`").__mark = 1`),
		chromedp.Focus(chromedp.ID("#reason-"+a2)))
	time.Sleep(time.Second) // four polls of the stream: a re-render would have happened by now
	if !eval[bool](t, ctx, `document.getElementById("reason-`+a2+`").__mark === 1 && document.activeElement.id === "reason-`+a2+`"`) {
		t.Fatal("the live update re-rendered the rows on screen (the reason field lost its node or focus)")
	}
	run(t, ctx, chromedp.WaitVisible(chromedp.ID("#reason-"+a2)), chromedp.SendKeys(chromedp.ID("#reason-"+a2), "wrong customer"),
		chromedp.Click(chromedp.CSS(`button[name=reject][value="`+a2+`"]`)))
	bodyHas(t, ctx, "Rejected 1.")
	if st, trail := state(t, n, heldKey, m2); st != "rejected" || !strings.Contains(trail, "wrong customer") {
		t.Fatalf("rejected send: %s %s", st, trail)
	}
	run(t, ctx, chromedp.Navigate(n.URL("/console/messages/"+m2)))
	bodyHas(t, ctx, "wrong customer")

	// A cross-site form post (no cookie under SameSite=Strict, cross-site by Sec-Fetch-Site)
	// and a same-site post without its CSRF token are both refused.
	m3, a3 := held(t, n, heldKey, "held@example.com", "third held send", "")
	evil := attacker(t, "http://"+Addr(n.Ports.HTTP))
	run(t, ctx, chromedp.Navigate(evil+"/?id="+a3))
	bodyHas(t, ctx, "refused")
	run(t, ctx, chromedp.Navigate(n.URL("/console/approvals")), chromedp.WaitVisible(chromedp.ID("#row-"+a3)))
	run(t, ctx, js(`document.querySelector("#decide input[name=csrf]").remove()`),
		chromedp.Click(chromedp.CSS(`button[name=approve][value="`+a3+`"]`)))
	bodyHas(t, ctx, "CSRF")
	if st, _ := state(t, n, heldKey, m3); st != "pending_approval" {
		t.Fatalf("a forged post decided the send: %s", st)
	}
	// DNS rebinding: a request naming another host is refused.
	req, _ := http.NewRequest("GET", n.URL("/console/login"), nil)
	req.Host = "rebind.attacker.test"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("foreign Host: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// One click from the real approval email, for the third send.
	var links map[string]string
	if _, err := n.MX.WaitUntil(mctx, func(ms []mtatest.Message) bool {
		for _, m := range ms {
			d := strings.ReplaceAll(string(m.Data), "=\r\n", "")
			if len(m.To) == 1 && m.To[0] == overseer && strings.Contains(d, a3) {
				links = map[string]string{}
				for _, l := range decisionLink.FindAllStringSubmatch(d, -1) {
					links[l[1]] = l[2]
				}
				return true
			}
		}
		return false
	}); err != nil || links["Approve"] == "" || links["Reject"] == "" {
		t.Fatalf("approval email with links: %v %v", links, err)
	}
	// A mail scanner fetches both links: that decides nothing.
	for _, u := range links {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if st, _ := state(t, n, heldKey, m3); st != "pending_approval" {
		t.Fatalf("following a link decided: %s", st)
	}
	signOut(t, ctx, n) // the link needs no session
	// The links survive a restart (their key is in the data dir).
	n.Stop()
	n.Restart()
	run(t, ctx, chromedp.Navigate(links["Approve"]))
	bodyHas(t, ctx, "decide this held send")
	bodyHas(t, ctx, "plain text of third held send")
	shoot(t, ctx, dir, "07-one-click-confirm")
	run(t, ctx, chromedp.Click(chromedp.CSS(`form button[type=submit]`)))
	bodyHas(t, ctx, "Approved: "+a3)
	if _, err := n.MX.WaitUntil(mctx, func(ms []mtatest.Message) bool { return hasSubject(ms, "third held send") }); err != nil {
		t.Fatalf("link-approved send never reached the MX: %v", err)
	}
	if _, trail := state(t, n, heldKey, m3); !strings.Contains(trail, "oversight:"+overseer) {
		t.Fatalf("trail does not name the oversight address: %s", trail)
	}
	// The other link of the same approval: used up with it (the page says so, without a form).
	run(t, ctx, chromedp.Navigate(links["Reject"]))
	bodyHas(t, ctx, "already decided: approved")
	if eval[bool](t, ctx, `document.querySelector("form button[type=submit]") !== null`) {
		t.Fatal("a used link still offers a decision")
	}

	// An approver of held@ neither sees nor decides other@'s sends.
	mB, aB := held(t, n, otherKey, "other@example.com", "other tenant send", "")
	signIn(t, ctx, n, approverA)
	if eval[bool](t, ctx, `document.body.innerText.includes("other tenant send")`) {
		t.Fatal("approver of held@ sees other@'s send")
	}
	run(t, ctx, chromedp.Navigate(n.URL("/console/approvals/"+aB)))
	bodyHas(t, ctx, "not found")
	run(t, ctx, chromedp.Navigate(n.URL("/console/approvals")), chromedp.WaitVisible(chromedp.ID("#decide")))
	run(t, ctx, js(`(() => { const b = document.createElement("button"); b.name = "approve"; b.value = "`+aB+`";
		b.id = "forged"; b.type = "submit"; b.setAttribute("form", "decide"); document.body.appendChild(b); })()`),
		chromedp.Click(chromedp.ID("#forged")))
	bodyHas(t, ctx, "Not decided")
	if st, _ := state(t, n, otherKey, mB); st != "pending_approval" {
		t.Fatalf("approver of held@ decided other@'s send: %s", st)
	}
	signOut(t, ctx, n)

	// The other pages, as an operator of every mailbox.
	signIn(t, ctx, n, admin)
	bodyHas(t, ctx, "other tenant send")
	run(t, ctx, chromedp.Navigate(n.URL("/console/queue")))
	bodyHas(t, ctx, "Messages per lane and state")
	bodyHas(t, ctx, "pending_approval 1") // other@'s send waits in the normal lane
	if eval[bool](t, ctx, `!!document.querySelector(".error")`) {
		t.Fatalf("queue page shows an error: %s", eval[string](t, ctx, `document.querySelector(".error").innerText`))
	}
	shoot(t, ctx, dir, "08-queue")
	run(t, ctx, chromedp.Navigate(n.URL("/console/mailboxes")))
	bodyHas(t, ctx, "gated_send")
	shoot(t, ctx, dir, "09-mailboxes")
	run(t, ctx, chromedp.Navigate(n.URL("/console/messages?tag=console-e2e")))
	bodyHas(t, ctx, "second held send")
	shoot(t, ctx, dir, "10-messages-search")
}

// hasSubject reports a message to the customer with that subject (not the approval request,
// which carries the held message inside it).
func hasSubject(ms []mtatest.Message, subject string) bool {
	for _, m := range ms {
		if len(m.To) == 1 && m.To[0] == "someone@customer.test" && strings.Contains(string(m.Data), "Subject: "+subject) {
			return true
		}
	}
	return false
}

// TestConsoleUnsafeOversight: a mailbox overseen by itself (its agent reads its own approval
// requests) is flagged at start, and its approval requests carry no one-click links.
func TestConsoleUnsafeOversight(t *testing.T) {
	t.Parallel()
	const key = "mm_live_e2e_self_key_000000000001"
	n := Start(t, Options{Config: `
[[mailbox]]
address = "self@example.com"
oversight = "gated_send"
oversight_address = "self@example.com"
api_keys = ["` + key + `"]
`})
	if !strings.Contains(n.Output(), "UNSAFE OVERSIGHT") || !strings.Contains(n.Output(), "self@example.com") {
		t.Fatalf("no loud warning at start:\n%s", n.Output())
	}
	held(t, n, key, "self@example.com", "self-overseen", "")
	var list struct {
		Emails []struct {
			ID      string `json:"email_id"`
			Subject string `json:"subject"`
		} `json:"emails"`
	}
	var id string
	waitUntil(t, 30*time.Second, func() bool {
		_, body := n.Do("GET", "/v1/mailboxes/self@example.com/emails", key, nil)
		_ = json.Unmarshal(body, &list)
		for _, e := range list.Emails {
			if strings.HasPrefix(e.Subject, "Approval needed: self-overseen") {
				id = e.ID
				return true
			}
		}
		return false
	})
	code, body := n.Do("GET", "/v1/emails/"+id, key, nil)
	if code != 200 || !strings.Contains(string(body), "multimail approvals approve") || strings.Contains(string(body), "/console/d/") {
		t.Fatalf("approval request to a self-overseen mailbox: %d %s", code, body)
	}
}
