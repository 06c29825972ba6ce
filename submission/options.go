package submission

import (
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// Clock tells the time; tests inject a fake one. nil means the real clock.
type Clock interface{ Now() time.Time }

// realClock is the wall clock.
type realClock struct{}

// Now implements Clock.
func (realClock) Now() time.Time { return time.Now() }

// Options configures a Submitter. Queue and Store are required.
type Options struct {
	Queue    queue.Backend
	Store    mailbox.Store
	Hostname string // Message-ID domain; default "localhost"
	// UnsubscribeURL is the public https base of the node's one-click unsubscribe endpoint
	// (List-Unsubscribe: <UnsubscribeURL/u/TOKEN>); "" refuses "unsubscribe": true.
	UnsubscribeURL string
	// Rules are the [[approval_rule]]s in config order; the first match wins (docs/configuration.md).
	Rules []Rule
	// MaxRecipients bounds to+cc+bcc of one API send (default 100, as SMTP).
	MaxRecipients int
	// MaxMessageBytes bounds a built or submitted message (default 25 MiB).
	MaxMessageBytes int64
	Logger          *slog.Logger
	Registerer      prometheus.Registerer // nil: no metrics registered
	Clock           Clock
	// Links mints the one-click Approve and Reject links of approval requests (the console's);
	// nil: the request tells how to decide with the CLI or the API only.
	Links DecisionLinks
	// SendingDomain names a mailbox's sending subdomain (docs/deliverability.md): a local
	// domain whose DKIM key signs the mailbox's mail (d=) and at which its VERP return path
	// is, so that its reputation is its own; "" or nil: the mailbox's own domain.
	SendingDomain func(mailbox string) string
}

// DecisionLinks mints signed, single-use links that decide one approval (api/console). expires
// is the message's expires_at (zero: none); the links expire no later. ok false: no links for
// this mailbox (its oversight address is not safe to receive them).
type DecisionLinks interface {
	DecisionLinks(approvalID, mailbox string, expires time.Time) (approve, reject string, ok bool)
}

// Defaults of Options and ServerOptions.
const (
	DefaultMaxRecipients   = 100
	DefaultMaxMessageBytes = 25 << 20
)

// Rule actions (docs/configuration.md, [[approval_rule]] action).
const (
	ActionAutoApprove     = "auto_approve"
	ActionRequireApproval = "require_approval"
	ActionReject          = "reject"
)

// Rule is one [[approval_rule]]. A rule matches a send when every set condition holds:
// Mailbox equals the sending mailbox ("" or "*": any), every tag in Tags is on the message
// (case-insensitive), and every recipient (to, cc and bcc) matches one of Recipients, shell
// globs on the lower-case address ("*@partner.example"). Rules are consulted only for mailboxes
// in gated_send or gated_all mode.
type Rule struct {
	// ID names a rule added over the API (mailbox.PolicyRule.ID); "" for a config rule, which
	// is named by its 1-based position ("rule:3") in approval records.
	ID         string
	Mailbox    string
	Tags       []string
	Recipients []string
	Action     string // auto_approve | require_approval | reject
}

// Check validates a rule as New does (action, glob syntax): the API checks rules it stores.
func (r Rule) Check() error { return r.validate() }

// validate checks the action and the glob syntax, so a bad rule is refused at start.
func (r Rule) validate() error {
	switch r.Action {
	case ActionAutoApprove, ActionRequireApproval, ActionReject:
	default:
		return fmt.Errorf("unknown action %q", r.Action)
	}
	for _, p := range r.Recipients {
		if _, err := path.Match(strings.ToLower(p), ""); err != nil {
			return fmt.Errorf("recipient pattern %q: %w", p, err)
		}
	}
	return nil
}

// String describes the rule for the approval record and the event trail.
func (r Rule) String() string {
	var parts []string
	if r.Mailbox != "" {
		parts = append(parts, "mailbox="+r.Mailbox)
	}
	if len(r.Tags) > 0 {
		parts = append(parts, "tags="+strings.Join(r.Tags, ","))
	}
	if len(r.Recipients) > 0 {
		parts = append(parts, "recipients="+strings.Join(r.Recipients, ","))
	}
	return strings.Join(append(parts, "action="+r.Action), " ")
}

// Principal is who is acting: an API key, an SMTP login, a trusted network client, the CLI.
type Principal struct {
	// Mailbox is the mailbox the principal may act for; "*" means any mailbox (a "*" key, the
	// CLI, a trusted_networks SMTP client whose envelope sender must still be local).
	Mailbox string
	KeyID   string   // the API key id, "" for passwords, the CLI and trusted networks
	Scopes  []string // mailbox.AllScopes; "admin" implies read, tag and approve, never send
	// Source names the door: "api", "mcp", "smtp", "cli". It goes into Message.Source and,
	// with KeyID, into the "by" of approval decisions.
	Source string
	// Owner is the ctl socket's principal (its file permissions were the authentication): it
	// holds every scope and decides approvals whatever else it holds.
	Owner bool
	// Test: a test key ("mm_test_…", mailbox.APIKey.Test). Its sends go through validation,
	// oversight and the queue like any other, are DKIM-signed with an unpublished per-process
	// key (selector TestSelector) and carry no Multimail-Identity, are never copied to Sent,
	// and the queue never delivers them (queue.Message.Test).
	Test bool
}

// may reports whether the principal may act for mailbox.
func (p Principal) may(mailbox string) bool {
	return p.Mailbox == "*" || strings.EqualFold(p.Mailbox, mailbox)
}

// hasScope reports whether the principal holds scope (mailbox.ScopeHeld; the owner holds all).
func (p Principal) hasScope(scope string) bool {
	return p.Owner || mailbox.ScopeHeld(p.Scopes, scope)
}

// MayDecide reports whether the principal may decide the held sends of mbox: it acts for the
// mailbox, holds approve (or admin), and, separation of duties, does not hold send (a legacy
// key created before the rule is refused here, at use time). The owner (CLI) always may.
func (p Principal) MayDecide(mbox string) error {
	switch {
	case !p.may(mbox):
		return fmt.Errorf("%w: not this key's mailbox", ErrForbidden)
	case !p.hasScope(mailbox.ScopeApprove):
		return fmt.Errorf("%w: deciding approvals needs the approve scope", ErrForbidden)
	case !p.Owner && slices.Contains(p.Scopes, mailbox.ScopeSend):
		return fmt.Errorf("%w: a key that holds send on %s never decides its approvals (separation of duties)", ErrForbidden, mbox)
	}
	return nil
}

// by is the principal as written in an approval decision: "api:key_x", "cli", "smtp:a@b".
func (p Principal) by() string {
	src := p.Source
	if src == "" {
		src = "api"
	}
	switch {
	case p.KeyID != "":
		return src + ":" + p.KeyID
	case p.Mailbox != "" && p.Mailbox != "*":
		return src + ":" + p.Mailbox
	}
	return src
}
