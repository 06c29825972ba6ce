package submission

import (
	"strings"
	"testing"
	"time"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

func TestRuleMatching(t *testing.T) {
	t.Parallel()
	rules := []Rule{
		{Mailbox: "a@example.com", Tags: []string{"auth"}, Recipients: []string{"*@partner.example"}, Action: ActionAutoApprove},
		{Recipients: []string{"*@blocked.example", "ceo@*"}, Action: ActionReject},
		{Mailbox: "*", Action: ActionRequireApproval},
	}
	now := time.Unix(1700000000, 0)
	cases := []struct {
		name  string
		mbox  string
		tags  []string
		rcpts []string
		state queue.ApprovalState
		by    string
	}{
		{"all conditions", "a@example.com", []string{"AUTH", "x"}, []string{"u@partner.example"}, queue.ApprovalApproved, "rule:1"},
		{"other mailbox falls through", "b@example.com", []string{"auth"}, []string{"u@partner.example"}, queue.ApprovalPending, ""},
		{"one recipient outside", "a@example.com", []string{"auth"}, []string{"u@partner.example", "v@else.example"}, queue.ApprovalPending, ""},
		{"second pattern", "b@example.com", nil, []string{"ceo@anything.example"}, queue.ApprovalRejected, "rule:2"},
		{"mixed patterns all match", "b@example.com", nil, []string{"x@blocked.example", "ceo@y.example"}, queue.ApprovalRejected, "rule:2"},
		{"case-insensitive recipients", "b@example.com", nil, []string{"X@BLOCKED.example"}, queue.ApprovalRejected, "rule:2"},
	}
	for _, tc := range cases {
		a := ruleApproval(rules, tc.mbox, tc.tags, tc.rcpts, now)
		if a.State != tc.state || a.By != tc.by {
			t.Errorf("%s: %+v, want %s by %q", tc.name, a, tc.state, tc.by)
		}
		if a.State != queue.ApprovalPending && (!a.DecidedAt.Equal(now) || !strings.Contains(a.Rule, "action=")) {
			t.Errorf("%s: decision lacks time or rule: %+v", tc.name, a)
		}
	}
	if a := ruleApproval(nil, "a@example.com", nil, []string{"x@y.z"}, now); a.State != queue.ApprovalPending {
		t.Errorf("no rules: %+v", a)
	}
}

func TestDecideModes(t *testing.T) {
	t.Parallel()
	auto := []Rule{{Action: ActionAutoApprove}}
	for _, tc := range []struct {
		mode      mailbox.Oversight
		approval  queue.ApprovalState
		monitored bool
		err       bool
	}{
		{mailbox.Autonomous, "", false, false},
		{mailbox.Monitored, "", true, false},
		{mailbox.GatedSend, queue.ApprovalApproved, false, false},
		{mailbox.GatedAll, queue.ApprovalApproved, false, false},
		{mailbox.ReadOnly, "", false, true},
		{"bogus", queue.ApprovalPending, false, false},
	} {
		d, err := decide(tc.mode, auto, "a@example.com", nil, []string{"x@y.z"}, time.Now())
		var state queue.ApprovalState
		if d.approval != nil {
			state = d.approval.State
		}
		if (err != nil) != tc.err || state != tc.approval || d.monitored != tc.monitored {
			t.Errorf("%s: %+v %v", tc.mode, d, err)
		}
	}
}

func TestNewRefusesBadRules(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	for _, r := range []Rule{{Action: "approve"}, {Action: ActionReject, Recipients: []string{"[a-"}}} {
		if _, err := New(Options{Queue: env.q, Store: env.store, Rules: []Rule{r}}); err == nil {
			t.Errorf("rule %+v accepted", r)
		}
	}
}

func TestDecidePolicyAllowlistAndStoredRules(t *testing.T) {
	t.Parallel()
	now := time.Now()
	pol := mailbox.Policy{
		Allowlist: []mailbox.AllowEntry{{Entry: "ops@partner.example"}, {Entry: "@corp.example"}},
		Rules:     []mailbox.PolicyRule{{ID: "rl_x", Tags: []string{"otp"}, Action: ActionAutoApprove}},
	}
	config := []Rule{{Recipients: []string{"*@blocked.example"}, Action: ActionReject}}
	for _, tc := range []struct {
		name  string
		mode  mailbox.Oversight
		tags  []string
		rcpts []string
		state queue.ApprovalState
		by    string
	}{
		{"all allowlisted", mailbox.GatedSend, nil, []string{"Ops@Partner.example", "a@corp.example"}, queue.ApprovalApproved, "allowlist"},
		{"one not allowlisted", mailbox.GatedSend, nil, []string{"ops@partner.example", "x@other.example"}, queue.ApprovalPending, ""},
		{"subdomain is not the domain", mailbox.GatedSend, nil, []string{"a@sub.corp.example"}, queue.ApprovalPending, ""},
		{"gated_all ignores the allowlist", mailbox.GatedAll, nil, []string{"ops@partner.example"}, queue.ApprovalPending, ""},
		{"stored rule", mailbox.GatedAll, []string{"OTP"}, []string{"x@other.example"}, queue.ApprovalApproved, "rule:rl_x"},
		{"config rule first", mailbox.GatedSend, []string{"otp"}, []string{"a@blocked.example"}, queue.ApprovalRejected, "rule:1"},
	} {
		d, err := decidePolicy(tc.mode, config, pol, "a@example.com", tc.tags, tc.rcpts, now)
		if err != nil || d.approval == nil || d.approval.State != tc.state || d.approval.By != tc.by {
			t.Errorf("%s: %+v, %v; want %s by %q", tc.name, d.approval, err, tc.state, tc.by)
		}
	}
	// Another mailbox's stored rules are never consulted: StoredRules binds them to their mailbox.
	if rs := StoredRules("a@example.com", pol); len(rs) != 1 || rs[0].matches("b@example.com", []string{"otp"}, []string{"x@y.z"}) {
		t.Fatalf("stored rules = %+v", rs)
	}
}
