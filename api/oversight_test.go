package api

import (
	"context"
	"strings"
	"testing"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/submission"
)

// TestOversightControls: an allowlist entry makes a gated send go out without a decision; a
// rule is evaluated after the config's; the trust ladder; who may edit; errors name the field;
// every change is an audit record naming who.
func TestOversightControls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{rules: []submission.Rule{{Mailbox: "gated@example.com", Tags: []string{"cfg"}, Action: "reject"}}})
	e.addKey("approver", mailbox.APIKey{Mailboxes: []string{"gated@example.com"}, Scopes: []string{"approve"}})
	base := "/v1/mailboxes/gated@example.com"

	// The agent's key (send) never edits; an approver of another mailbox is 403.
	for _, k := range []string{"gated", "other", "send"} {
		if r := e.do("POST", base+"/allowlist", k, map[string]any{"entry": "x@y.example"}); r.status != 403 {
			t.Fatalf("%s: %d %s", k, r.status, r.body)
		}
	}
	// Field errors.
	r := e.do("POST", base+"/allowlist", "approver", map[string]any{"entry": "not an address"})
	if code, field, _ := r.apiError(t); r.status != 400 || field != "entry" {
		t.Fatalf("bad entry: %d %s %s", r.status, code, r.body)
	}
	r = e.do("PUT", base+"/rules", "approver", map[string]any{"rules": []map[string]any{{"action": "maybe"}}})
	if _, field, _ := r.apiError(t); r.status != 400 || field != "rules[0].action" {
		t.Fatalf("bad rule: %d %s", r.status, r.body)
	}
	r = e.do("PUT", base+"/oversight", "approver", map[string]any{"oversight": "trusting"})
	if _, field, _ := r.apiError(t); r.status != 400 || field != "oversight" {
		t.Fatalf("bad mode: %d %s", r.status, r.body)
	}

	// Allowlisted recipients go out; one recipient off the list holds the send.
	if r := e.do("POST", base+"/allowlist", "approver", map[string]any{"entry": "@partner.example"}); r.status != 201 {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	send := func(to []string, tags []string) string {
		body := otpBody()
		body["mailbox_id"], body["to"], body["tags"] = "gated@example.com", to, tags
		r := e.do("POST", "/v1/send_email", "gated", body)
		var out struct{ Status string }
		r.json(t, &out)
		return out.Status
	}
	if st := send([]string{"a@partner.example", "b@partner.example"}, nil); st != "queued" {
		t.Fatalf("allowlisted send: %s", st)
	}
	if st := send([]string{"a@partner.example", "c@elsewhere.example"}, nil); st != "pending_approval" {
		t.Fatalf("partly allowlisted send: %s", st)
	}
	// The config rule (read-only) decides before the allowlist and the API rules.
	if st := send([]string{"a@partner.example"}, []string{"cfg"}); st != "rejected" {
		t.Fatalf("config reject: %s", st)
	}
	if r := e.do("POST", base+"/rules", "approver", map[string]any{"tags": []string{"otp"}, "action": "auto_approve"}); r.status != 201 {
		t.Fatalf("add rule: %d %s", r.status, r.body)
	}
	if st := send([]string{"z@elsewhere.example"}, []string{"otp"}); st != "queued" {
		t.Fatalf("API rule: %s", st)
	}
	var rules struct {
		Rules []struct {
			RuleID, Source string
			ReadOnly       bool `json:"read_only"`
		}
	}
	e.do("GET", base+"/rules", "approver", nil).json(t, &rules)
	if len(rules.Rules) != 2 || rules.Rules[0].Source != "config" || !rules.Rules[0].ReadOnly || rules.Rules[1].Source != "api" {
		t.Fatalf("rules: %+v", rules)
	}
	if r := e.do("DELETE", base+"/rules/config:1", "approver", nil); r.status != 409 {
		t.Fatalf("delete config rule: %d", r.status)
	}
	if r := e.do("DELETE", base+"/allowlist/@partner.example", "approver", nil); r.status != 200 {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	if st := send([]string{"a@partner.example"}, nil); st != "pending_approval" {
		t.Fatalf("after removal: %s", st)
	}

	// Trust ladder: an upgrade waits, a downgrade applies at once.
	r = e.do("POST", base+"/oversight_request", "gated", map[string]any{"oversight": "autonomous", "reason": "tests pass"})
	var res struct {
		Status, Oversight string
		Request           struct {
			RequestID string `json:"request_id"`
		}
	}
	r.json(t, &res)
	if r.status != 202 || res.Status != "pending" || res.Oversight != "gated_send" {
		t.Fatalf("upgrade: %d %s", r.status, r.body)
	}
	if m, _ := e.store.Mailbox(context.Background(), "gated@example.com"); m.Oversight != mailbox.GatedSend {
		t.Fatalf("an upgrade applied without a person: %s", m.Oversight)
	}
	// The agent cannot approve its own request.
	if r := e.do("POST", base+"/oversight_request/approve", "gated", nil); r.status != 403 {
		t.Fatalf("self-approve: %d", r.status)
	}
	var list struct {
		Requests []struct {
			RequestID string `json:"request_id"`
		}
	}
	e.do("GET", "/v1/oversight_requests", "approver", nil).json(t, &list)
	if len(list.Requests) != 1 || list.Requests[0].RequestID != res.Request.RequestID {
		t.Fatalf("list: %+v", list)
	}
	if r := e.do("POST", base+"/oversight_request/approve", "approver", map[string]any{"request_id": "ovr_stale"}); r.status != 409 {
		t.Fatalf("stale id: %d", r.status)
	}
	if r := e.do("POST", base+"/oversight_request/approve", "approver", map[string]any{"request_id": res.Request.RequestID}); r.status != 200 {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	if m, _ := e.store.Mailbox(context.Background(), "gated@example.com"); m.Oversight != mailbox.Autonomous {
		t.Fatalf("after approval: %s", m.Oversight)
	}
	r = e.do("POST", base+"/oversight_request", "gated", map[string]any{"oversight": "read_only"})
	r.json(t, &res)
	if r.status != 200 || res.Status != "applied" || res.Oversight != "read_only" {
		t.Fatalf("downgrade: %d %s", r.status, r.body)
	}
	// A request then a person's rejection.
	e.do("POST", base+"/oversight_request", "gated", map[string]any{"oversight": "monitored"})
	if r := e.do("POST", base+"/oversight_request/reject", "approver", map[string]any{"reason": "not yet"}); r.status != 200 {
		t.Fatalf("reject: %d %s", r.status, r.body)
	}
	if m, _ := e.store.Mailbox(context.Background(), "gated@example.com"); m.Oversight != mailbox.ReadOnly {
		t.Fatalf("after rejection: %s", m.Oversight)
	}
	// A person sets the mode (towards less oversight too).
	if r := e.do("PUT", base+"/oversight", "approver", map[string]any{"oversight": "gated_send"}); r.status != 200 {
		t.Fatalf("set: %d %s", r.status, r.body)
	}

	// Every change is in the audit journal with who made it.
	var page struct{ Lines []string }
	e.do("GET", "/v1/audit?limit=1000&mailbox=gated@example.com", "admin", nil).json(t, &page)
	all := strings.Join(page.Lines, "\n")
	for _, want := range []string{`"kind":"oversight.allowlist","actor":"api:key_approver"`, `"kind":"oversight.rule","actor":"api:key_approver"`,
		`"kind":"oversight.request","actor":"api:key_gated"`, `"kind":"oversight","actor":"api:key_approver"`,
		`"kind":"oversight","actor":"api:key_gated"`, `"via":"request.approve"`, `"state":"rejected"`, `"entry":"@partner.example"`} {
		if !strings.Contains(all, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
	// And the trust ladder's events are in the request's trail (so on the webhooks).
	evs, err := e.q.Events(context.Background(), res.Request.RequestID)
	if err != nil || len(evs) != 2 || evs[0].Type != EventOversightRequested || evs[1].Type != EventOversightApproved {
		t.Fatalf("events: %+v %v", evs, err)
	}
}
