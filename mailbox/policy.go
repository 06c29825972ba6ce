package mailbox

import (
	"fmt"
	"strings"
	"time"
)

// Policy is the oversight policy of one mailbox kept in the store, next to its mode: the
// recipient allowlist, the approval rules added over the API, and the agent's pending request
// for less oversight (the trust ladder). Config-declared rules are not here (they are the
// config's, applied by package submission).
type Policy struct {
	Allowlist []AllowEntry      `json:",omitempty"`
	Rules     []PolicyRule      `json:",omitempty"`
	Request   *OversightRequest `json:",omitempty"`
}

// AllowEntry is one allowlisted recipient: an exact address ("a@b.example") or a whole domain
// ("@b.example"), lower-case (ParseAllowEntry).
type AllowEntry struct {
	Entry   string
	AddedBy string // who added it: "api:key_x", "console:key_x", "cli"
	Added   time.Time
}

// Matches reports whether the (lower-case or not) recipient address is covered by e.
func (e AllowEntry) Matches(rcpt string) bool {
	rcpt = strings.ToLower(rcpt)
	if strings.HasPrefix(e.Entry, "@") {
		return strings.HasSuffix(rcpt, e.Entry) && strings.Count(rcpt, "@") == 1
	}
	return rcpt == e.Entry
}

// PolicyRule is an approval rule added over the API; it applies to its mailbox only. Its
// fields mean what the config's [[approval_rule]] fields mean (package submission evaluates
// both); the store keeps them as given, the caller validates them.
type PolicyRule struct {
	ID         string   // "rl_" + random, unique within the mailbox
	Tags       []string `json:",omitempty"`
	Recipients []string `json:",omitempty"`
	Action     string
	CreatedBy  string
	Created    time.Time
}

// OversightRequest is an agent's pending request to move its mailbox to a mode with less
// oversight; a person decides it. At most one is pending per mailbox.
type OversightRequest struct {
	ID          string // "ovr_" + ULID-like id
	From, To    Oversight
	RequestedBy string
	Reason      string `json:",omitempty"`
	Created     time.Time
}

// OversightRank orders the modes from the least oversight (0, autonomous) to the most (4,
// read_only): autonomous < monitored < gated_send < gated_all < read_only. A move to a higher
// rank is a downgrade of the agent's trust (more oversight), to a lower rank an upgrade.
func OversightRank(o Oversight) int {
	switch o {
	case Autonomous:
		return 0
	case Monitored:
		return 1
	case GatedSend:
		return 2
	case GatedAll:
		return 3
	case ReadOnly:
		return 4
	}
	return 2
}

// MaxAllowlist and MaxPolicyRules bound a mailbox's policy (a policy is one record).
const (
	MaxAllowlist   = 1000
	MaxPolicyRules = 200
)

// ParseAllowEntry validates and lower-cases an allowlist entry: "local@domain" or "@domain".
// The error wraps ErrInvalidAddress and says what is wrong.
func ParseAllowEntry(s string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if _, dom, _ := strings.Cut(t, "@"); strings.Contains(dom, "..") || strings.HasPrefix(dom, ".") || strings.HasSuffix(dom, ".") {
		return "", fmt.Errorf("%w: %q has an empty domain label", ErrInvalidAddress, s)
	}
	if d, ok := strings.CutPrefix(t, "@"); ok {
		n, err := normalizeDomain(d)
		if err != nil || !strings.Contains(n, ".") && n != "localhost" {
			return "", fmt.Errorf("%w: %q is not \"@\" followed by a domain name", ErrInvalidAddress, s)
		}
		return "@" + n, nil
	}
	a, err := normalizeAddress(t)
	if err != nil {
		return "", fmt.Errorf("%w: %q is neither an address nor \"@domain\"", ErrInvalidAddress, s)
	}
	return a, nil
}

// PolicyFunc edits a mailbox and its policy in place; only m.Oversight may be changed on m. An
// error leaves both unchanged and is returned by UpdateOversight.
type PolicyFunc func(m *Mailbox, p *Policy) error

// preparePolicy checks what a PolicyFunc made.
func preparePolicy(old, m Mailbox, p Policy) (Mailbox, Policy, error) {
	o, err := ParseOversight(string(m.Oversight))
	if err != nil {
		return Mailbox{}, Policy{}, err
	}
	old.Oversight = o
	if len(p.Allowlist) > MaxAllowlist {
		return Mailbox{}, Policy{}, fmt.Errorf("%w: more than %d allowlist entries", ErrInvalidPolicy, MaxAllowlist)
	}
	if len(p.Rules) > MaxPolicyRules {
		return Mailbox{}, Policy{}, fmt.Errorf("%w: more than %d rules", ErrInvalidPolicy, MaxPolicyRules)
	}
	for i, e := range p.Allowlist {
		n, err := ParseAllowEntry(e.Entry)
		if err != nil {
			return Mailbox{}, Policy{}, err
		}
		p.Allowlist[i].Entry = n
	}
	return old, p, nil
}

// clonePolicy deep-copies p, so a PolicyFunc never edits stored state.
func clonePolicy(p Policy) Policy {
	out := Policy{Allowlist: append([]AllowEntry(nil), p.Allowlist...)}
	for _, r := range p.Rules {
		r.Tags = append([]string(nil), r.Tags...)
		r.Recipients = append([]string(nil), r.Recipients...)
		out.Rules = append(out.Rules, r)
	}
	if p.Request != nil {
		r := *p.Request
		out.Request = &r
	}
	return out
}
