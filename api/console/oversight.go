package console

// oversight.go: the Mailboxes pages' oversight controls (docs/oversight-controls.md). Every
// read and change is an in-process API call as the session's key, so the page shows and
// changes exactly what that key may: an approver of one mailbox sees that mailbox only, and
// every change is audited as "console:<key id>". A mode change is two POSTs: the form, then
// a confirmation page whose own form applies it (GET never changes anything).

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"multimail.dev/multimail/api/wire"
)

// mailboxDetail is the page of one mailbox.
type mailboxDetail struct {
	O         wire.Oversight
	Allowlist wire.Allowlist
	Rules     wire.RuleList
	Modes     []string
}

// oversightModes are the modes from the least oversight to the most.
var oversightModes = []string{"autonomous", "monitored", "gated_send", "gated_all", "read_only"}

// mailboxPath is the console path of a mailbox's page.
func mailboxPath(addr string) string { return "/console/mailboxes/" + url.PathEscape(addr) }

// apiMailbox is the API path of a mailbox's sub-resource.
func apiMailbox(addr, rest string) string { return "/v1/mailboxes/" + url.PathEscape(addr) + rest }

// mailboxPage is GET /console/mailboxes/{addr}.
func (c *Console) mailboxPage(w http.ResponseWriter, r *http.Request, s *session) {
	addr := strings.ToLower(r.PathValue("addr"))
	v := c.pageView(r, s, "Mailbox "+addr, "mailboxes", nil)
	d := mailboxDetail{Modes: oversightModes}
	if _, err := c.call(r, s, "GET", apiMailbox(addr, "/oversight"), nil, &d.O); err != nil {
		v.Error = "This mailbox is not found or not overseen by your key. " + apiMessage(err)
		c.render(w, http.StatusNotFound, "mailbox", v)
		return
	}
	if _, err := c.call(r, s, "GET", apiMailbox(addr, "/allowlist"), nil, &d.Allowlist); err != nil {
		v.Error = apiMessage(err)
	}
	if _, err := c.call(r, s, "GET", apiMailbox(addr, "/rules"), nil, &d.Rules); err != nil {
		v.Error = apiMessage(err)
	}
	v.Data = d
	c.render(w, http.StatusOK, "mailbox", v)
}

// modeConfirm is the data of the confirmation page.
type modeConfirm struct {
	Mailbox, From, To, Reason string
	Less                      bool // towards less oversight
}

// mailboxAction is POST /console/mailboxes/{addr}/{action}: mode (confirm first), allowlist
// add/remove, rule add/remove, request approve/reject.
func (c *Console) mailboxAction(w http.ResponseWriter, r *http.Request, s *session) {
	addr := strings.ToLower(r.PathValue("addr"))
	back := mailboxPath(addr)
	f := r.PostForm
	var err error
	msg := "Done."
	switch r.PathValue("action") {
	case "mode":
		mode, reason := f.Get("oversight"), strings.TrimSpace(f.Get("reason"))
		if !slices.Contains(oversightModes, mode) {
			redirectMsg(w, r, back, "Choose a mode.")
			return
		}
		if f.Get("confirm") != "yes" {
			var o wire.Oversight
			if _, err := c.call(r, s, "GET", apiMailbox(addr, "/oversight"), nil, &o); err != nil {
				redirectMsg(w, r, back, apiMessage(err))
				return
			}
			v := c.pageView(r, s, "Change the oversight of "+addr+"?", "mailboxes", modeConfirm{Mailbox: addr, From: o.Oversight,
				To: mode, Reason: reason, Less: slices.Index(oversightModes, mode) < slices.Index(oversightModes, o.Oversight)})
			c.render(w, http.StatusOK, "mode_confirm", v)
			return
		}
		_, err = c.call(r, s, "PUT", apiMailbox(addr, "/oversight"), wire.OversightChange{Oversight: mode, Reason: reason}, nil)
		msg = "Oversight mode is now " + mode + "."
	case "allow":
		_, err = c.call(r, s, "POST", apiMailbox(addr, "/allowlist"), wire.AllowlistRequest{Entry: f.Get("entry")}, nil)
		msg = "Added " + f.Get("entry") + " to the allowlist."
	case "unallow":
		_, err = c.call(r, s, "DELETE", apiMailbox(addr, "/allowlist/"+url.PathEscape(f.Get("entry"))), nil, nil)
		msg = "Removed " + f.Get("entry") + " from the allowlist."
	case "rule":
		rq := wire.RuleRequest{Action: f.Get("action"), Tags: fields(f.Get("tags")), Recipients: fields(f.Get("recipients"))}
		_, err = c.call(r, s, "POST", apiMailbox(addr, "/rules"), rq, nil)
		msg = "Rule added."
	case "unrule":
		_, err = c.call(r, s, "DELETE", apiMailbox(addr, "/rules/"+url.PathEscape(f.Get("rule_id"))), nil, nil)
		msg = "Rule removed."
	case "approve-request", "reject-request":
		verb := strings.TrimSuffix(r.PathValue("action"), "-request")
		_, err = c.call(r, s, "POST", apiMailbox(addr, "/oversight_request/"+verb),
			wire.OversightDecision{RequestID: f.Get("request_id"), Reason: strings.TrimSpace(f.Get("reason"))}, nil)
		msg = "Request " + verb + "d."
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		msg = "Not done: " + apiMessage(err)
	}
	redirectMsg(w, r, back, msg)
}

// fields splits a form value on commas and spaces.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// pendingRequests lists the oversight requests the key may decide (none on error).
func (c *Console) pendingRequests(r *http.Request, s *session) []wire.OversightRequest {
	var l wire.OversightRequestList
	if _, err := c.call(r, s, "GET", "/v1/oversight_requests", nil, &l); err != nil {
		return nil
	}
	return l.Requests
}
