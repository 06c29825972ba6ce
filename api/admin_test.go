package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAdminDomains(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.do("POST", "/v1/admin/domains", "admin", map[string]string{"name": "New.Example", "key_type": "ed25519", "dkim_selector": "s1"})
	var d struct {
		Name    string
		KeyType string `json:"key_type"`
		DNS     struct {
			Records []struct{ Purpose, Name, Type, Value string }
			Text    string
		}
	}
	r.json(t, &d)
	if r.status != 201 || len(d.DNS.Records) != 8 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	want := map[string]string{"mx": "10 mx.test.", "spf": "v=spf1", "dkim": "k=ed25519; p=", "dmarc": "v=DMARC1; p=none", "identity": "v=DKIM1; k=ed25519; p=",
		"mta-sts": "v=STSv1; id=", "mta-sts-host": "mx.test.", "tls-rpt": "v=TLSRPTv1; rua=mailto:postmaster@new.example"}
	for _, rec := range d.DNS.Records {
		if !strings.Contains(rec.Value, want[rec.Purpose]) {
			t.Errorf("%s record %q", rec.Purpose, rec.Value)
		}
		if rec.Purpose == "dkim" && rec.Name != "s1._domainkey.new.example." {
			t.Errorf("dkim name %q", rec.Name)
		}
	}
	r = e.do("POST", "/v1/admin/domains", "admin", map[string]string{"name": "rsa.example"})
	if r.status != 201 || !strings.Contains(string(r.body), `"key_type":"rsa"`) {
		t.Fatalf("rsa: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/v1/admin/domains/rsa.example/dns", "admin", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `mm1._domainkey.rsa.example.\t3600\tIN\tTXT\t\"v=DKIM1; k=rsa; p=`) {
		t.Fatalf("dns: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/admin/domains", "admin", nil); !strings.Contains(string(r.body), `"name":"new.example"`) {
		t.Fatalf("list: %s", r.body)
	}
	adminErrors(t, e, []adminCase{
		{"duplicate", "POST", "/v1/admin/domains", "admin", map[string]string{"name": "new.example", "key_type": "ed25519"}, 409, ""},
		{"bad name", "POST", "/v1/admin/domains", "admin", map[string]string{"name": "bad name.example"}, 400, "name"},
		{"missing name", "POST", "/v1/admin/domains", "admin", map[string]string{}, 400, "name"},
		{"bad key type", "POST", "/v1/admin/domains", "admin", map[string]string{"name": "x.example", "key_type": "dsa"}, 400, "key_type"},
		{"bad selector", "POST", "/v1/admin/domains", "admin", map[string]string{"name": "x.example", "dkim_selector": "a\r\nb"}, 400, "dkim_selector"},
		{"dns unknown", "GET", "/v1/admin/domains/none.example/dns", "admin", nil, 404, ""},
		{"not admin", "GET", "/v1/admin/domains", "send", nil, 403, ""},
		{"no key", "GET", "/v1/admin/domains", "", nil, 401, ""},
	})
}

func TestAdminMailboxesAndKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.do("POST", "/v1/admin/mailboxes", "admin", map[string]string{"address": "New@Example.com", "oversight": "autonomous"})
	var mb struct{ Address, Oversight, Password string }
	r.json(t, &mb)
	if r.status != 201 || mb.Address != "new@example.com" || mb.Oversight != "autonomous" || len(mb.Password) < 16 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = e.do("POST", "/v1/admin/mailboxes", "admin", map[string]string{"address": "pw@example.com", "password": "given"})
	if r.status != 201 || strings.Contains(string(r.body), "password") || !strings.Contains(string(r.body), "gated_send") {
		t.Fatalf("given password: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/admin/mailboxes", "admin", nil); !strings.Contains(string(r.body), "new@example.com") || strings.Contains(string(r.body), "password") {
		t.Fatalf("list: %s", r.body)
	}
	r = e.do("POST", "/v1/admin/keys", "admin", map[string]any{"mailbox": "new@example.com", "scopes": []string{"send", "read"}})
	var k struct {
		KeyID  string `json:"key_id"`
		APIKey string `json:"api_key"`
	}
	r.json(t, &k)
	if r.status != 201 || !strings.HasPrefix(k.APIKey, "mm_live_") || !strings.HasPrefix(k.KeyID, "key_") {
		t.Fatalf("key: %d %s", r.status, r.body)
	}
	body := otpBody()
	body["mailbox_id"] = "new@example.com"
	if r := e.do("POST", "/v1/send_email", k.APIKey, body); r.status != 202 {
		t.Fatalf("new key cannot send: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/admin/keys", "admin", nil); !strings.Contains(string(r.body), k.KeyID) || strings.Contains(string(r.body), "mm_live_") {
		t.Fatalf("list keys: %s", r.body)
	}
	if r := e.do("DELETE", "/v1/admin/keys/"+k.KeyID, "admin", nil); r.status != 200 {
		t.Fatalf("delete key: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/approvals", k.APIKey, nil); r.status != 401 {
		t.Fatalf("deleted key still works: %d", r.status)
	}
	adminErrors(t, e, []adminCase{
		{"mailbox exists", "POST", "/v1/admin/mailboxes", "admin", map[string]string{"address": "new@example.com"}, 409, ""},
		{"mailbox bad address", "POST", "/v1/admin/mailboxes", "admin", map[string]string{"address": "nope"}, 400, "address"},
		{"mailbox CRLF", "POST", "/v1/admin/mailboxes", "admin", map[string]string{"address": "a\r\n@example.com"}, 400, "address"},
		{"mailbox unknown domain", "POST", "/v1/admin/mailboxes", "admin", map[string]string{"address": "a@unknown.example"}, 422, "address"},
		{"mailbox bad oversight", "POST", "/v1/admin/mailboxes", "admin", map[string]string{"address": "b@example.com", "oversight": "yolo"}, 400, "oversight"},
		{"key unknown mailbox", "POST", "/v1/admin/keys", "admin", map[string]any{"mailbox": "none@example.com"}, 422, "mailbox"},
		{"key bad scope", "POST", "/v1/admin/keys", "admin", map[string]any{"mailbox": "*", "scopes": []string{"send", "root"}}, 400, "scopes[1]"},
		{"key no mailbox", "POST", "/v1/admin/keys", "admin", map[string]any{"scopes": []string{"send"}}, 400, "mailbox"},
		{"delete unknown key", "DELETE", "/v1/admin/keys/key_nope", "admin", nil, 404, ""},
		{"keys not admin", "POST", "/v1/admin/keys", "send", map[string]any{"mailbox": "*", "scopes": []string{"admin"}}, 403, ""},
	})
}

func TestAdminQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var ids []string
	for range 3 {
		ids = append(ids, e.send(otpBody()))
	}
	r := e.do("GET", "/v1/admin/queue?limit=2", "admin", nil)
	var page struct {
		Messages []struct {
			MessageID string `json:"message_id"`
		}
		NextCursor string `json:"next_cursor"`
	}
	r.json(t, &page)
	if r.status != 200 || len(page.Messages) != 2 || page.NextCursor == "" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	listed := page.Messages
	r = e.do("GET", "/v1/admin/queue?cursor="+page.NextCursor, "admin", nil)
	page.Messages, page.NextCursor = nil, "" // (decoding would reuse listed's array)
	r.json(t, &page)
	if len(page.Messages) != 1 || page.NextCursor != "" {
		t.Fatalf("page 2: %s", r.body)
	}
	seen := map[string]bool{}
	for _, m := range append(listed, page.Messages...) {
		seen[m.MessageID] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("message %s not listed", id)
		}
	}
	if r := e.do("GET", "/v1/admin/queue/"+ids[0], "admin", nil); r.status != 200 || !strings.Contains(string(r.body), `"events"`) {
		t.Fatalf("show: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/admin/queue/"+ids[0]+"/retry", "admin", nil); r.status != 200 {
		t.Fatalf("retry: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/admin/queue/"+ids[1], "admin", nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	adminErrors(t, e, []adminCase{
		{"show unknown", "GET", "/v1/admin/queue/msg_01AAAAAAAAAAAAAAAAAAAAAAAA", "admin", nil, 404, ""},
		{"retry unknown", "POST", "/v1/admin/queue/msg_01AAAAAAAAAAAAAAAAAAAAAAAA/retry", "admin", nil, 404, ""},
		{"delete unknown", "DELETE", "/v1/admin/queue/msg_01AAAAAAAAAAAAAAAAAAAAAAAA", "admin", nil, 404, ""},
		{"bad limit", "GET", "/v1/admin/queue?limit=abc", "admin", nil, 400, "limit"},
		{"not admin", "GET", "/v1/admin/queue", "send", nil, 403, ""},
	})
}

func TestAdminHandlerNeedsNoKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	sock := httptest.NewServer(e.srv.AdminHandler())
	defer sock.Close()
	resp, err := sock.Client().Post(sock.URL+"/v1/admin/mailboxes", "application/json",
		strings.NewReader(`{"address":"cli@example.com","oversight":"monitored"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("admin socket: %d", resp.StatusCode)
	}
	resp, err = sock.Client().Get(sock.URL + "/v1/approvals?state=all")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("approvals over the admin socket: %d", resp.StatusCode)
	}
}

type adminCase struct {
	name, method, path, key string
	body                    any
	status                  int
	field                   string
}

func adminErrors(t *testing.T, e *testEnv, cases []adminCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.key, tc.body)
			if r.status != tc.status {
				t.Fatalf("%d, want %d: %s", r.status, tc.status, r.body)
			}
			if _, field, _ := r.apiError(t); field != tc.field {
				t.Errorf("field %q, want %q (%s)", field, tc.field, r.body)
			}
		})
	}
}

// TestQueueActionsRefuseNothingToDo: retry and delete of a message whose recipients are all
// final are 409 saying why (the CLI exits 1 with it); retry of a held message is 409; a bad
// ?state= is 400 naming it.
func TestQueueActionsRefuseNothingToDo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.send(otpBody())
	if r := e.do("DELETE", "/v1/admin/queue/"+id, "admin", nil); r.status != 200 {
		t.Fatalf("first delete: %d %s", r.status, r.body)
	}
	for _, c := range []struct{ method, path, want string }{
		{"DELETE", "/v1/admin/queue/" + id, "nothing left to delete"},
		{"POST", "/v1/admin/queue/" + id + "/retry", "nothing to retry"},
	} {
		r := e.do(c.method, c.path, "admin", nil)
		if code, _, msg := r.apiError(t); r.status != 409 || code != CodeConflict || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s after delete: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	body := otpBody()
	body["mailbox_id"] = "gated@example.com"
	r := e.do("POST", "/v1/send_email", "gated", body)
	var held struct {
		MessageID string `json:"message_id"`
	}
	r.json(t, &held)
	if r := e.do("POST", "/v1/admin/queue/"+held.MessageID+"/retry", "admin", nil); r.status != 409 || !strings.Contains(string(r.body), "held for approval") {
		t.Errorf("retry of a held message: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/admin/queue?state=bogus", "admin", nil); r.status != 400 || !strings.Contains(string(r.body), `"field":"state"`) {
		t.Errorf("bad state: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/admin/queue?state=failed", "admin", nil); r.status != 200 || !strings.Contains(string(r.body), id) {
		t.Errorf("state=failed: %d %s", r.status, r.body)
	}
}
