package submission

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// decision is what oversight makes of one send.
type decision struct {
	approval  *queue.Approval // nil: no oversight record
	monitored bool
}

// decide applies the mailbox's oversight mode (docs/oversight-model.md) and, for gated modes, the
// approval rules. read_only is ErrForbidden.
func decide(mode mailbox.Oversight, rules []Rule, mbox string, tags, rcpts []string, now time.Time) (decision, error) {
	return decidePolicy(mode, rules, mailbox.Policy{}, mbox, tags, rcpts, now)
}

// decidePolicy is decide with the mailbox's stored policy: its API rules are consulted after
// the config's (first match wins), and in gated_send a send none of them decided whose every
// recipient is on the allowlist is approved ("allowlist").
func decidePolicy(mode mailbox.Oversight, rules []Rule, pol mailbox.Policy, mbox string, tags, rcpts []string, now time.Time) (decision, error) {
	if len(pol.Rules) > 0 && (mode == mailbox.GatedSend || mode == mailbox.GatedAll || mode == "") {
		rules = append(slices.Clip(rules), StoredRules(mbox, pol)...)
	}
	switch mode {
	case "autonomous":
		return decision{}, nil
	case "monitored":
		return decision{monitored: true}, nil
	case "read_only":
		return decision{}, fmt.Errorf("%w: mailbox %s is read_only", ErrForbidden, mbox)
	case "gated_send", "gated_all", "":
		a := ruleApproval(rules, mbox, tags, rcpts, now)
		if a.State == queue.ApprovalPending && a.Rule == "" && mode == "gated_send" && allowlisted(pol.Allowlist, rcpts) {
			a = &queue.Approval{State: queue.ApprovalApproved, DecidedAt: now, By: "allowlist",
				Rule: "allowlist", Reason: "every recipient is on the mailbox's allowlist"}
		}
		return decision{approval: a}, nil
	}
	// An unknown mode is a configuration bug; holding the message is the safe reading.
	return decision{approval: &queue.Approval{State: queue.ApprovalPending}}, nil
}

// ruleApproval evaluates rules in order; the first match decides. No match is pending.
func ruleApproval(rules []Rule, mbox string, tags, rcpts []string, now time.Time) *queue.Approval {
	for i, r := range rules {
		if !r.matches(mbox, tags, rcpts) {
			continue
		}
		name := fmt.Sprintf("rule:%d", i+1)
		if r.ID != "" {
			name = "rule:" + r.ID
		}
		a := &queue.Approval{By: name, Rule: r.String()}
		switch r.Action {
		case ActionAutoApprove:
			a.State, a.DecidedAt, a.Reason = queue.ApprovalApproved, now, "approved by rule"
		case ActionReject:
			a.State, a.DecidedAt, a.Reason = queue.ApprovalRejected, now, "rejected by rule"
		default:
			a.State, a.By = queue.ApprovalPending, ""
		}
		return a
	}
	return &queue.Approval{State: queue.ApprovalPending}
}

// matches reports whether every condition of r holds for a send.
func (r Rule) matches(mbox string, tags, rcpts []string) bool {
	if r.Mailbox != "" && r.Mailbox != "*" && !strings.EqualFold(r.Mailbox, mbox) {
		return false
	}
	for _, want := range r.Tags {
		if !slices.ContainsFunc(tags, func(t string) bool { return strings.EqualFold(t, want) }) {
			return false
		}
	}
	if len(r.Recipients) == 0 {
		return true
	}
	for _, rc := range rcpts {
		if !r.recipientMatches(strings.ToLower(rc)) {
			return false
		}
	}
	return true
}

// recipientMatches reports whether one lower-case recipient matches one of the patterns.
func (r Rule) recipientMatches(rcpt string) bool {
	for _, p := range r.Recipients {
		if ok, _ := path.Match(strings.ToLower(p), rcpt); ok {
			return true
		}
	}
	return false
}

// allowlisted reports whether every recipient matches an entry of the allowlist (and there is
// at least one recipient).
func allowlisted(list []mailbox.AllowEntry, rcpts []string) bool {
	if len(list) == 0 || len(rcpts) == 0 {
		return false
	}
	for _, rc := range rcpts {
		if !slices.ContainsFunc(list, func(e mailbox.AllowEntry) bool { return e.Matches(rc) }) {
			return false
		}
	}
	return true
}

// StoredRules are a mailbox's API rules as Rules of that mailbox, in their stored order.
func StoredRules(mbox string, pol mailbox.Policy) []Rule {
	out := make([]Rule, 0, len(pol.Rules))
	for _, r := range pol.Rules {
		out = append(out, Rule{ID: r.ID, Mailbox: mbox, Tags: r.Tags, Recipients: r.Recipients, Action: r.Action})
	}
	return out
}

// ConfigRules returns the config-declared rules that apply to mbox, with their 1-based
// positions in the config (the "rule:N" of approval records).
func (s *Submitter) ConfigRules(mbox string) (rules []Rule, positions []int) {
	for i, r := range *s.rules.Load() {
		if r.Mailbox == "" || r.Mailbox == "*" || strings.EqualFold(r.Mailbox, mbox) {
			rules, positions = append(rules, r), append(positions, i+1)
		}
	}
	return rules, positions
}
