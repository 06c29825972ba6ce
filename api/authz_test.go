package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"multimail.dev/multimail/api/mcp"
	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// The authorization matrix (docs/authorization.md): every route of the route table and every
// MCP tool, called with every kind of key, answers as the model says.
//
// Kinds are named "<where>:<scopes>": own = the mailboxes the resources belong to
// (auth@yourproduct.com, gated@example.com), other = other@example.com, * = every mailbox.
// "legacy" holds send and admin on own, as a key created before separation of duties could.

const (
	ownA   = "auth@yourproduct.com" // autonomous: messages, emails, keys
	ownG   = "gated@example.com"    // gated_send: approvals
	otherM = "other@example.com"
)

type keyKind struct {
	name      string
	mailboxes []string
	scopes    []string
	legacy    bool
	test      bool // a test key ("mm_test_…"): sends are never delivered, live messages are 404
}

func matrixKinds() []keyKind {
	var ks []keyKind
	for _, where := range []struct {
		name string
		mbs  []string
	}{{"own", []string{ownA, ownG}}, {"other", []string{otherM}}, {"*", []string{"*"}}} {
		for _, sc := range mailbox.AllScopes {
			ks = append(ks, keyKind{name: where.name + ":" + sc, mailboxes: where.mbs, scopes: []string{sc}})
		}
	}
	ks = append(ks,
		keyKind{name: "own:agent", mailboxes: []string{ownA, ownG}, scopes: []string{"send", "read", "tag"}},
		keyKind{name: "own:operator", mailboxes: []string{ownA, ownG}, scopes: []string{"approve", "admin"}},
		keyKind{name: "legacy", mailboxes: []string{ownA, ownG}, scopes: []string{"send", "read", "tag", "admin"}, legacy: true},
		keyKind{name: "legacy*", mailboxes: []string{"*"}, scopes: []string{"send", "approve"}, legacy: true},
		// test keys (docs/api.md, Test keys): an agent's scopes, never approve or admin
		keyKind{name: "own:test", mailboxes: []string{ownA, ownG}, scopes: []string{"send", "read", "tag"}, test: true},
		keyKind{name: "*:test", mailboxes: []string{"*"}, scopes: []string{"send", "read"}, test: true},
	)
	return ks
}

// held is the model's scope rule, written out independently of mailbox.ScopeHeld. A legacy
// key's approve and admin are inert: it acts as its agent half.
func (k keyKind) held(scope string) bool {
	if k.legacy && (scope == "approve" || scope == "admin") {
		return false
	}
	if slices.Contains(k.scopes, scope) {
		return true
	}
	return !k.legacy && slices.Contains(k.scopes, "admin") && (scope == "read" || scope == "tag" || scope == "approve")
}

func (k keyKind) star() bool { return slices.Contains(k.mailboxes, "*") }
func (k keyKind) own() bool  { return k.star() || slices.Contains(k.mailboxes, ownA) }

// Classes of route: how the mailbox part of the model applies once the scope is held.
const (
	named    = iota // the request names a mailbox: own 2xx, other 403
	byID            // the path names a resource of own: own 2xx, other 404
	super           // node administration: "*" admin only, else 403
	listing         // a list filtered to the key's mailboxes: 200 for all (content checked)
	keyMaker        // POST /v1/admin/keys for own with scopes ["read"]
	decision        // approve/reject: byID, and never a key that holds send (403)
	oversee         // a mailbox's oversight controls: named, and never a key that holds send (403)
	testbox         // the test outbox: named, and a live key without approve gets 404 (never sees test data)
)

// call is one prepared request: fresh resources where the route changes them.
type call struct {
	path string
	body any
}

type matrixRow struct {
	scopes []string // the key needs one of these
	class  int
	ok     int // the success status
	setup  func(t *testing.T, f *fixtures) call
}

// fixtures are resources of the own and other mailboxes, and a counter for fresh names.
type fixtures struct {
	e                *testEnv
	msgA, msgO       string
	emailA           string
	n                atomic.Int64
	fresh            func(prefix string) string
	heldForDecisions func() string
	testMsgA         string // a test key's message of ownA, delivered to the test sink
}

func newFixtures(t *testing.T, e *testEnv) *fixtures {
	f := &fixtures{e: e}
	f.fresh = func(p string) string { return fmt.Sprintf("%s%d", p, f.n.Add(1)) }
	f.msgA = e.send(otpBody())
	body := otpBody()
	body["mailbox_id"] = otherM
	r := e.do("POST", "/v1/send_email", "other", body)
	var out struct {
		MessageID string `json:"message_id"`
	}
	r.json(t, &out)
	f.msgO = out.MessageID
	f.emailA = e.deliver(ownA, testRaw, mailbox.DeliverOptions{})
	f.testMsgA = sinkTestMessage(t, e)
	f.heldForDecisions = func() string {
		body := otpBody()
		body["mailbox_id"] = ownG
		body["subject"] = f.fresh("held ")
		r := e.do("POST", "/v1/send_email", "gated", body)
		if r.status != 202 {
			t.Fatalf("held send: %d %s", r.status, r.body)
		}
		var out struct {
			MessageID string `json:"message_id"`
		}
		r.json(t, &out)
		st, err := e.q.Status(context.Background(), out.MessageID)
		if err != nil || st.Approval == nil {
			t.Fatalf("held: %+v %v", st, err)
		}
		return st.Approval.ID
	}
	return f
}

func matrixRows() map[string]matrixRow {
	static := func(path string, body any) func(*testing.T, *fixtures) call {
		return func(*testing.T, *fixtures) call { return call{path, body} }
	}
	msg := func(suffix string) func(*testing.T, *fixtures) call {
		return func(t *testing.T, f *fixtures) call {
			return call{"/v1/messages/" + f.msgA + suffix, nil}
		}
	}
	freshMsg := func(suffix string) func(*testing.T, *fixtures) call {
		return func(t *testing.T, f *fixtures) call {
			return call{"/v1/admin/queue/" + f.e.send(otpBody()) + suffix, nil}
		}
	}
	// The oversight controls act on ownA (autonomous), so no row changes how ownG gates.
	policy := func(path string, body any, edit func(f *fixtures, p *mailbox.Policy) string) func(*testing.T, *fixtures) call {
		return func(t *testing.T, f *fixtures) call {
			suffix := ""
			if edit != nil {
				if _, _, err := f.e.store.UpdateOversight(context.Background(), ownA, func(_ *mailbox.Mailbox, p *mailbox.Policy) error {
					suffix = edit(f, p)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			return call{"/v1/mailboxes/" + ownA + path + suffix, body}
		}
	}
	pending := func(f *fixtures, p *mailbox.Policy) string {
		p.Request = &mailbox.OversightRequest{ID: f.fresh("ovr_m"), From: mailbox.Autonomous, To: mailbox.Autonomous, RequestedBy: "matrix"}
		return ""
	}
	decide := func(verb string) func(*testing.T, *fixtures) call {
		return func(t *testing.T, f *fixtures) call {
			return call{"/v1/approvals/" + f.heldForDecisions() + "/" + verb, map[string]string{"reason": "matrix"}}
		}
	}
	return map[string]matrixRow{
		"POST /v1/send_email":                   {[]string{"send"}, named, 202, static("/v1/send_email", otpBody())},
		"GET /v1/messages/{message_id}":         {[]string{"send", "read"}, byID, 200, msg("")},
		"GET /v1/mailboxes/{mailbox_id}/emails": {[]string{"read"}, named, 200, static("/v1/mailboxes/"+ownA+"/emails", nil)},
		"GET /v1/emails/{email_id}":             {[]string{"read"}, byID, 200, func(t *testing.T, f *fixtures) call { return call{"/v1/emails/" + f.emailA, nil} }},
		"POST /v1/emails/{email_id}/tags": {[]string{"tag"}, byID, 200, func(t *testing.T, f *fixtures) call {
			return call{"/v1/emails/" + f.emailA + "/tags", map[string]any{"add": []string{"seen-by-matrix"}}}
		}},
		"GET /v1/approvals": {[]string{"read", "approve"}, listing, 200, static("/v1/approvals?state=all", nil)},
		"GET /v1/approvals/{approval_id}/message": {[]string{"read", "approve"}, byID, 200, func(t *testing.T, f *fixtures) call {
			return call{"/v1/approvals/" + f.heldForDecisions() + "/message", nil}
		}},
		"POST /v1/approvals/{approval_id}/approve": {[]string{"approve"}, decision, 200, decide("approve")},
		"POST /v1/approvals/{approval_id}/reject":  {[]string{"approve"}, decision, 200, decide("reject")},
		// sending (docs/sending.md)
		"POST /v1/messages/{message_id}/cancel": {[]string{"send", "admin"}, byID, 200, func(t *testing.T, f *fixtures) call {
			return call{"/v1/messages/" + f.e.send(otpBody()) + "/cancel", nil}
		}},
		"POST /v1/send_batch":  {[]string{"send"}, named, 200, static("/v1/send_batch", map[string]any{"messages": []any{otpBody()}})},
		"GET /v1/suppressions": {[]string{"send", "read"}, named, 200, static("/v1/suppressions?domain=yourproduct.com", nil)},
		"POST /v1/suppressions": {[]string{"send", "admin"}, named, 201, func(t *testing.T, f *fixtures) call {
			return call{"/v1/suppressions", map[string]any{"domain": "yourproduct.com", "address": f.fresh("s") + "@dest.example"}}
		}},
		"DELETE /v1/suppressions": {[]string{"admin"}, named, 200, func(t *testing.T, f *fixtures) call {
			addr := f.fresh("d") + "@dest.example"
			if err := f.e.q.Suppress(context.Background(), queue.Suppression{Domain: "yourproduct.com", Address: addr, Reason: "manual"}); err != nil {
				t.Fatal(err)
			}
			return call{"/v1/suppressions?domain=yourproduct.com&address=" + addr, nil}
		}},
		// the test outbox (testoutbox.go)
		"GET /v1/mailboxes/{mailbox_id}/test_outbox": {[]string{"send", "read", "approve"}, testbox, 200, static("/v1/mailboxes/"+ownA+"/test_outbox", nil)},
		"GET /v1/mailboxes/{mailbox_id}/test_outbox/{message_id}": {[]string{"send", "read", "approve"}, testbox, 200, func(t *testing.T, f *fixtures) call {
			return call{"/v1/mailboxes/" + ownA + "/test_outbox/" + f.testMsgA, nil}
		}},
		"POST /v1/admin/domains": {[]string{"admin"}, super, 201, func(t *testing.T, f *fixtures) call {
			return call{"/v1/admin/domains", map[string]any{"name": f.fresh("d") + ".example", "key_type": "ed25519"}}
		}},
		"GET /v1/admin/domains":                         {[]string{"admin"}, super, 200, static("/v1/admin/domains", nil)},
		"GET /v1/admin/domains/{name}/dns":              {[]string{"admin"}, super, 200, static("/v1/admin/domains/example.com/dns", nil)},
		"POST /v1/admin/domains/{name}/identity/rotate": {[]string{"admin"}, super, 200, static("/v1/admin/domains/example.com/identity/rotate", nil)},
		"POST /v1/admin/domains/{name}/identity/{selector}/revoke": {[]string{"admin"}, super, 200, func(t *testing.T, f *fixtures) call {
			name := f.fresh("id") + ".example"
			k1, _ := identity.GenerateKey()
			k2, _ := identity.GenerateKey()
			keys := mailbox.RotateIdentityKeys(mailbox.RotateIdentityKeys(nil, k1, time.Now()), k2, time.Now())
			if err := f.e.store.AddDomain(context.Background(), mailbox.Domain{Name: name, IdentityKeys: keys}); err != nil {
				t.Fatal(err)
			}
			return call{"/v1/admin/domains/" + name + "/identity/mmid1/revoke", nil}
		}},
		"POST /v1/admin/mailboxes": {[]string{"admin"}, super, 201, func(t *testing.T, f *fixtures) call {
			return call{"/v1/admin/mailboxes", map[string]any{"address": f.fresh("new") + "@example.com"}}
		}},
		"GET /v1/admin/mailboxes": {[]string{"admin"}, listing, 200, static("/v1/admin/mailboxes", nil)},
		"POST /v1/admin/keys":     {[]string{"admin"}, keyMaker, 201, static("/v1/admin/keys", map[string]any{"mailbox": ownA, "scopes": []string{"read"}})},
		"GET /v1/admin/keys":      {[]string{"admin"}, listing, 200, static("/v1/admin/keys", nil)},
		"DELETE /v1/admin/keys/{key_id}": {[]string{"admin"}, byID, 200, func(t *testing.T, f *fixtures) call {
			return call{"/v1/admin/keys/" + f.e.addKey(f.fresh("victim"), mailbox.APIKey{Mailboxes: []string{ownA}, Scopes: []string{"read"}}), nil}
		}},
		"GET /v1/admin/queue":                     {[]string{"admin"}, listing, 200, static("/v1/admin/queue", nil)},
		"GET /v1/admin/queue/{message_id}":        {[]string{"admin"}, byID, 200, func(t *testing.T, f *fixtures) call { return call{"/v1/admin/queue/" + f.msgA, nil} }},
		"POST /v1/admin/queue/{message_id}/retry": {[]string{"admin"}, byID, 200, freshMsg("/retry")},
		"DELETE /v1/admin/queue/{message_id}":     {[]string{"admin"}, byID, 200, freshMsg("")},
		"GET /v1/audit":                           {[]string{"admin"}, listing, 200, static("/v1/audit?limit=1000", nil)},

		// Oversight controls (oversight.go).
		"GET /v1/mailboxes/{mailbox_id}/allowlist": {[]string{"approve"}, oversee, 200, policy("/allowlist", nil, nil)},
		"PUT /v1/mailboxes/{mailbox_id}/allowlist": {[]string{"approve"}, oversee, 200, policy("/allowlist", map[string]any{"entries": []string{"@partner.example"}}, nil)},
		"POST /v1/mailboxes/{mailbox_id}/allowlist": {[]string{"approve"}, oversee, 201, func(t *testing.T, f *fixtures) call {
			return call{"/v1/mailboxes/" + ownA + "/allowlist", map[string]any{"entry": f.fresh("m") + "@partner.example"}}
		}},
		"DELETE /v1/mailboxes/{mailbox_id}/allowlist/{entry}": {[]string{"approve"}, oversee, 200, policy("/allowlist/", nil, func(f *fixtures, p *mailbox.Policy) string {
			e := f.fresh("d") + "@partner.example"
			p.Allowlist = append(p.Allowlist, mailbox.AllowEntry{Entry: e})
			return e
		})},
		"GET /v1/mailboxes/{mailbox_id}/rules":  {[]string{"approve"}, oversee, 200, policy("/rules", nil, nil)},
		"PUT /v1/mailboxes/{mailbox_id}/rules":  {[]string{"approve"}, oversee, 200, policy("/rules", map[string]any{"rules": []map[string]any{{"tags": []string{"otp"}, "action": "auto_approve"}}}, nil)},
		"POST /v1/mailboxes/{mailbox_id}/rules": {[]string{"approve"}, oversee, 201, policy("/rules", map[string]any{"recipients": []string{"*@blocked.example"}, "action": "reject"}, nil)},
		"DELETE /v1/mailboxes/{mailbox_id}/rules/{rule_id}": {[]string{"approve"}, oversee, 200, policy("/rules/", nil, func(f *fixtures, p *mailbox.Policy) string {
			id := f.fresh("rl_m")
			p.Rules = append(p.Rules, mailbox.PolicyRule{ID: id, Tags: []string{"x"}, Action: "reject"})
			return id
		})},
		"GET /v1/mailboxes/{mailbox_id}/oversight":                  {[]string{"send", "read", "approve"}, named, 200, policy("/oversight", nil, nil)},
		"PUT /v1/mailboxes/{mailbox_id}/oversight":                  {[]string{"approve"}, oversee, 200, policy("/oversight", map[string]any{"oversight": "autonomous", "reason": "matrix"}, nil)},
		"POST /v1/mailboxes/{mailbox_id}/oversight_request":         {[]string{"send"}, named, 200, policy("/oversight_request", map[string]any{"oversight": "autonomous"}, nil)},
		"POST /v1/mailboxes/{mailbox_id}/oversight_request/approve": {[]string{"approve"}, oversee, 200, policy("/oversight_request/approve", map[string]any{"reason": "matrix"}, pending)},
		"POST /v1/mailboxes/{mailbox_id}/oversight_request/reject":  {[]string{"approve"}, oversee, 200, policy("/oversight_request/reject", nil, pending)},
		"GET /v1/oversight_requests": {[]string{"approve"}, listing, 200, func(t *testing.T, f *fixtures) call {
			if _, _, err := f.e.store.UpdateOversight(context.Background(), otherM, func(_ *mailbox.Mailbox, p *mailbox.Policy) error {
				p.Request = &mailbox.OversightRequest{ID: "ovr_other", From: mailbox.GatedSend, To: mailbox.Autonomous, RequestedBy: "matrix"}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return call{"/v1/oversight_requests", nil}
		}},
		"DELETE /v1/admin/mailboxes/{address}": {[]string{"admin"}, super, 200, func(t *testing.T, f *fixtures) call {
			addr := f.fresh("gone") + "@example.com"
			if err := f.e.store.AddMailbox(context.Background(), mailbox.Mailbox{Address: addr, Oversight: mailbox.Autonomous}); err != nil {
				t.Fatal(err)
			}
			return call{"/v1/admin/mailboxes/" + addr + "?confirm=true", nil}
		}},
		"GET /v1/admin/domains/{name}/check": {[]string{"admin"}, super, 200, static("/v1/admin/domains/example.com/check", nil)},
		"DELETE /v1/admin/domains/{name}": {[]string{"admin"}, super, 200, func(t *testing.T, f *fixtures) call {
			name := f.fresh("gone") + ".example"
			if err := f.e.store.AddDomain(context.Background(), mailbox.Domain{Name: name}); err != nil {
				t.Fatal(err)
			}
			return call{"/v1/admin/domains/" + name + "?confirm=true", nil}
		}},
		// the agent's mailbox (mail.go): reading needs read, filing needs tag, reply needs send
		"GET /v1/threads/{thread_id}": {[]string{"read"}, byID, 200, func(t *testing.T, f *fixtures) call {
			em, err := f.e.store.Email(context.Background(), f.emailA)
			if err != nil {
				t.Fatal(err)
			}
			return call{"/v1/threads/" + em.ThreadID, nil}
		}},
		"POST /v1/emails/{email_id}/reply": {[]string{"send"}, byID, 202, func(t *testing.T, f *fixtures) call {
			return call{"/v1/emails/" + f.emailA + "/reply", map[string]any{"text": "thanks"}}
		}},
		"GET /v1/mailboxes/{mailbox_id}/check_inbox": {[]string{"read"}, named, 200, static("/v1/mailboxes/"+ownA+"/check_inbox?timeout=0", nil)},
		"GET /v1/emails/{email_id}/raw":              {[]string{"read"}, byID, 200, func(t *testing.T, f *fixtures) call { return call{"/v1/emails/" + f.emailA + "/raw", nil} }},
		"GET /v1/emails/{email_id}/attachments/{n}": {[]string{"read"}, byID, 200, func(t *testing.T, f *fixtures) call {
			return call{"/v1/emails/" + f.emailA + "/attachments/0", nil}
		}},
		"POST /v1/emails/{email_id}/move": {[]string{"tag"}, byID, 200, func(t *testing.T, f *fixtures) call {
			return call{"/v1/emails/" + f.emailA + "/move", map[string]any{"folder": "INBOX"}}
		}},
		"POST /v1/emails/{email_id}/archive": {[]string{"tag"}, byID, 200, func(t *testing.T, f *fixtures) call {
			return call{"/v1/emails/" + f.e.deliver(ownA, testRaw, mailbox.DeliverOptions{}) + "/archive", nil}
		}},
		"DELETE /v1/emails/{email_id}": {[]string{"tag"}, byID, 200, func(t *testing.T, f *fixtures) call {
			return call{"/v1/emails/" + f.e.deliver(ownA, testRaw, mailbox.DeliverOptions{}), nil}
		}},
		"POST /v1/emails/{email_id}/mark": {[]string{"tag"}, byID, 200, func(t *testing.T, f *fixtures) call {
			return call{"/v1/emails/" + f.emailA + "/mark", map[string]any{"read": true}}
		}},
	}
}

// liveMessageRows are the rows whose fixture is a live message or approval: a test key gets
// 404 on them, as if they did not exist (a test key sees test messages only).
var liveMessageRows = map[string]bool{
	"GET /v1/messages/{message_id}":           true,
	"POST /v1/messages/{message_id}/cancel":   true,
	"GET /v1/approvals/{approval_id}/message": true,
}

// expectID is expect for the row named id (the test-key rule needs the row's name).
func expectID(id string, row matrixRow, k keyKind) int {
	want := expect(row, k)
	if k.test && want < 400 && liveMessageRows[id] {
		return 404
	}
	return want
}

// expect is the model: the status a kind of key gets on a row.
func expect(row matrixRow, k keyKind) int {
	if !slices.ContainsFunc(row.scopes, k.held) {
		return 403
	}
	switch row.class {
	case named:
		if !k.own() {
			return 403
		}
	case byID:
		if !k.own() {
			return 404
		}
	case decision:
		if !k.own() {
			return 404
		}
		if slices.Contains(k.scopes, "send") {
			return 403
		}
	case oversee:
		if !k.own() || slices.Contains(k.scopes, "send") {
			return 403
		}
	case testbox:
		if !k.own() {
			return 403
		}
		if !k.test && !k.held("approve") {
			return 404
		}
	case super:
		if !k.star() {
			return 403
		}
	case keyMaker:
		if !k.own() || !k.held("read") {
			return 403
		}
	}
	return row.ok
}

// leaks are the addresses a listing for k must not mention.
func leaks(k keyKind) []string {
	switch {
	case k.star():
		return nil
	case k.own():
		return []string{otherM, `["*"]`}
	}
	return []string{ownA, ownG, "key_send\"", "key_gated\"", `["*"]`}
}

func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	f := newFixtures(t, e)
	kinds := matrixKinds()
	for _, k := range kinds {
		key := mailbox.APIKey{Mailboxes: k.mailboxes, Scopes: k.scopes, Test: k.test}
		if k.legacy {
			e.addLegacyKey(k.name, key)
		} else {
			e.addKey(strings.NewReplacer(":", "_", "*", "star").Replace(k.name), key)
			e.keys[k.name] = e.keys[strings.NewReplacer(":", "_", "*", "star").Replace(k.name)]
		}
	}
	rows := matrixRows()
	seen := map[string]bool{}
	for _, rt := range e.srv.routes() {
		id := rt.method + " " + rt.pattern
		seen[id] = true
		row, ok := rows[id]
		if !ok {
			t.Errorf("route %s has no row in the authorization matrix: add one", id)
			continue
		}
		for _, k := range kinds {
			c := row.setup(t, f)
			r := e.do(rt.method, c.path, k.name, c.body)
			want := expectID(id, row, k)
			if r.status != want {
				t.Errorf("%s as %s: %d, want %d: %s", id, k.name, r.status, want, r.body)
				continue
			}
			if want >= 400 {
				if code, _, _ := r.apiError(t); code != map[int]string{403: CodeForbidden, 404: CodeNotFound}[want] {
					t.Errorf("%s as %s: code %q", id, k.name, code)
				}
				if strings.Contains(string(r.body), "msg_") || strings.Contains(string(r.body), "apr_") {
					t.Errorf("%s as %s: a refusal names a resource: %s", id, k.name, r.body)
				}
			}
			if row.class == listing && r.status == 200 {
				for _, l := range leaks(k) {
					if strings.Contains(string(r.body), l) {
						t.Errorf("%s as %s leaks %s: %s", id, k.name, l, r.body)
					}
				}
			}
		}
		if r := e.do(rt.method, row.setup(t, f).path, "", nil); r.status != 401 {
			t.Errorf("%s without a key: %d", id, r.status)
		}
	}
	for id := range rows {
		if !seen[id] {
			t.Errorf("matrix row %s matches no route", id)
		}
	}
}

// mcpTools maps each MCP tool to the route it calls and its arguments.
var mcpTools = map[string]struct {
	route string
	args  func(t *testing.T, f *fixtures) map[string]any
}{
	"send_email":  {"POST /v1/send_email", func(*testing.T, *fixtures) map[string]any { return otpBody() }},
	"list_emails": {"GET /v1/mailboxes/{mailbox_id}/emails", func(*testing.T, *fixtures) map[string]any { return map[string]any{"mailbox_id": ownA} }},
	"read_email":  {"GET /v1/emails/{email_id}", func(_ *testing.T, f *fixtures) map[string]any { return map[string]any{"email_id": f.emailA} }},
	"tag_email": {"POST /v1/emails/{email_id}/tags", func(_ *testing.T, f *fixtures) map[string]any {
		return map[string]any{"email_id": f.emailA, "add": []string{"mcp-matrix"}}
	}},
	"get_message":  {"GET /v1/messages/{message_id}", func(_ *testing.T, f *fixtures) map[string]any { return map[string]any{"message_id": f.msgA} }},
	"list_pending": {"GET /v1/approvals", func(*testing.T, *fixtures) map[string]any { return map[string]any{"state": "all"} }},
	// decide_email calls one of two routes; a "#" names the variant (tool#variant).
	"decide_email#approve": {"POST /v1/approvals/{approval_id}/approve", func(_ *testing.T, f *fixtures) map[string]any {
		return map[string]any{"approval_id": f.heldForDecisions(), "decision": "approve"}
	}},
	"decide_email#reject": {"POST /v1/approvals/{approval_id}/reject", func(_ *testing.T, f *fixtures) map[string]any {
		return map[string]any{"approval_id": f.heldForDecisions(), "decision": "reject"}
	}},

	// Oversight controls, on ownA as the HTTP rows.
	"get_allowlist": {"GET /v1/mailboxes/{mailbox_id}/allowlist", func(*testing.T, *fixtures) map[string]any { return map[string]any{"mailbox_id": ownA} }},
	"add_allowlist_entry": {"POST /v1/mailboxes/{mailbox_id}/allowlist", func(_ *testing.T, f *fixtures) map[string]any {
		return map[string]any{"mailbox_id": ownA, "entry": f.fresh("mcp") + "@partner.example"}
	}},
	"set_allowlist": {"PUT /v1/mailboxes/{mailbox_id}/allowlist", func(*testing.T, *fixtures) map[string]any {
		return map[string]any{"mailbox_id": ownA, "entries": []string{"@partner.example"}}
	}},
	"remove_allowlist_entry": {"DELETE /v1/mailboxes/{mailbox_id}/allowlist/{entry}", func(t *testing.T, f *fixtures) map[string]any {
		c := matrixRows()["DELETE /v1/mailboxes/{mailbox_id}/allowlist/{entry}"].setup(t, f)
		return map[string]any{"mailbox_id": ownA, "entry": c.path[strings.LastIndex(c.path, "/")+1:]}
	}},
	"get_rules": {"GET /v1/mailboxes/{mailbox_id}/rules", func(*testing.T, *fixtures) map[string]any { return map[string]any{"mailbox_id": ownA} }},
	"add_rule": {"POST /v1/mailboxes/{mailbox_id}/rules", func(*testing.T, *fixtures) map[string]any {
		return map[string]any{"mailbox_id": ownA, "tags": []string{"mcp"}, "action": "require_approval"}
	}},
	"set_rules": {"PUT /v1/mailboxes/{mailbox_id}/rules", func(*testing.T, *fixtures) map[string]any {
		return map[string]any{"mailbox_id": ownA, "rules": []map[string]any{{"tags": []string{"otp"}, "action": "auto_approve"}}}
	}},
	"remove_rule": {"DELETE /v1/mailboxes/{mailbox_id}/rules/{rule_id}", func(t *testing.T, f *fixtures) map[string]any {
		c := matrixRows()["DELETE /v1/mailboxes/{mailbox_id}/rules/{rule_id}"].setup(t, f)
		return map[string]any{"mailbox_id": ownA, "rule_id": c.path[strings.LastIndex(c.path, "/")+1:]}
	}},
	"get_oversight": {"GET /v1/mailboxes/{mailbox_id}/oversight", func(*testing.T, *fixtures) map[string]any { return map[string]any{"mailbox_id": ownA} }},
	"request_oversight": {"POST /v1/mailboxes/{mailbox_id}/oversight_request", func(*testing.T, *fixtures) map[string]any {
		return map[string]any{"mailbox_id": ownA, "oversight": "autonomous"}
	}},
	"set_oversight": {"PUT /v1/mailboxes/{mailbox_id}/oversight", func(*testing.T, *fixtures) map[string]any {
		return map[string]any{"mailbox_id": ownA, "oversight": "autonomous"}
	}},
	"list_oversight_requests": {"GET /v1/oversight_requests", func(*testing.T, *fixtures) map[string]any { return map[string]any{} }},
	"approve_oversight_request": {"POST /v1/mailboxes/{mailbox_id}/oversight_request/approve", func(t *testing.T, f *fixtures) map[string]any {
		matrixRows()["POST /v1/mailboxes/{mailbox_id}/oversight_request/approve"].setup(t, f)
		return map[string]any{"mailbox_id": ownA}
	}},
	"reject_oversight_request": {"POST /v1/mailboxes/{mailbox_id}/oversight_request/reject", func(t *testing.T, f *fixtures) map[string]any {
		matrixRows()["POST /v1/mailboxes/{mailbox_id}/oversight_request/reject"].setup(t, f)
		return map[string]any{"mailbox_id": ownA, "reason": "mcp matrix"}
	}},
	// the agent's mailbox (mail.go)
	"reply_email": {"POST /v1/emails/{email_id}/reply", func(_ *testing.T, f *fixtures) map[string]any {
		return map[string]any{"email_id": f.emailA, "text": "thanks"}
	}},
	"check_inbox": {"GET /v1/mailboxes/{mailbox_id}/check_inbox", func(*testing.T, *fixtures) map[string]any {
		return map[string]any{"mailbox_id": ownA, "timeout": 0}
	}},
	"get_thread": {"GET /v1/threads/{thread_id}", func(t *testing.T, f *fixtures) map[string]any {
		em, err := f.e.store.Email(context.Background(), f.emailA)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"thread_id": em.ThreadID}
	}},
	"move_email": {"POST /v1/emails/{email_id}/move", func(_ *testing.T, f *fixtures) map[string]any {
		return map[string]any{"email_id": f.emailA, "folder": "INBOX"}
	}},
	"archive_email": {"POST /v1/emails/{email_id}/archive", func(_ *testing.T, f *fixtures) map[string]any {
		return map[string]any{"email_id": f.e.deliver(ownA, testRaw, mailbox.DeliverOptions{})}
	}},
	"delete_email": {"DELETE /v1/emails/{email_id}", func(_ *testing.T, f *fixtures) map[string]any {
		return map[string]any{"email_id": f.e.deliver(ownA, testRaw, mailbox.DeliverOptions{})}
	}},
	"mark_email": {"POST /v1/emails/{email_id}/mark", func(_ *testing.T, f *fixtures) map[string]any {
		return map[string]any{"email_id": f.emailA, "read": true}
	}},
	// the test outbox
	"list_test_outbox": {"GET /v1/mailboxes/{mailbox_id}/test_outbox", func(*testing.T, *fixtures) map[string]any { return map[string]any{"mailbox_id": ownA} }},
	"read_test_message": {"GET /v1/mailboxes/{mailbox_id}/test_outbox/{message_id}", func(_ *testing.T, f *fixtures) map[string]any {
		return map[string]any{"mailbox_id": ownA, "message_id": f.testMsgA}
	}},
	// sending (docs/sending.md)
	"cancel_message": {"POST /v1/messages/{message_id}/cancel", func(_ *testing.T, f *fixtures) map[string]any {
		return map[string]any{"message_id": f.e.send(otpBody())}
	}},
	"send_batch": {"POST /v1/send_batch", func(*testing.T, *fixtures) map[string]any {
		return map[string]any{"messages": []any{otpBody()}}
	}},
	"list_suppressions": {"GET /v1/suppressions", func(*testing.T, *fixtures) map[string]any {
		return map[string]any{"domain": "yourproduct.com"}
	}},
	"add_suppression": {"POST /v1/suppressions", func(_ *testing.T, f *fixtures) map[string]any {
		return map[string]any{"domain": "yourproduct.com", "address": f.fresh("ms") + "@dest.example"}
	}},
	"delete_suppression": {"DELETE /v1/suppressions", func(t *testing.T, f *fixtures) map[string]any {
		addr := f.fresh("md") + "@dest.example"
		if err := f.e.q.Suppress(context.Background(), queue.Suppression{Domain: "yourproduct.com", Address: addr, Reason: "manual"}); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"domain": "yourproduct.com", "address": addr}
	}},
}

func TestAuthorizationMatrixMCP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	f := newFixtures(t, e)
	rows := matrixRows()
	covered := map[string]bool{}
	for row := range mcpTools {
		covered[strings.Split(row, "#")[0]] = true
	}
	for _, name := range mcp.ToolNames() {
		if !covered[name] {
			t.Errorf("MCP tool %s has no row in the authorization matrix: add one", name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, k := range matrixKinds() {
		key := mailbox.APIKey{Mailboxes: k.mailboxes, Scopes: k.scopes, Test: k.test}
		if k.legacy {
			e.addLegacyKey(k.name, key)
		} else {
			plainName := strings.NewReplacer(":", "_", "*", "star").Replace(k.name)
			e.addKey(plainName, key)
			e.keys[k.name] = e.keys[plainName]
		}
		tr := &sdk.StreamableClientTransport{Endpoint: e.http.URL + "/mcp",
			HTTPClient: &http.Client{Transport: bearerTransport{e.keys[k.name]}}, MaxRetries: -1}
		cs, err := sdk.NewClient(&sdk.Implementation{Name: "matrix", Version: "1"}, nil).Connect(ctx, tr, nil)
		if err != nil {
			t.Fatalf("%s: %v", k.name, err)
		}
		for row, m := range mcpTools {
			tool := strings.Split(row, "#")[0]
			want := expectID(m.route, rows[m.route], k)
			res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: m.args(t, f)})
			if err != nil {
				t.Fatalf("%s as %s: %v", tool, k.name, err)
			}
			text := toolText(res)
			if want < 400 {
				if res.IsError {
					t.Errorf("%s as %s: tool error, want success (%d): %s", tool, k.name, want, text)
				}
				continue
			}
			var body struct {
				Error struct{ Code string }
			}
			_ = json.Unmarshal([]byte(text), &body)
			wantCode := map[int]string{403: CodeForbidden, 404: CodeNotFound}[want]
			if !res.IsError || body.Error.Code != wantCode {
				t.Errorf("%s as %s: error=%v %s, want %s", tool, k.name, res.IsError, text, wantCode)
			}
		}
		_ = cs.Close()
	}
}

// TestKeyCreationLimits: a key never mints more than it holds, and send never comes with
// approve or admin.
func TestKeyCreationLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.addKey("mbadmin", mailbox.APIKey{Mailboxes: []string{ownA}, Scopes: []string{"approve", "admin"}})
	cases := []struct {
		name, key string
		body      map[string]any
		status    int
		field     string
	}{
		{"mailbox admin mints *", "mbadmin", map[string]any{"mailbox": "*", "scopes": []string{"admin"}}, 403, ""},
		{"mailbox admin mints for another mailbox", "mbadmin", map[string]any{"mailbox": otherM, "scopes": []string{"read"}}, 403, ""},
		{"mailbox admin mints for a mailbox that does not exist", "mbadmin", map[string]any{"mailbox": "ghost@example.com", "scopes": []string{"read"}}, 403, ""},
		{"mailbox admin mints send", "mbadmin", map[string]any{"mailbox": ownA, "scopes": []string{"send"}}, 403, ""},
		{"mailbox admin mints the default scopes (send)", "mbadmin", map[string]any{"mailbox": ownA}, 403, ""},
		{"mailbox admin mints a second operator key", "mbadmin", map[string]any{"mailbox": ownA, "scopes": []string{"approve", "admin"}}, 201, ""},
		{"mailbox admin mints read", "mbadmin", map[string]any{"mailbox": ownA, "scopes": []string{"read", "tag"}}, 201, ""},
		{"send with admin", "admin", map[string]any{"mailbox": ownA, "scopes": []string{"send", "read", "admin"}}, 422, "scopes[0]"},
		{"send with approve", "admin", map[string]any{"mailbox": ownA, "scopes": []string{"approve", "send"}}, 422, "scopes[1]"},
		{"* send with admin", "admin", map[string]any{"mailbox": "*", "scopes": []string{"send", "admin"}}, 422, "scopes[0]"},
		{"unknown scope", "admin", map[string]any{"mailbox": ownA, "scopes": []string{"read", "root"}}, 400, "scopes[1]"},
		{"* admin mints an approve key", "admin", map[string]any{"mailbox": ownA, "scopes": []string{"approve"}}, 201, ""},
		{"* admin mints an agent key", "admin", map[string]any{"mailbox": ownA, "scopes": []string{"send", "read", "tag"}}, 201, ""},
		{"* admin mints *", "admin", map[string]any{"mailbox": "*", "scopes": []string{"admin"}}, 201, ""},
	}
	for _, tc := range cases {
		r := e.do("POST", "/v1/admin/keys", tc.key, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, r.status, tc.status, r.body)
			continue
		}
		if tc.field != "" {
			if _, field, _ := r.apiError(t); field != tc.field {
				t.Errorf("%s: field %q, want %q", tc.name, field, tc.field)
			}
		}
	}
	// The CLI (ctl socket) is bound by the same scope rule.
	admin := httptestAdmin(t, e)
	r := admin("POST", "/v1/admin/keys", map[string]any{"mailbox": ownA, "scopes": []string{"send", "approve"}})
	if r.status != 422 {
		t.Errorf("CLI send+approve: %d %s", r.status, r.body)
	}
}

// httptestAdmin calls the admin (ctl socket) handler in process.
func httptestAdmin(t *testing.T, e *testEnv) func(method, path string, body any) response {
	return func(method, path string, body any) response {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		e.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(string(b))))
		return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	}
}

// sinkTestMessage sends a message of ownA with a test key and runs the queue until the test
// sink has it (live leases Next hands out meanwhile are postponed an hour, untouched).
func sinkTestMessage(t *testing.T, e *testEnv) string {
	t.Helper()
	if _, ok := e.keys["outbox_test"]; !ok {
		e.addKey("outbox_test", mailbox.APIKey{Mailboxes: []string{ownA}, Scopes: []string{"send"}, Test: true})
	}
	r := e.do("POST", "/v1/send_email", "outbox_test", otpBody())
	var out struct {
		MessageID string `json:"message_id"`
	}
	r.json(t, &out)
	if r.status != 202 {
		t.Fatalf("test send: %d %s", r.status, r.body)
	}
	for range 50 {
		if st, err := e.q.Status(context.Background(), out.MessageID); err == nil && st.State == "delivered" {
			return out.MessageID
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		l, err := e.q.Next(ctx)
		cancel()
		if err == nil {
			if err := e.q.Postpone(context.Background(), l, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatalf("test message %s never reached the sink", out.MessageID)
	return ""
}
