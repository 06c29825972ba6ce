package submission

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// TestUnsubscribeHeaders: "unsubscribe": true adds List-Unsubscribe (an https one-click URL
// whose token names the domain, the recipient and the message) and List-Unsubscribe-Post,
// both inside the DKIM signature, which verifies; it is refused on high priority, with several
// recipients, with the fields in headers, and without a configured URL; without it no field.
func TestUnsubscribeHeaders(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	sub, err := New(Options{Queue: env.q, Store: env.store, Hostname: "mx.example.com", UnsubscribeURL: "https://mail.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := basicReq("auto@example.com")
	req.Unsubscribe, req.Priority = true, "low"
	rc, err := sub.Send(ctx, req, apiAs("auto@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := env.q.Body(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^List-Unsubscribe: <https://mail\.example\.com/u/([A-Za-z0-9_.-]+)>\r$`).FindSubmatch(body)
	if m == nil || !bytes.Contains(body, []byte("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")) {
		t.Fatalf("fields missing:\n%s", body)
	}
	d, r, id, ok := env.q.ParseUnsubscribeToken(string(m[1]))
	if !ok || d != "example.com" || r != "bob@dest.example" || id != rc.ID {
		t.Fatalf("token names %q %q %q %v", d, r, id, ok)
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(body), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		return []string{dkimRecord(t, readFile(t, "testdata/rsa2048.pem"))}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	signed := false
	for _, v := range vs {
		keys := strings.ToLower(strings.Join(v.HeaderKeys, ":"))
		if v.Domain == "example.com" && v.Err == nil && strings.Contains(keys, "list-unsubscribe:list-unsubscribe-post") {
			signed = true
		}
	}
	if !signed {
		t.Fatalf("no verified signature covers both fields: %+v", vs)
	}
	// a plain send has neither field
	rc, err = sub.Send(ctx, basicReq("auto@example.com"), apiAs("auto@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if body, _ := env.q.Body(ctx, rc.ID); bytes.Contains(body, []byte("\r\nList-Unsubscribe")) {
		t.Fatalf("a send without unsubscribe has the field:\n%s", body)
	}
	for name, tc := range map[string]struct {
		sub  *Submitter
		edit func(*SendRequest)
	}{
		"high":           {sub, func(r *SendRequest) { r.Priority = "high" }},
		"two recipients": {sub, func(r *SendRequest) { r.Cc = AddressList{"carol@dest.example"} }},
		"bcc":            {sub, func(r *SendRequest) { r.Bcc = AddressList{"carol@dest.example"} }},
		"no url":         {env.sub, func(*SendRequest) {}},
		"own header too": {sub, func(r *SendRequest) { r.Headers = map[string]string{"list-unsubscribe": "<https://x.example/u>"} }},
	} {
		req := basicReq("auto@example.com")
		req.Unsubscribe = true
		tc.edit(req)
		_, err := tc.sub.Send(ctx, req, apiAs("auto@example.com"))
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, map[bool]string{true: "headers.", false: "unsubscribe"}[name == "own header too"]) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
