package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mailbox"
)

func TestPublicEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tests := []struct {
		path, want string
	}{
		{"/healthz", `{"status":"ok"}`},
		{"/metrics", "multimail_api_requests_total"},
		{"/openapi.json", `"openapi": "3.1.0"`},
	}
	e.do("GET", "/v1/approvals", "send", nil) // one request so the API counters exist
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := e.do("GET", tc.path, "", nil)
			if r.status != 200 || !strings.Contains(string(r.body), tc.want) {
				t.Fatalf("%d %.300s", r.status, r.body)
			}
		})
	}
}

func TestUnknownRoutesAreJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.do("GET", "/v1/nope", "send", nil)
	if code, _, _ := r.apiError(t); r.status != 404 || code != CodeNotFound {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = e.do("DELETE", "/v1/send_email", "send", nil)
	if code, _, _ := r.apiError(t); r.status != 405 || code != "method_not_allowed" || r.header.Get("Allow") == "" {
		t.Fatalf("%d %s %v", r.status, r.body, r.header)
	}
}

func TestGetMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.send(otpBody())
	r := e.do("GET", "/v1/messages/"+id, "send", nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var m struct {
		MessageID  string `json:"message_id"`
		MailboxID  string `json:"mailbox_id"`
		Status     string
		Priority   string
		Tags       []string
		Recipients []struct{ Address, Status string }
		Events     []struct {
			Seq   int
			Event string
		}
	}
	r.json(t, &m)
	if m.MessageID != id || m.MailboxID != "auth@yourproduct.com" || m.Priority != "high" || len(m.Tags) != 2 {
		t.Errorf("message %+v", m)
	}
	if len(m.Recipients) != 1 || m.Recipients[0].Address != "user@example.com" {
		t.Errorf("recipients %+v", m.Recipients)
	}
	if len(m.Events) == 0 || m.Events[0].Event != "queued" || m.Events[0].Seq != 1 {
		t.Errorf("events %+v", m.Events)
	}
	for _, tc := range []struct {
		name, path, key string
		status          int
	}{
		{"unknown", "/v1/messages/msg_01AAAAAAAAAAAAAAAAAAAAAAAA", "send", 404},
		{"other mailbox", "/v1/messages/" + id, "other", 404}, // as if it did not exist
		{"admin", "/v1/messages/" + id, "admin", 200},
		{"no key", "/v1/messages/" + id, "", 401},
	} {
		if r := e.do("GET", tc.path, tc.key, nil); r.status != tc.status {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
}

const testRaw = `From: Alice <alice@example.org>
To: auth@yourproduct.com
Subject: =?utf-8?q?Caf=C3=A9?= login
Date: Mon, 19 Apr 2026 10:00:00 +0000
Message-ID: <abc@example.org>
Authentication-Results: mx.test; spf=pass smtp.mailfrom=example.org
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=BOUND

--BOUND
Content-Type: multipart/alternative; boundary=ALT

--ALT
Content-Type: text/plain; charset=utf-8

Your code is 847291.
--ALT
Content-Type: text/html; charset=utf-8

<p>Your code is <b>847291</b>.</p>
--ALT--
--BOUND
Content-Type: application/pdf
Content-Disposition: attachment; filename="invoice.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--BOUND--
`

func TestEmails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	first := e.deliver("auth@yourproduct.com", testRaw, mailbox.DeliverOptions{InternalDate: time.Now().Add(-time.Hour)})
	second := e.deliver("auth@yourproduct.com", strings.Replace(testRaw, "login", "second", 1), mailbox.DeliverOptions{})
	held := e.deliver("all@example.com", testRaw, mailbox.DeliverOptions{Pending: true})

	t.Run("list pages newest first", func(t *testing.T) {
		r := e.do("GET", "/v1/mailboxes/auth@yourproduct.com/emails?limit=1", "send", nil)
		var page struct {
			Emails []struct {
				EmailID string `json:"email_id"`
				Subject string
				Unread  bool
			}
			NextCursor string `json:"next_cursor"`
		}
		r.json(t, &page)
		if r.status != 200 || len(page.Emails) != 1 || page.Emails[0].EmailID != second || page.NextCursor == "" {
			t.Fatalf("page 1: %d %s", r.status, r.body)
		}
		r = e.do("GET", "/v1/mailboxes/auth@yourproduct.com/emails?limit=1&cursor="+page.NextCursor, "send", nil)
		page.NextCursor = ""
		r.json(t, &page)
		if len(page.Emails) != 1 || page.Emails[0].EmailID != first || page.Emails[0].Subject != "Café login" || !page.Emails[0].Unread {
			t.Fatalf("page 2: %s", r.body)
		}
	})
	t.Run("read", func(t *testing.T) {
		r := e.do("GET", "/v1/emails/"+first, "send", nil)
		var em struct {
			Text, HTML  string
			From        []string
			Attachments []struct {
				Filename string
				Size     int
			}
			Headers []struct{ Name, Value string }
			Auth    string `json:"authentication_results"`
		}
		r.json(t, &em)
		if r.status != 200 || !strings.Contains(em.Text, "847291") || !strings.Contains(em.HTML, "<b>847291</b>") {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if len(em.Attachments) != 1 || em.Attachments[0].Filename != "invoice.pdf" || em.Attachments[0].Size != 9 {
			t.Errorf("attachments %+v", em.Attachments)
		}
		if len(em.From) != 1 || !strings.Contains(em.From[0], "alice@example.org") || !strings.Contains(em.Auth, "spf=pass") || len(em.Headers) < 5 {
			t.Errorf("email %+v", em)
		}
	})
	t.Run("tag", func(t *testing.T) {
		r := e.do("POST", "/v1/emails/"+first+"/tags", "send", map[string]any{"add": []string{"consumed", "auth", `\Seen`}})
		var out struct{ Tags, Flags []string }
		r.json(t, &out)
		if r.status != 200 || len(out.Tags) != 2 || len(out.Flags) != 1 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		r = e.do("POST", "/v1/emails/"+first+"/tags", "send", map[string]any{"remove": []string{"auth"}})
		r.json(t, &out)
		if len(out.Tags) != 1 || out.Tags[0] != "consumed" {
			t.Fatalf("%s", r.body)
		}
		r = e.do("GET", "/v1/mailboxes/auth@yourproduct.com/emails?tag=consumed&unread=false", "send", nil)
		if !strings.Contains(string(r.body), first) || strings.Contains(string(r.body), second) {
			t.Fatalf("filter: %s", r.body)
		}
	})
	errs := []struct {
		name, method, path, key string
		body                    any
		status                  int
		field                   string
	}{
		{"list other mailbox", "GET", "/v1/mailboxes/auth@yourproduct.com/emails", "other", nil, 403, ""},
		{"list unknown mailbox", "GET", "/v1/mailboxes/nobody@yourproduct.com/emails", "admin", nil, 404, ""},
		{"list bad unread", "GET", "/v1/mailboxes/auth@yourproduct.com/emails?unread=maybe", "send", nil, 400, "unread"},
		{"list bad limit", "GET", "/v1/mailboxes/auth@yourproduct.com/emails?limit=0", "send", nil, 400, "limit"},
		{"list bad cursor", "GET", "/v1/mailboxes/auth@yourproduct.com/emails?cursor=zzz", "send", nil, 400, "cursor"},
		{"list no read scope", "GET", "/v1/mailboxes/auth@yourproduct.com/emails", "sendonly", nil, 403, ""},
		{"read unknown", "GET", "/v1/emails/em_01AAAAAAAAAAAAAAAAAAAAAAAA", "send", nil, 404, ""},
		{"read other", "GET", "/v1/emails/" + first, "other", nil, 404, ""},
		{"read held by gated_all", "GET", "/v1/emails/" + held, "gated", nil, 404, ""},
		{"tag bad keyword", "POST", "/v1/emails/" + first + "/tags", "send", map[string]any{"add": []string{"ok", "two words"}}, 400, "add[1]"},
		{"tag CRLF", "POST", "/v1/emails/" + first + "/tags", "send", map[string]any{"remove": []string{"a\r\nb"}}, 400, "remove[0]"},
		{"tag empty", "POST", "/v1/emails/" + first + "/tags", "send", map[string]any{}, 400, "add"},
		{"tag unknown field", "POST", "/v1/emails/" + first + "/tags", "send", map[string]any{"set": []string{"x"}}, 400, "set"},
		{"tag no scope", "POST", "/v1/emails/" + first + "/tags", "readonly", map[string]any{"add": []string{"x"}}, 403, ""},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.key, tc.body)
			if r.status != tc.status {
				t.Fatalf("%d, want %d: %s", r.status, tc.status, r.body)
			}
			if _, field, _ := r.apiError(t); field != tc.field {
				t.Errorf("field %q, want %q", field, tc.field)
			}
		})
	}
	t.Run("held hidden from list", func(t *testing.T) {
		r := e.do("GET", "/v1/mailboxes/all@example.com/emails", "gated", nil)
		if strings.Contains(string(r.body), held) {
			t.Fatalf("held email listed: %s", r.body)
		}
	})
}

func TestApprovals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body := otpBody()
	body["mailbox_id"] = "gated@example.com"
	var ids []string
	for i := range 3 {
		body["subject"] = fmt.Sprint("held ", i)
		r := e.do("POST", "/v1/send_email", "gated", body)
		var out struct {
			MessageID string `json:"message_id"`
		}
		r.json(t, &out)
		ids = append(ids, out.MessageID)
	}
	var list struct {
		Approvals []struct {
			ApprovalID string `json:"approval_id"`
			MessageID  string `json:"message_id"`
			State      string
		}
		NextCursor string `json:"next_cursor"`
	}
	r := e.do("GET", "/v1/approvals?limit=2", "gated", nil)
	r.json(t, &list)
	if r.status != 200 || len(list.Approvals) != 2 || list.NextCursor == "" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	first := list.Approvals
	apr := first[0].ApprovalID
	r = e.do("GET", "/v1/approvals?limit=2&cursor="+list.NextCursor, "gated", nil)
	list.Approvals, list.NextCursor = nil, "" // (decoding would reuse first's array)
	r.json(t, &list)
	if len(list.Approvals) != 1 || list.NextCursor != "" {
		t.Fatalf("page 2: %s", r.body)
	}
	seen := map[string]bool{}
	for _, a := range append(first, list.Approvals...) {
		seen[a.MessageID] = a.State == "pending"
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("message %s missing from the pending approvals", id)
		}
	}
	list.Approvals = first
	if r := e.do("GET", "/v1/approvals", "send", nil); strings.Contains(string(r.body), "apr_") {
		t.Fatalf("another mailbox's approvals leaked: %s", r.body)
	}
	steps := []struct {
		name, path, key string
		body            any
		status          int
		state           string
	}{
		{"agent cannot approve", "/v1/approvals/" + apr + "/approve", "gated", nil, 403, ""},
		{"unknown", "/v1/approvals/apr_01AAAAAAAAAAAAAAAAAAAAAAAA/approve", "admin", nil, 404, ""},
		{"bad body", "/v1/approvals/" + apr + "/approve", "admin", `{"why":1}`, 400, ""},
		{"approve", "/v1/approvals/" + apr + "/approve", "admin", map[string]string{"reason": "looks fine"}, 200, "approved"},
		{"approve twice", "/v1/approvals/" + apr + "/approve", "admin", nil, 409, ""},
		{"reject decided", "/v1/approvals/" + apr + "/reject", "admin", nil, 409, ""},
		{"reject other", "/v1/approvals/" + list.Approvals[1].ApprovalID + "/reject", "admin", nil, 200, "rejected"},
	}
	for _, st := range steps {
		r := e.do("POST", st.path, st.key, st.body)
		if r.status != st.status {
			t.Fatalf("%s: %d %s", st.name, r.status, r.body)
		}
		if st.state != "" {
			var a struct{ State, By, Reason string }
			r.json(t, &a)
			if a.State != st.state || a.By != "api:key_admin" {
				t.Errorf("%s: %s", st.name, r.body)
			}
		}
	}
	r = e.do("GET", "/v1/messages/"+first[0].MessageID, "gated", nil)
	var m struct {
		Events []struct{ Event, By, Reason string }
	}
	r.json(t, &m)
	found := false
	for _, ev := range m.Events {
		found = found || (ev.Event == "approved" && ev.By == "api:key_admin" && ev.Reason == "looks fine")
	}
	if !found {
		t.Errorf("no approved event in trail: %s", r.body)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 4, 19, 10, 0, 0, 0, time.UTC)}
	e := newEnv(t, envOptions{rateLimit: RateLimit{PerSecond: 0.5, Burst: 2}, clock: clock})
	for i := range 2 {
		if r := e.do("GET", "/v1/approvals", "send", nil); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.do("GET", "/v1/approvals", "send", nil)
	if code, _, _ := r.apiError(t); r.status != 429 || code != CodeRateLimited || r.header.Get("Retry-After") != "2" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
	if r := e.do("GET", "/v1/approvals", "other", nil); r.status != 200 {
		t.Fatalf("another key is limited too: %d", r.status)
	}
	clock.Add(2 * time.Second)
	if r := e.do("GET", "/v1/approvals", "send", nil); r.status != 200 {
		t.Fatalf("after waiting: %d %s", r.status, r.body)
	}
}

func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	registered := map[string]bool{
		"GET /healthz": true, "GET /readyz": true, "GET /metrics": true, "GET /openapi.json": true, "POST /mcp": true,
		"GET " + WellKnownIdentityPath: true, "GET " + MTASTSPath: true,
		"GET /u/{token}": true, "POST /u/{token}": true, // one-click unsubscribe (unsubscribe.go)
	}
	for _, rt := range (&Server{}).routes() {
		registered[rt.method+" "+rt.pattern] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	for r := range registered {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for d := range documented {
		if !registered[d] {
			t.Errorf("openapi.json documents %s, which is not a route", d)
		}
	}
}

func TestUnwiredServer(t *testing.T) {
	t.Parallel()
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []http.Handler{s.Handler(), s.AdminHandler()} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/admin/domains", nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("unwired: %d %s", rec.Code, rec.Body)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != http.StatusOK || rec.Body.String() != "{\"status\":\"ok\"}\n" {
			t.Errorf("healthz: %d %q", rec.Code, rec.Body)
		}
	}
}
