package wire

import "time"

// AllowlistEntry is one recipient allowlist entry of a mailbox: an exact address or "@domain".
type AllowlistEntry struct {
	Entry     string    `json:"entry"`
	AddedBy   string    `json:"added_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Allowlist is the body of GET/PUT/POST/DELETE /v1/mailboxes/{mailbox_id}/allowlist.
type Allowlist struct {
	MailboxID string           `json:"mailbox_id"`
	Entries   []AllowlistEntry `json:"entries"`
}

// AllowlistRequest is the body of POST (Entry) and PUT (Entries, the whole list) on
// /v1/mailboxes/{mailbox_id}/allowlist.
type AllowlistRequest struct {
	Entry   string   `json:"entry,omitempty"`
	Entries []string `json:"entries,omitempty"`
}

// RuleRequest is an approval rule as a client writes it (POST .../rules, each item of PUT).
type RuleRequest struct {
	Tags       []string `json:"tags,omitempty"`
	Recipients []string `json:"recipients,omitempty"` // shell globs on the lower-case address
	Action     string   `json:"action"`               // auto_approve | require_approval | reject
}

// RulesRequest is the body of PUT /v1/mailboxes/{mailbox_id}/rules: the API rules, replaced.
type RulesRequest struct {
	Rules []RuleRequest `json:"rules"`
}

// Rule is an approval rule that applies to a mailbox. Source "config" rules come from the
// config file and are read-only (their id is "config:<position>"); "api" rules were added over
// the API or the console. Config rules are consulted first, in config order, then API rules.
type Rule struct {
	RuleID     string     `json:"rule_id"`
	Source     string     `json:"source"` // "config" | "api"
	ReadOnly   bool       `json:"read_only"`
	Mailbox    string     `json:"mailbox,omitempty"` // config rules: the mailbox they name ("" or "*" = any)
	Tags       []string   `json:"tags,omitempty"`
	Recipients []string   `json:"recipients,omitempty"`
	Action     string     `json:"action"`
	CreatedBy  string     `json:"created_by,omitempty"`
	CreatedAt  *time.Time `json:"created_at,omitempty"`
}

// RuleList is the body of GET/PUT /v1/mailboxes/{mailbox_id}/rules.
type RuleList struct {
	MailboxID string `json:"mailbox_id"`
	Rules     []Rule `json:"rules"`
}

// OversightRequest is an agent's pending request for less oversight.
type OversightRequest struct {
	RequestID   string    `json:"request_id"`
	MailboxID   string    `json:"mailbox_id"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	RequestedBy string    `json:"requested_by"`
	Reason      string    `json:"reason,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Oversight is the body of GET/PUT /v1/mailboxes/{mailbox_id}/oversight.
type Oversight struct {
	MailboxID        string            `json:"mailbox_id"`
	Oversight        string            `json:"oversight"`
	OversightAddress string            `json:"oversight_address,omitempty"`
	PendingRequest   *OversightRequest `json:"pending_request,omitempty"`
}

// OversightChange is the body of PUT /v1/mailboxes/{mailbox_id}/oversight (a person) and of
// POST /v1/mailboxes/{mailbox_id}/oversight_request (the agent).
type OversightChange struct {
	Oversight string `json:"oversight"`
	Reason    string `json:"reason,omitempty"`
}

// OversightRequestResult answers POST /v1/mailboxes/{mailbox_id}/oversight_request: status
// "applied" (a downgrade or no change, 200) or "pending" (an upgrade waiting for a person, 202).
type OversightRequestResult struct {
	Status    string            `json:"status"`
	MailboxID string            `json:"mailbox_id"`
	Oversight string            `json:"oversight"` // the mode now in force
	Request   *OversightRequest `json:"request,omitempty"`
}

// OversightDecision is the body of POST .../oversight_request/approve and .../reject.
// RequestID, when given, must name the pending request (409 otherwise), so a person never
// decides a request the agent replaced meanwhile.
type OversightDecision struct {
	RequestID string `json:"request_id,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// OversightRequestList is the body of GET /v1/oversight_requests.
type OversightRequestList struct {
	Requests []OversightRequest `json:"requests"`
}
