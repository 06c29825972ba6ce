package api

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// TestOneClickUnsubscribe: GET shows a page and changes nothing; POST needs the RFC 8058 body
// and no key; it suppresses exactly the recipient the token names (reason unsubscribe), and
// the next send there is 422 suppressed; a forged or altered token is 404.
func TestOneClickUnsubscribe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	id := e.send(otpBody())
	tok := e.q.UnsubscribeToken("yourproduct.com", "user@example.com", id)
	suppressed := func() bool {
		got, err := e.q.Suppressed(ctx, "yourproduct.com", []string{"user@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		return got["user@example.com"].Reason == "unsubscribe"
	}
	r := e.do("GET", "/u/"+tok, "", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "user@example.com") || !strings.Contains(string(r.body), `name="List-Unsubscribe" value="One-Click"`) ||
		!strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("GET: %d %v %s", r.status, r.header, r.body)
	}
	if suppressed() {
		t.Fatal("a GET unsubscribed")
	}
	for _, bad := range []string{tok + "x", strings.Replace(tok, ".", "A.", 1), "nothing"} {
		if r := e.do("GET", "/u/"+bad, "", nil); r.status != 404 {
			t.Errorf("GET %s: %d", bad, r.status)
		}
		if r := e.do("POST", "/u/"+bad, "", "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded"); r.status != 404 {
			t.Errorf("POST %s: %d", bad, r.status)
		}
	}
	if r := e.do("POST", "/u/"+tok, "", "unsubscribe=yes", "Content-Type", "application/x-www-form-urlencoded"); r.status != 400 || suppressed() {
		t.Fatalf("POST without the one-click body: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/u/"+tok, "", strings.Repeat("a", 5000), "Content-Type", "application/x-www-form-urlencoded"); r.status < 400 || suppressed() {
		t.Fatalf("POST with a huge body: %d", r.status)
	}
	r = e.do("POST", "/u/"+tok, "", "List-Unsubscribe=One-Click", "Content-Type", "application/x-www-form-urlencoded")
	if r.status != 200 || !suppressed() || r.header.Get("Set-Cookie") != "" {
		t.Fatalf("POST: %d %v %s", r.status, r.header, r.body)
	}
	var mp bytes.Buffer // multipart, as RFC 8058 also allows; and idempotent
	w := multipart.NewWriter(&mp)
	_ = w.WriteField("List-Unsubscribe", "One-Click")
	_ = w.Close()
	if r := e.do("POST", "/u/"+tok, "", mp.Bytes(), "Content-Type", w.FormDataContentType()); r.status != 200 {
		t.Fatalf("multipart POST: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/v1/send_email", "send", otpBody())
	if code, _, msg := r.apiError(t); r.status != http.StatusUnprocessableEntity || code != CodeSuppressed || !strings.Contains(msg, "unsubscribe") {
		t.Fatalf("send after unsubscribe: %d %s", r.status, r.body)
	}
	if got, _ := e.q.Suppressed(ctx, "example.com", []string{"user@example.com"}); len(got) != 0 {
		t.Fatalf("another domain's list changed: %+v", got)
	}
}
