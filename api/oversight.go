package api

// oversight.go: a mailbox's oversight controls (docs/oversight-controls.md): its recipient
// allowlist and approval rules, its mode as a person sets it, and the agent's trust ladder
// (ask for more oversight: applied at once; for less: a pending request a person decides).
// Editing or deciding needs p.oversees(mailbox): approve or admin of that mailbox and no send.

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/audit"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/submission"
)

// Events of the trust ladder, in the request's own trail (subject = the request id) and so on
// the webhooks.
const (
	EventOversightRequested queue.EventType = "oversight_requested" // the agent asked for less oversight
	EventOversightApproved  queue.EventType = "oversight_approved"  // a person granted it
	EventOversightRejected  queue.EventType = "oversight_rejected"  // a person refused it
	EventOversightChanged   queue.EventType = "oversight_changed"   // the mode changed otherwise (a downgrade, a person's set)
)

// Bounds of what a client may write.
const (
	maxReason      = 1000
	maxRulePattern = 320
	maxRuleItems   = 50
)

// mailboxParam reads {mailbox_id}, lower-cased.
func mailboxParam(r *http.Request) (string, error) {
	mb, err := pathValue(r, "mailbox_id")
	return strings.ToLower(mb), err
}

// overseen returns the mailbox named by the path if p may edit its oversight: a mailbox the key
// does not hold is 403, as is a key that holds send on it (separation of duties) or lacks
// approve/admin; an unknown mailbox the key could hold is 404.
func (s *Server) overseen(r *http.Request, p *principal) (mailbox.Mailbox, error) {
	addr, err := mailboxParam(r)
	if err != nil {
		return mailbox.Mailbox{}, err
	}
	if !p.may(addr) {
		return mailbox.Mailbox{}, errForbidden("this API key is not scoped to %s", addr)
	}
	if !p.oversees(addr) {
		return mailbox.Mailbox{}, errForbidden("changing the oversight of %s needs approve or admin on it, and a key that holds send never does (separation of duties)", addr)
	}
	m, err := s.opts.Store.Mailbox(r.Context(), addr)
	if errors.Is(err, mailbox.ErrNotFound) {
		return mailbox.Mailbox{}, errNotFound("mailbox")
	}
	return m, err
}

// newID is prefix + 16 random base32 characters.
func newID(prefix string) string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// ---- allowlist

func allowlistJSON(addr string, p mailbox.Policy) wire.Allowlist {
	out := wire.Allowlist{MailboxID: addr, Entries: make([]wire.AllowlistEntry, 0, len(p.Allowlist))}
	for _, e := range p.Allowlist {
		out.Entries = append(out.Entries, wire.AllowlistEntry{Entry: e.Entry, AddedBy: e.AddedBy, CreatedAt: e.Added})
	}
	return out
}

// getAllowlist is GET /v1/mailboxes/{mailbox_id}/allowlist.
func (s *Server) getAllowlist(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := s.overseen(r, p)
	if err != nil {
		return err
	}
	pol, err := s.opts.Store.Policy(r.Context(), m.Address)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, allowlistJSON(m.Address, pol))
	return nil
}

// allowRecord is the audit record of an allowlist change: an address as its keyed hash.
func (s *Server) allowRecord(addr, op string, entries []string) audit.Record {
	rec := audit.Record{Kind: audit.KindAllowlist, Mailbox: addr, Detail: map[string]string{"op": op}}
	var doms []string
	for _, e := range entries {
		if strings.HasPrefix(e, "@") {
			doms = append(doms, e)
		} else if s.opts.Audit != nil {
			rec.Rcpts = append(rec.Rcpts, s.opts.Audit.RcptHash(e))
		}
	}
	if len(doms) > 0 {
		rec.Detail["entry"] = strings.Join(doms, ",")
	}
	rec.Detail["count"] = strconv.Itoa(len(entries))
	return rec
}

// addAllowlist is POST /v1/mailboxes/{mailbox_id}/allowlist {"entry"}: 201 with the list; 409
// if the entry is there already.
func (s *Server) addAllowlist(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := s.overseen(r, p)
	if err != nil {
		return err
	}
	var req wire.AllowlistRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if len(req.Entries) > 0 {
		return errField("entries", "POST adds one entry; PUT replaces the list")
	}
	e, err := mailbox.ParseAllowEntry(req.Entry)
	if err != nil {
		return errField("entry", "must be an address (a@b.example) or @domain (@b.example)")
	}
	now := s.clock.Now().UTC()
	_, pol, err := s.opts.Store.UpdateOversight(detached(r.Context()), m.Address, func(_ *mailbox.Mailbox, pol *mailbox.Policy) error {
		if slices.ContainsFunc(pol.Allowlist, func(x mailbox.AllowEntry) bool { return x.Entry == e }) {
			return &Error{Status: http.StatusConflict, Code: CodeConflict, Field: "entry", Message: "entry: already on the allowlist"}
		}
		if len(pol.Allowlist) >= mailbox.MaxAllowlist {
			return errUnprocessable("entry", "the allowlist holds at most %d entries", mailbox.MaxAllowlist)
		}
		pol.Allowlist = append(pol.Allowlist, mailbox.AllowEntry{Entry: e, AddedBy: p.by(), Added: now})
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, s.allowRecord(m.Address, "add", []string{e})); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, allowlistJSON(m.Address, pol))
	return nil
}

// putAllowlist is PUT /v1/mailboxes/{mailbox_id}/allowlist {"entries":[…]}: the whole list.
func (s *Server) putAllowlist(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := s.overseen(r, p)
	if err != nil {
		return err
	}
	var req struct {
		Entries *[]string `json:"entries"`
	}
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Entries == nil {
		return errField("entries", "required (an empty list clears the allowlist)")
	}
	if len(*req.Entries) > mailbox.MaxAllowlist {
		return errField("entries", "at most %d entries", mailbox.MaxAllowlist)
	}
	var list []string
	for i, raw := range *req.Entries {
		e, err := mailbox.ParseAllowEntry(raw)
		if err != nil {
			return errField(fmt.Sprintf("entries[%d]", i), "must be an address (a@b.example) or @domain (@b.example)")
		}
		if !slices.Contains(list, e) {
			list = append(list, e)
		}
	}
	now := s.clock.Now().UTC()
	_, pol, err := s.opts.Store.UpdateOversight(detached(r.Context()), m.Address, func(_ *mailbox.Mailbox, pol *mailbox.Policy) error {
		old := pol.Allowlist
		pol.Allowlist = nil
		for _, e := range list {
			i := slices.IndexFunc(old, func(x mailbox.AllowEntry) bool { return x.Entry == e })
			if i >= 0 {
				pol.Allowlist = append(pol.Allowlist, old[i]) // kept: who added it and when
			} else {
				pol.Allowlist = append(pol.Allowlist, mailbox.AllowEntry{Entry: e, AddedBy: p.by(), Added: now})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, s.allowRecord(m.Address, "replace", list)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, allowlistJSON(m.Address, pol))
	return nil
}

// deleteAllowlist is DELETE /v1/mailboxes/{mailbox_id}/allowlist/{entry}: 404 if absent.
func (s *Server) deleteAllowlist(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := s.overseen(r, p)
	if err != nil {
		return err
	}
	raw, err := pathValue(r, "entry")
	if err != nil {
		return err
	}
	e, err := mailbox.ParseAllowEntry(raw)
	if err != nil {
		return errField("entry", "must be an address (a@b.example) or @domain (@b.example)")
	}
	_, pol, err := s.opts.Store.UpdateOversight(detached(r.Context()), m.Address, func(_ *mailbox.Mailbox, pol *mailbox.Policy) error {
		n := len(pol.Allowlist)
		pol.Allowlist = slices.DeleteFunc(pol.Allowlist, func(x mailbox.AllowEntry) bool { return x.Entry == e })
		if len(pol.Allowlist) == n {
			return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Field: "entry", Message: "entry: not on the allowlist"}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, s.allowRecord(m.Address, "remove", []string{e})); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, allowlistJSON(m.Address, pol))
	return nil
}

// ---- rules

// rulesJSON lists the config rules that apply to addr (read-only) then the API rules.
func (s *Server) rulesJSON(addr string, pol mailbox.Policy) wire.RuleList {
	out := wire.RuleList{MailboxID: addr, Rules: []wire.Rule{}}
	cfg, pos := s.opts.Submitter.ConfigRules(addr)
	for i, r := range cfg {
		out.Rules = append(out.Rules, wire.Rule{RuleID: "config:" + strconv.Itoa(pos[i]), Source: "config", ReadOnly: true,
			Mailbox: r.Mailbox, Tags: r.Tags, Recipients: r.Recipients, Action: r.Action})
	}
	for _, r := range pol.Rules {
		at := r.Created
		out.Rules = append(out.Rules, wire.Rule{RuleID: r.ID, Source: "api", Tags: r.Tags, Recipients: r.Recipients,
			Action: r.Action, CreatedBy: r.CreatedBy, CreatedAt: &at})
	}
	return out
}

// getRules is GET /v1/mailboxes/{mailbox_id}/rules.
func (s *Server) getRules(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := s.overseen(r, p)
	if err != nil {
		return err
	}
	pol, err := s.opts.Store.Policy(r.Context(), m.Address)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.rulesJSON(m.Address, pol))
	return nil
}

// checkRule validates one rule a client wrote; field prefixes the error's field ("" or "rules[3].").
func checkRule(rq wire.RuleRequest, field string) (mailbox.PolicyRule, error) {
	switch rq.Action {
	case submission.ActionAutoApprove, submission.ActionRequireApproval, submission.ActionReject:
	case "":
		return mailbox.PolicyRule{}, errField(field+"action", "required: auto_approve, require_approval or reject")
	default:
		return mailbox.PolicyRule{}, errField(field+"action", "must be auto_approve, require_approval or reject")
	}
	if len(rq.Tags) > maxRuleItems || len(rq.Recipients) > maxRuleItems {
		return mailbox.PolicyRule{}, errField(field+"tags", "at most %d tags and %d recipient patterns", maxRuleItems, maxRuleItems)
	}
	for i, t := range rq.Tags {
		if err := mailbox.ValidateKeyword(t); err != nil {
			return mailbox.PolicyRule{}, errField(fmt.Sprintf("%stags[%d]", field, i), "not a valid tag")
		}
	}
	for i, pat := range rq.Recipients {
		if pat == "" || len(pat) > maxRulePattern || strings.ContainsFunc(pat, func(c rune) bool { return c <= 0x20 || c == 0x7f }) {
			return mailbox.PolicyRule{}, errField(fmt.Sprintf("%srecipients[%d]", field, i), "a non-empty glob on the address, no spaces or control characters")
		}
		if err := (submission.Rule{Recipients: []string{pat}, Action: rq.Action}).Check(); err != nil {
			return mailbox.PolicyRule{}, errField(fmt.Sprintf("%srecipients[%d]", field, i), "not a valid glob pattern")
		}
	}
	if len(rq.Tags) == 0 && len(rq.Recipients) == 0 && rq.Action == submission.ActionAutoApprove {
		return mailbox.PolicyRule{}, errUnprocessable(field+"action", "an auto_approve rule with no tags and no recipients would approve every send; set the mode instead")
	}
	return mailbox.PolicyRule{ID: newID("rl_"), Tags: rq.Tags, Recipients: rq.Recipients, Action: rq.Action}, nil
}

// ruleRecord is the audit record of a rule change.
func ruleRecord(addr, op string, r mailbox.PolicyRule) audit.Record {
	sr := submission.Rule{Tags: r.Tags, Recipients: r.Recipients, Action: r.Action}
	return audit.Record{Kind: audit.KindRule, Mailbox: addr, Object: r.ID, Rule: sr.String(), Detail: map[string]string{"op": op}}
}

// addRule is POST /v1/mailboxes/{mailbox_id}/rules: 201 with the rule list.
func (s *Server) addRule(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := s.overseen(r, p)
	if err != nil {
		return err
	}
	var req wire.RuleRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	rule, err := checkRule(req, "")
	if err != nil {
		return err
	}
	rule.CreatedBy, rule.Created = p.by(), s.clock.Now().UTC()
	_, pol, err := s.opts.Store.UpdateOversight(detached(r.Context()), m.Address, func(_ *mailbox.Mailbox, pol *mailbox.Policy) error {
		if len(pol.Rules) >= mailbox.MaxPolicyRules {
			return errUnprocessable("rules", "at most %d rules per mailbox", mailbox.MaxPolicyRules)
		}
		pol.Rules = append(pol.Rules, rule)
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, ruleRecord(m.Address, "add", rule)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.rulesJSON(m.Address, pol))
	return nil
}

// putRules is PUT /v1/mailboxes/{mailbox_id}/rules {"rules":[…]}: replaces the API rules
// (config rules are not touched and cannot be).
func (s *Server) putRules(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := s.overseen(r, p)
	if err != nil {
		return err
	}
	var req wire.RulesRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Rules == nil {
		return errField("rules", "required (an empty list removes every API rule)")
	}
	if len(req.Rules) > mailbox.MaxPolicyRules {
		return errField("rules", "at most %d rules", mailbox.MaxPolicyRules)
	}
	now := s.clock.Now().UTC()
	var rules []mailbox.PolicyRule
	for i, rq := range req.Rules {
		rule, err := checkRule(rq, fmt.Sprintf("rules[%d].", i))
		if err != nil {
			return err
		}
		rule.CreatedBy, rule.Created = p.by(), now
		rules = append(rules, rule)
	}
	var old []mailbox.PolicyRule
	_, pol, err := s.opts.Store.UpdateOversight(detached(r.Context()), m.Address, func(_ *mailbox.Mailbox, pol *mailbox.Policy) error {
		old, pol.Rules = pol.Rules, rules
		return nil
	})
	if err != nil {
		return err
	}
	var recs []audit.Record
	for _, o := range old {
		recs = append(recs, ruleRecord(m.Address, "remove", o))
	}
	for _, n := range rules {
		recs = append(recs, ruleRecord(m.Address, "add", n))
	}
	for _, rec := range recs {
		rec.Detail["via"] = "replace"
		if err := s.audit(detached(r.Context()), p, rec); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, s.rulesJSON(m.Address, pol))
	return nil
}

// deleteRule is DELETE /v1/mailboxes/{mailbox_id}/rules/{rule_id}: a config rule is 409 (it
// is the config file's), an unknown id 404.
func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := s.overseen(r, p)
	if err != nil {
		return err
	}
	id, err := pathValue(r, "rule_id")
	if err != nil {
		return err
	}
	if strings.HasPrefix(id, "config:") {
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Field: "rule_id",
			Message: "rule_id: a config-declared rule is read-only; change the config file"}
	}
	var gone mailbox.PolicyRule
	_, pol, err := s.opts.Store.UpdateOversight(detached(r.Context()), m.Address, func(_ *mailbox.Mailbox, pol *mailbox.Policy) error {
		i := slices.IndexFunc(pol.Rules, func(x mailbox.PolicyRule) bool { return x.ID == id })
		if i < 0 {
			return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Field: "rule_id", Message: "rule_id: no such rule on this mailbox"}
		}
		gone = pol.Rules[i]
		pol.Rules = slices.Delete(pol.Rules, i, i+1)
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.audit(detached(r.Context()), p, ruleRecord(m.Address, "remove", gone)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.rulesJSON(m.Address, pol))
	return nil
}

// ---- the mode and the trust ladder

func requestJSON(addr string, q *mailbox.OversightRequest) *wire.OversightRequest {
	if q == nil {
		return nil
	}
	return &wire.OversightRequest{RequestID: q.ID, MailboxID: addr, From: string(q.From), To: string(q.To),
		RequestedBy: q.RequestedBy, Reason: q.Reason, CreatedAt: q.Created}
}

func oversightJSON(m mailbox.Mailbox, pol mailbox.Policy) wire.Oversight {
	return wire.Oversight{MailboxID: m.Address, Oversight: string(m.Oversight), OversightAddress: m.OversightAddress,
		PendingRequest: requestJSON(m.Address, pol.Request)}
}

// getOversight is GET /v1/mailboxes/{mailbox_id}/oversight: the mode and any pending request.
// The agent (send/read) may read its own; a mailbox the key does not hold is 403.
func (s *Server) getOversight(w http.ResponseWriter, r *http.Request, p *principal) error {
	addr, err := mailboxParam(r)
	if err != nil {
		return err
	}
	if !p.may(addr) {
		return errForbidden("this API key is not scoped to %s", addr)
	}
	m, err := s.opts.Store.Mailbox(r.Context(), addr)
	if err != nil {
		return err
	}
	pol, err := s.opts.Store.Policy(r.Context(), addr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, oversightJSON(m, pol))
	return nil
}

// parseChange reads an OversightChange body.
func parseChange(r *http.Request) (mailbox.Oversight, string, error) {
	var req wire.OversightChange
	if err := decodeJSON(r, &req, false); err != nil {
		return "", "", err
	}
	if strings.TrimSpace(req.Oversight) == "" {
		return "", "", errField("oversight", "required: autonomous, monitored, gated_send, gated_all or read_only")
	}
	mode, err := mailbox.ParseOversight(req.Oversight)
	if err != nil {
		return "", "", errField("oversight", "must be autonomous, monitored, gated_send, gated_all or read_only")
	}
	if len(req.Reason) > maxReason || strings.ContainsFunc(req.Reason, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return "", "", errField("reason", "at most %d characters, one line", maxReason)
	}
	return mode, req.Reason, nil
}

// modeRecord is the audit record of a mode change.
func modeRecord(addr string, from, to mailbox.Oversight, via, reqID, reason string) audit.Record {
	d := map[string]string{"from": string(from), "to": string(to), "via": via}
	if reqID != "" {
		d["request"] = reqID
	}
	return audit.Record{Kind: audit.KindOversight, Mailbox: addr, Object: reqID, Reason: reason, Detail: d}
}

// event records a trust-ladder event in the request's trail (webhooks fan it out). A failure
// is logged: the change and its audit record stand.
func (s *Server) event(ctx context.Context, subject string, t queue.EventType, addr, by, reason string, from, to mailbox.Oversight) {
	ev := queue.Event{Type: t, MsgID: subject, Time: s.clock.Now().UTC(), MailboxID: addr, By: by, Reason: reason,
		Detail: string(from) + " -> " + string(to)}
	if err := s.opts.Queue.Record(ctx, ev); err != nil {
		s.log.ErrorContext(ctx, "oversight event lost", "event", t, "mailbox", addr, "err", err)
	}
}

// setOversight is PUT /v1/mailboxes/{mailbox_id}/oversight {"oversight","reason"}: a person
// (approve or admin of that mailbox, no send) sets the mode, in either direction. A pending
// request of the agent is withdrawn by it (the person has decided the mode).
func (s *Server) setOversight(w http.ResponseWriter, r *http.Request, p *principal) error {
	m, err := s.overseen(r, p)
	if err != nil {
		return err
	}
	mode, reason, err := parseChange(r)
	if err != nil {
		return err
	}
	from := m.Oversight
	var withdrawn string
	nm, pol, err := s.opts.Store.UpdateOversight(detached(r.Context()), m.Address, func(mb *mailbox.Mailbox, pol *mailbox.Policy) error {
		from, mb.Oversight = mb.Oversight, mode
		if pol.Request != nil {
			withdrawn, pol.Request = pol.Request.ID, nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	rec := modeRecord(m.Address, from, mode, "set", "", reason)
	if withdrawn != "" {
		rec.Detail["withdrew_request"] = withdrawn
	}
	if err := s.audit(detached(r.Context()), p, rec); err != nil {
		return err
	}
	if from != mode {
		s.event(detached(r.Context()), "ovc_"+m.Address, EventOversightChanged, m.Address, p.by(), reason, from, mode)
	}
	writeJSON(w, http.StatusOK, oversightJSON(nm, pol))
	return nil
}

// requestOversight is POST /v1/mailboxes/{mailbox_id}/oversight_request (send scope: the
// agent). More oversight (higher mailbox.OversightRank) applies at once and withdraws a
// pending request; the same mode is a no-op; less oversight becomes the mailbox's pending
// request (replacing an earlier one) that a person decides: 202.
func (s *Server) requestOversight(w http.ResponseWriter, r *http.Request, p *principal) error {
	addr, err := mailboxParam(r)
	if err != nil {
		return err
	}
	if !p.may(addr) {
		return errForbidden("this API key is not scoped to %s", addr)
	}
	mode, reason, err := parseChange(r)
	if err != nil {
		return err
	}
	now := s.clock.Now().UTC()
	var from mailbox.Oversight
	var req *mailbox.OversightRequest
	nm, _, err := s.opts.Store.UpdateOversight(detached(r.Context()), addr, func(mb *mailbox.Mailbox, pol *mailbox.Policy) error {
		from = mb.Oversight
		switch {
		case mailbox.OversightRank(mode) >= mailbox.OversightRank(from):
			mb.Oversight = mode
			if mode != from {
				pol.Request = nil
			}
		default:
			req = &mailbox.OversightRequest{ID: newID("ovr_"), From: from, To: mode, RequestedBy: p.by(), Reason: reason, Created: now}
			pol.Request = req
		}
		return nil
	})
	if err != nil {
		return err
	}
	ctx := detached(r.Context())
	if req == nil {
		if from != mode {
			if err := s.audit(ctx, p, modeRecord(addr, from, mode, "request", "", reason)); err != nil {
				return err
			}
			s.event(ctx, "ovc_"+addr, EventOversightChanged, addr, p.by(), reason, from, mode)
		}
		writeJSON(w, http.StatusOK, wire.OversightRequestResult{Status: "applied", MailboxID: addr, Oversight: string(nm.Oversight)})
		return nil
	}
	if err := s.audit(ctx, p, audit.Record{Kind: audit.KindOversightRequest, Mailbox: addr, Object: req.ID, Reason: reason,
		Detail: map[string]string{"from": string(from), "to": string(mode), "state": "pending"}}); err != nil {
		return err
	}
	s.event(ctx, req.ID, EventOversightRequested, addr, p.by(), reason, from, mode)
	writeJSON(w, http.StatusAccepted, wire.OversightRequestResult{Status: "pending", MailboxID: addr,
		Oversight: string(nm.Oversight), Request: requestJSON(addr, req)})
	return nil
}

// approveOversight is POST /v1/mailboxes/{mailbox_id}/oversight_request/approve.
func (s *Server) approveOversight(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.decideOversight(w, r, p, true)
}

// rejectOversight is POST /v1/mailboxes/{mailbox_id}/oversight_request/reject.
func (s *Server) rejectOversight(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.decideOversight(w, r, p, false)
}

// decideOversight decides the mailbox's pending request: 409 when none is pending or
// request_id names another one. Approving sets the requested mode and clears the request in
// one batch.
func (s *Server) decideOversight(w http.ResponseWriter, r *http.Request, p *principal, approve bool) error {
	m, err := s.overseen(r, p)
	if err != nil {
		return err
	}
	var req wire.OversightDecision
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	if len(req.Reason) > maxReason || strings.ContainsFunc(req.Reason, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return errField("reason", "at most %d characters, one line", maxReason)
	}
	var got mailbox.OversightRequest
	var from mailbox.Oversight
	nm, pol, err := s.opts.Store.UpdateOversight(detached(r.Context()), m.Address, func(mb *mailbox.Mailbox, pol *mailbox.Policy) error {
		if pol.Request == nil {
			return &Error{Status: http.StatusConflict, Code: CodeConflict, Field: "request_id", Message: "request_id: no oversight request is pending for this mailbox"}
		}
		if req.RequestID != "" && req.RequestID != pol.Request.ID {
			return &Error{Status: http.StatusConflict, Code: CodeConflict, Field: "request_id", Message: "request_id: not the pending request (the agent replaced it)"}
		}
		got, from = *pol.Request, mb.Oversight
		if approve {
			mb.Oversight = got.To
		}
		pol.Request = nil
		return nil
	})
	if err != nil {
		return err
	}
	ctx := detached(r.Context())
	if approve {
		if err := s.audit(ctx, p, modeRecord(m.Address, from, got.To, "request.approve", got.ID, req.Reason)); err != nil {
			return err
		}
		s.event(ctx, got.ID, EventOversightApproved, m.Address, p.by(), req.Reason, from, got.To)
	} else {
		if err := s.audit(ctx, p, audit.Record{Kind: audit.KindOversightRequest, Mailbox: m.Address, Object: got.ID, Reason: req.Reason,
			Detail: map[string]string{"from": string(got.From), "to": string(got.To), "state": "rejected"}}); err != nil {
			return err
		}
		s.event(ctx, got.ID, EventOversightRejected, m.Address, p.by(), req.Reason, got.From, got.To)
	}
	writeJSON(w, http.StatusOK, oversightJSON(nm, pol))
	return nil
}

// listOversightRequests is GET /v1/oversight_requests: the pending requests of the mailboxes
// the key oversees (approve/admin, no send), oldest first.
func (s *Server) listOversightRequests(w http.ResponseWriter, r *http.Request, p *principal) error {
	mbs, err := s.opts.Store.Mailboxes(r.Context())
	if err != nil {
		return err
	}
	out := wire.OversightRequestList{Requests: []wire.OversightRequest{}}
	for _, m := range mbs {
		if !p.oversees(m.Address) {
			continue
		}
		pol, err := s.opts.Store.Policy(r.Context(), m.Address)
		if err != nil {
			continue
		}
		if q := requestJSON(m.Address, pol.Request); q != nil {
			out.Requests = append(out.Requests, *q)
		}
	}
	slices.SortFunc(out.Requests, func(a, b wire.OversightRequest) int { return a.CreatedAt.Compare(b.CreatedAt) })
	writeJSON(w, http.StatusOK, out)
	return nil
}
