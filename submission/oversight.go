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
	switch mode {
	case "autonomous":
		return decision{}, nil
	case "monitored":
		return decision{monitored: true}, nil
	case "read_only":
		return decision{}, fmt.Errorf("%w: mailbox %s is read_only", ErrForbidden, mbox)
	case "gated_send", "gated_all", "":
		return decision{approval: ruleApproval(rules, mbox, tags, rcpts, now)}, nil
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
		a := &queue.Approval{By: fmt.Sprintf("rule:%d", i+1), Rule: r.String()}
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
