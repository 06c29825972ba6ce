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
