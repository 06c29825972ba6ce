package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"multimail.dev/multimail/mta/mtatest"
)

// The oversight tests' mailbox: gated, with an agent key (send) of its own.
const (
	ovKey = "mm_live_e2e_ovsg_key_000000000001"
	ovMB  = `
[[mailbox]]
address = "ov@example.com"
oversight = "gated_send"
api_keys = ["mm_live_e2e_ovsg_key_000000000001"]

[[mailbox]]
address = "ov2@example.com"
oversight = "gated_send"

[[approval_rule]]
mailbox = "ov@example.com"
tags = ["never"]
action = "reject"
`
)

// operatorKey makes an operator key (no send) over the CLI.
func operatorKey(t *testing.T, n *Node, mailbox, scopes string) string {
	t.Helper()
	m := apiKeyLine.FindStringSubmatch(n.mustCLI(t, "key", "create", "--mailbox", mailbox, "--scope", scopes))
	if m == nil {
		t.Fatal("key create printed no key")
	}
	return m[1]
}

func ovSend(t *testing.T, n *Node, to []string, subject string) (id, status string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"mailbox_id": "ov@example.com", "to": to, "subject": subject, "text": "code 123456"})
	code, out := n.Do("POST", "/v1/send_email", ovKey, body)
	var r struct {
		MessageID string `json:"message_id"`
		Status    string `json:"status"`
	}
	if code != 202 || json.Unmarshal(out, &r) != nil {
		t.Fatalf("send = %d %s", code, out)
	}
	return r.MessageID, r.Status
}

func mode(t *testing.T, n *Node, key string) string {
	t.Helper()
	code, out := n.Do("GET", "/v1/mailboxes/ov@example.com/oversight", key, nil)
	var o struct{ Oversight string }
	if code != 200 || json.Unmarshal(out, &o) != nil {
		t.Fatalf("oversight = %d %s", code, out)
	}
	return o.Oversight
}

// TestOversightControlsBinary, through the binary: the agent's send key gets 403 on every
// rule and allowlist edit; an allowlisted recipient set skips approval in gated_send and
// reaches the MX with no decision, while one recipient off the list holds the send; the
// trust ladder's upgrade waits for a person and its downgrade does not, with webhooks; every
// change is in the audit journal.
func TestOversightControlsBinary(t *testing.T) {
	t.Parallel()
	n := Start(t, Options{Config: ovMB})
	op := operatorKey(t, n, "ov@example.com", "approve")
	admin := operatorKey(t, n, "*", "admin")
	j := func(v any) []byte { b, _ := json.Marshal(v); return b }

	// The agent's key never edits its own oversight.
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/mailboxes/ov@example.com/allowlist"}, {"POST", "/v1/mailboxes/ov@example.com/allowlist"},
		{"PUT", "/v1/mailboxes/ov@example.com/allowlist"}, {"DELETE", "/v1/mailboxes/ov@example.com/allowlist/@customer.test"},
		{"GET", "/v1/mailboxes/ov@example.com/rules"}, {"POST", "/v1/mailboxes/ov@example.com/rules"},
		{"PUT", "/v1/mailboxes/ov@example.com/rules"}, {"DELETE", "/v1/mailboxes/ov@example.com/rules/rl_x"},
		{"PUT", "/v1/mailboxes/ov@example.com/oversight"}, {"POST", "/v1/mailboxes/ov@example.com/oversight_request/approve"},
	} {
		if code, out := n.Do(c.method, c.path, ovKey, j(map[string]any{"entry": "@customer.test", "entries": []string{}, "action": "auto_approve", "tags": []string{"x"}, "oversight": "autonomous"})); code != 403 {
			t.Errorf("%s %s with the send key = %d %s", c.method, c.path, code, out)
		}
	}
	// The operator of ov@ does not edit ov2@.
	if code, _ := n.Do("POST", "/v1/mailboxes/ov2@example.com/allowlist", op, j(map[string]string{"entry": "@customer.test"})); code != 403 {
		t.Fatalf("operator of ov@ edits ov2@: %d", code)
	}

	// Allowlist: the whole recipient set must be on it.
	if code, out := n.Do("POST", "/v1/mailboxes/ov@example.com/allowlist", op, j(map[string]string{"entry": "@customer.test"})); code != 201 {
		t.Fatalf("add = %d %s", code, out)
	}
	if code, out := n.Do("POST", "/v1/mailboxes/ov@example.com/allowlist", op, j(map[string]string{"entry": "ceo@"})); code != 400 || !strings.Contains(string(out), `"field":"entry"`) {
		t.Fatalf("bad entry = %d %s", code, out)
	}
	okID, st := ovSend(t, n, []string{"a@customer.test", "b@customer.test"}, "allowlisted send")
	if st != "queued" {
		t.Fatalf("allowlisted send: %s", st)
	}
	heldID, st := ovSend(t, n, []string{"a@customer.test", "x@elsewhere.test"}, "half allowlisted send")
	if st != "pending_approval" {
		t.Fatalf("half-allowlisted send: %s", st)
	}
	ctx := Context(t, 60*time.Second)
	if _, err := n.MX.WaitUntil(ctx, func(ms []mtatest.Message) bool {
		c := 0
		for _, m := range ms {
			if strings.Contains(string(m.Data), "Subject: allowlisted send") {
				c++
			}
		}
		return c > 0
	}); err != nil {
		t.Fatalf("the allowlisted send never reached the MX: %v", err)
	}
	if _, err := n.Hooks.WaitEvent(ctx, okID, "delivered"); err != nil {
		t.Fatal(err)
	}
	for _, m := range n.MX.Messages() {
		if strings.Contains(string(m.Data), "half allowlisted send") && !strings.Contains(string(m.Data), "Approval needed") {
			t.Fatalf("a send with a recipient off the allowlist went out: %s", heldID)
		}
	}
	code, out := n.Do("GET", "/v1/messages/"+okID, ovKey, nil)
	if code != 200 || !strings.Contains(string(out), `"by":"allowlist"`) {
		t.Fatalf("the trail does not say the allowlist released it: %s", out)
	}

	// Rules: the config rule is listed read-only, an API rule can be added and removed.
	code, out = n.Do("GET", "/v1/mailboxes/ov@example.com/rules", op, nil)
	if code != 200 || !strings.Contains(string(out), `"source":"config","read_only":true`) {
		t.Fatalf("rules = %d %s", code, out)
	}

	// Trust ladder: the agent asks for autonomous; nothing changes until a person says so.
	code, out = n.Do("POST", "/v1/mailboxes/ov@example.com/oversight_request", ovKey, j(map[string]string{"oversight": "autonomous", "reason": "please"}))
	var res struct {
		Status  string
		Request struct {
			RequestID string `json:"request_id"`
		}
	}
	if code != 202 || json.Unmarshal(out, &res) != nil || res.Status != "pending" {
		t.Fatalf("upgrade = %d %s", code, out)
	}
	if m := mode(t, n, ovKey); m != "gated_send" {
		t.Fatalf("an upgrade applied by itself: %s", m)
	}
	if _, err := n.Hooks.WaitEvent(ctx, res.Request.RequestID, "oversight_requested"); err != nil {
		t.Fatal(err)
	}
	if code, _ := n.Do("POST", "/v1/mailboxes/ov@example.com/oversight_request/approve", op, j(map[string]string{"request_id": res.Request.RequestID})); code != 200 {
		t.Fatalf("approve request = %d", code)
	}
	if m := mode(t, n, ovKey); m != "autonomous" {
		t.Fatalf("after approval: %s", m)
	}
	if _, err := n.Hooks.WaitEvent(ctx, res.Request.RequestID, "oversight_approved"); err != nil {
		t.Fatal(err)
	}
	// A downgrade applies at once, without anyone.
	code, out = n.Do("POST", "/v1/mailboxes/ov@example.com/oversight_request", ovKey, j(map[string]string{"oversight": "read_only"}))
	if code != 200 || !strings.Contains(string(out), `"status":"applied"`) || mode(t, n, ovKey) != "read_only" {
		t.Fatalf("downgrade = %d %s", code, out)
	}
	body, _ := json.Marshal(map[string]any{"mailbox_id": "ov@example.com", "to": "a@customer.test", "subject": "s", "text": "t"})
	if code, _ := n.Do("POST", "/v1/send_email", ovKey, body); code != 403 {
		t.Fatalf("send in read_only = %d", code)
	}

	// The journal names who did each.
	code, out = n.Do("GET", "/v1/audit?limit=1000&mailbox=ov@example.com", admin, nil)
	if code != 200 {
		t.Fatalf("audit = %d", code)
	}
	for _, want := range []string{`\"kind\":\"oversight.allowlist\",\"actor\":\"api:key_`, `\"kind\":\"oversight.request\",\"actor\":\"api:key_`,
		`\"via\":\"request.approve\"`, `\"via\":\"request\"`, `\"decided_by\":\"allowlist\"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("audit lacks %s", want)
		}
	}
}

// TestOversightSDK: the Python SDK's oversight methods against the binary.
func TestOversightSDK(t *testing.T) {
	t.Parallel()
	py := Tool(t, "python3")
	n := Start(t, Options{Config: ovMB})
	op := operatorKey(t, n, "ov@example.com", "approve")
	prog := `
import os, sys
from multimail import MultimailClient, Forbidden, Conflict, InvalidRequest
op = MultimailClient(os.environ["OP_KEY"])
agent = MultimailClient(os.environ["AGENT_KEY"])
mb = "ov@example.com"
al = op.add_allowlist_entry(mb, "@customer.test")
assert [e.entry for e in al.entries] == ["@customer.test"], al
al = op.set_allowlist(mb, ["ops@partner.test", "@customer.test"])
assert len(op.get_allowlist(mb).entries) == 2
al = op.remove_allowlist_entry(mb, "ops@partner.test")
assert [e.entry for e in al.entries] == ["@customer.test"]
try:
    agent.add_allowlist_entry(mb, "@evil.test"); sys.exit("agent edited its allowlist")
except Forbidden:
    pass
try:
    op.add_allowlist_entry(mb, "not an address"); sys.exit("bad entry accepted")
except InvalidRequest as e:
    assert e.field == "entry", e.field
rl = op.add_rule(mb, "auto_approve", tags=["otp"])
api_rules = [r for r in rl.rules if r.source == "api"]
assert len(api_rules) == 1 and any(r.read_only and r.source == "config" for r in rl.rules)
rl = op.set_rules(mb, [{"recipients": ["*@blocked.test"], "action": "reject"}])
rid = [r.rule_id for r in rl.rules if r.source == "api"][0]
op.remove_rule(mb, rid)
try:
    op.remove_rule(mb, "config:1"); sys.exit("config rule removed")
except Conflict:
    pass
assert agent.get_oversight(mb).oversight == "gated_send"
res = agent.request_oversight(mb, "monitored", reason="sdk")
assert res.status == "pending" and res.request.to == "monitored" and res.request.from_ == "gated_send", res
assert [r.request_id for r in op.list_oversight_requests().requests] == [res.request.request_id]
o = op.reject_oversight_request(mb, res.request.request_id, reason="not yet")
assert o.oversight == "gated_send" and o.pending_request is None
res = agent.request_oversight(mb, "autonomous")
o = op.approve_oversight_request(mb, res.request.request_id)
assert o.oversight == "autonomous"
assert agent.request_oversight(mb, "gated_all").status == "applied"
assert op.set_oversight(mb, "gated_send", reason="back").oversight == "gated_send"
print("ok")
`
	out := runPython(t, py, pythonEnv(t, n, "OP_KEY="+op, "AGENT_KEY="+ovKey), 60*time.Second, "-c", prog)
	if strings.TrimSpace(out) != "ok" {
		t.Fatalf("python: %s", out)
	}
}

// TestConsoleOversight drives the console's Mailboxes page in headless chromium: an approver
// of ov@ adds an allowlist entry and a rule, changes the mode through a confirmation page (the
// first POST changes nothing), grants the agent's request, and can neither see nor change
// ov2@; the changes are audited as the console session's key.
func TestConsoleOversight(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	dir := shots(t)
	n := Start(t, Options{Config: ovMB})
	op := operatorKey(t, n, "ov@example.com", "approve,read")
	admin := operatorKey(t, n, "*", "admin")

	signIn(t, ctx, n, op)
	run(t, ctx, chromedp.Navigate(n.URL("/console/mailboxes")))
	bodyHas(t, ctx, "ov@example.com")
	run(t, ctx, chromedp.Navigate(n.URL("/console/mailboxes/ov@example.com")), chromedp.WaitVisible(chromedp.ID("#entry")))
	bodyHas(t, ctx, "config (read-only)")
	run(t, ctx, chromedp.SendKeys(chromedp.ID("#entry"), "@customer.test"), chromedp.Click(chromedp.ID("#allow-add")))
	bodyHas(t, ctx, "Added @customer.test to the allowlist.")
	if !eval[bool](t, ctx, `document.getElementById("allowlist").innerText.includes("@customer.test")`) {
		t.Fatal("the entry is not listed")
	}
	if _, st := ovSend(t, n, []string{"z@customer.test"}, "console allowlisted"); st != "queued" {
		t.Fatalf("allowlisted from the console, yet: %s", st)
	}
	shoot(t, ctx, dir, "11-mailbox")

	// Mode change: the form leads to a confirmation page; only its button changes the mode.
	run(t, ctx, js(`document.getElementById("oversight").value = "monitored"`),
		chromedp.SendKeys(chromedp.ID("#mode-reason"), "trial week"),
		chromedp.Submit(chromedp.ID("#oversight")))
	bodyHas(t, ctx, "Yes, change to monitored")
	bodyHas(t, ctx, "less")
	shoot(t, ctx, dir, "12-mode-confirm")
	if m := mode(t, n, ovKey); m != "gated_send" {
		t.Fatalf("the mode changed before confirmation: %s", m)
	}
	run(t, ctx, chromedp.Click(chromedp.ID("#confirm")))
	bodyHas(t, ctx, "Oversight mode is now monitored.")
	if m := mode(t, n, ovKey); m != "monitored" {
		t.Fatalf("after confirmation: %s", m)
	}

	// The agent asks for autonomous; the person grants it on the page.
	code, out := n.Do("POST", "/v1/mailboxes/ov@example.com/oversight_request", ovKey, []byte(`{"oversight":"autonomous","reason":"from the agent"}`))
	if code != 202 {
		t.Fatalf("request = %d %s", code, out)
	}
	run(t, ctx, chromedp.Navigate(n.URL("/console/mailboxes")))
	bodyHas(t, ctx, "Agents asking for less oversight")
	run(t, ctx, chromedp.Navigate(n.URL("/console/mailboxes/ov@example.com")))
	bodyHas(t, ctx, "from the agent")
	run(t, ctx, chromedp.Click(chromedp.CSS(`form.decide button[type=submit]`)))
	bodyHas(t, ctx, "Request approved.")
	if m := mode(t, n, ovKey); m != "autonomous" {
		t.Fatalf("after granting: %s", m)
	}

	// ov2@ is not this approver's: its page is refused, and a forged form (with the session's
	// valid CSRF token) changes nothing.
	run(t, ctx, chromedp.Navigate(n.URL("/console/mailboxes/ov2@example.com")))
	bodyHas(t, ctx, "not found or not overseen by your key")
	if eval[bool](t, ctx, `document.body.innerText.includes("Recipient allowlist")`) {
		t.Fatal("the approver of ov@ sees ov2@'s controls")
	}
	run(t, ctx, chromedp.Navigate(n.URL("/console/mailboxes/ov@example.com")), chromedp.WaitVisible(chromedp.ID("#entry")))
	run(t, ctx, js(`(() => { const f = document.querySelector("form[action$='/allow']");
		f.action = "/console/mailboxes/ov2@example.com/allow"; document.getElementById("entry").value = "@evil.test"; f.submit(); })()`))
	bodyHas(t, ctx, "Not done")
	for _, path := range []string{"/v1/mailboxes/ov2@example.com/allowlist"} {
		code, out := n.Do("GET", path, admin, nil)
		if code != 200 || strings.Contains(string(out), "evil") {
			t.Fatalf("ov2@ changed by ov@'s approver: %d %s", code, out)
		}
	}
	run(t, ctx, chromedp.Navigate(n.URL("/console/mailboxes/ov@example.com")), chromedp.WaitVisible(chromedp.ID("#entry")))
	run(t, ctx, js(`(() => { const f = document.querySelector("form[action$='/mode']"); f.action = "/console/mailboxes/ov2@example.com/mode";
		const c = document.createElement("input"); c.type = "hidden"; c.name = "confirm"; c.value = "yes"; f.appendChild(c);
		document.getElementById("oversight").value = "autonomous"; f.submit(); })()`))
	bodyHas(t, ctx, "Not done")
	code, out = n.Do("GET", "/v1/mailboxes/ov2@example.com/oversight", admin, nil)
	if code != 200 || !strings.Contains(string(out), `"oversight":"gated_send"`) {
		t.Fatalf("ov2@'s mode changed: %d %s", code, out)
	}

	// Audited as the console session's key.
	code, out = n.Do("GET", "/v1/audit?limit=1000&mailbox=ov@example.com", admin, nil)
	for _, want := range []string{`\"kind\":\"oversight.allowlist\",\"actor\":\"console:key_`, `\"kind\":\"oversight\",\"actor\":\"console:key_`} {
		if code != 200 || !strings.Contains(string(out), want) {
			t.Errorf("audit lacks %s", want)
		}
	}
}
