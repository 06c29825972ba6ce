package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mta/mtatest"
)

// TestListUnsubscribeOneClick: a send with "unsubscribe": true reaches the MX with
// List-Unsubscribe (the node's https URL) and List-Unsubscribe-Post, both covered by a DKIM
// signature python3-dkim verifies; a GET of the URL only shows a page; the one-click POST
// (no key, no cookie, as a mail client makes it) suppresses the recipient with reason
// unsubscribe and the next send there is 422. A high-priority send with unsubscribe is refused.
func TestListUnsubscribeOneClick(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{Config: "[api]\npublic_url = \"https://mail.e2e.test\"\n"})
	code, out := n.Do("POST", "/v1/send_email", APIKey, []byte(fmt.Sprintf(
		`{"mailbox_id":%q,"to":"reader@customer.test","subject":"weekly","text":"news","priority":"high","unsubscribe":true}`, Sender)))
	if code != 400 || !strings.Contains(string(out), `"field":"unsubscribe"`) {
		t.Fatalf("unsubscribe on high: %d %s", code, out)
	}
	r := send(t, n, fmt.Sprintf(`{"mailbox_id":%q,"to":"reader@customer.test","subject":"weekly","text":"news","priority":"low","unsubscribe":true}`, Sender))
	ms, err := n.MX.WaitUntil(Context(t, 30*time.Second), func(ms []mtatest.Message) bool { return findFrom(ms, r.MessageID) >= 0 })
	if err != nil {
		t.Fatal(err)
	}
	raw := ms[findFrom(ms, r.MessageID)].Data
	m := regexp.MustCompile(`(?m)^List-Unsubscribe: <https://mail\.e2e\.test(/u/[A-Za-z0-9_.-]+)>\r$`).FindSubmatch(raw)
	if m == nil || !strings.Contains(string(raw), "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n") {
		t.Fatalf("no one-click fields:\n%s", raw)
	}
	path := string(m[1])
	verifyListUnsubscribeDKIM(t, n, raw)

	suppressed := func() string {
		code, out := n.Do("GET", "/v1/suppressions?domain="+Domain, APIKey, nil)
		if code != 200 {
			t.Fatalf("list: %d %s", code, out)
		}
		return string(out)
	}
	resp, err := http.Get(n.URL(path))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(suppressed(), "reader@customer.test") {
		t.Fatalf("GET: %d; list %s", resp.StatusCode, suppressed())
	}
	// the POST a mail client makes (RFC 8058 §3.1): no cookie, no Authorization
	for range 2 { // a second click changes nothing
		resp, err = http.Post(n.URL(path), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(suppressed(), `"address":"reader@customer.test","reason":"unsubscribe"`) {
			t.Fatalf("POST: %d; list %s", resp.StatusCode, suppressed())
		}
	}
	var unsub []string
	for _, ev := range getMessage(t, n, r.MessageID).Events {
		if ev.Event == "unsubscribed" {
			unsub = append(unsub, ev.Recipient)
		}
	}
	if len(unsub) != 1 || unsub[0] != "reader@customer.test" {
		t.Fatalf("unsubscribed events %v, want one for reader@customer.test", unsub)
	}
	code, out = n.Do("POST", "/v1/send_email", APIKey, []byte(fmt.Sprintf(`{"mailbox_id":%q,"to":"reader@customer.test","subject":"again","text":"x"}`, Sender)))
	if code != 422 || !strings.Contains(string(out), "unsubscribe") {
		t.Fatalf("send after unsubscribe: %d %s", code, out)
	}
}

// verifyListUnsubscribeDKIM checks with python3-dkim that the domain's signature (mm1) of raw
// verifies against the record `domain dns` prints and that its h= covers both fields.
func verifyListUnsubscribeDKIM(t *testing.T, n *Node, raw []byte) {
	t.Helper()
	py := "/usr/bin/python3" // Debian's, which has python3-dkim
	if out, err := exec.Command(py, "-c", "import dkim").CombinedOutput(); err != nil {
		if os.Getenv("MULTIMAIL_INTEROP") == "1" {
			t.Fatalf("python3-dkim missing: %v %s", err, out)
		}
		t.Logf("python3-dkim missing, DKIM not checked: %s", out)
		return
	}
	dns := n.mustCLI(t, "domain", "dns", Domain)
	rec := regexp.MustCompile(`(?m)^mm1\._domainkey\.` + regexp.QuoteMeta(Domain) + `\.\s.*TXT\s+(.*)$`).FindStringSubmatch(dns)
	if rec == nil {
		t.Fatalf("no mm1 record in:\n%s", dns)
	}
	txt := strings.Trim(strings.ReplaceAll(strings.Trim(rec[1], " "), "\" \"", ""), "\"")
	recs, _ := json.Marshal(map[string]string{"mm1._domainkey." + Domain: txt})
	dir := t.TempDir()
	mp, rp := filepath.Join(dir, "msg"), filepath.Join(dir, "rec")
	os.WriteFile(mp, raw, 0o600)
	os.WriteFile(rp, recs, 0o600)
	script := `import dkim, json, sys
msg = open(sys.argv[1], "rb").read(); recs = json.load(open(sys.argv[2]))
d = dkim.DKIM(msg)
sigs = [v for k, v in d.headers if k.lower() == b"dkim-signature"]
for i, s in enumerate(sigs):
    tags = dict(p.strip().split(b"=", 1) for p in s.split(b";") if b"=" in p)
    if tags.get(b"s", b"").strip() != b"mm1":
        continue
    h = [x.strip().lower() for x in tags[b"h"].replace(b"\r\n", b"").replace(b" ", b"").replace(b"\t", b"").split(b":")]
    ok = b"list-unsubscribe" in h and b"list-unsubscribe-post" in h and d.verify(idx=i, dnsfunc=lambda name, timeout=5: recs.get(name.decode().rstrip("."), "").encode() or None)
    print("verified" if ok else "FAILED", h)
    sys.exit(0 if ok else 1)
print("no mm1 signature"); sys.exit(1)`
	if out, err := exec.Command(py, "-c", script, mp, rp).CombinedOutput(); err != nil || !strings.Contains(string(out), "verified") {
		t.Fatalf("dkimpy: %v %s\n%s", err, out, raw)
	}
}
