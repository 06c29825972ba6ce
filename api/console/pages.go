package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"multimail.dev/multimail/api"
	"multimail.dev/multimail/api/wire"
	"multimail.dev/multimail/mailbox"
)

// loginPage is the sign-in form (also when signed in: signing in again switches keys and
// ends the old session). Its CSRF token is a double-submit cookie (no session yet).
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.showLogin(w, r, http.StatusOK, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomToken()
	c.setCookie(w, r, loginCookie, tok, 600)
	c.render(w, status, "login", view{Title: "Sign in", CSRF: tok, Error: msg})
}

// login checks the key through the API (throttled like any bearer key) and starts a new
// session (a new id: any earlier session of this browser ends).
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	ck, err := r.Cookie(loginCookie)
	if err := r.ParseForm(); err != nil || ck == nil || !csrfOK(r.PostForm.Get("csrf"), ck.Value) {
		http.Error(w, "missing or wrong CSRF token: reload the sign-in page and try again", http.StatusForbidden)
		return
	}
	_ = err
	key := strings.TrimSpace(r.PostForm.Get("key"))
	if key == "" {
		c.showLogin(w, r, http.StatusBadRequest, "Enter an API key.")
		return
	}
	ident, err := c.opts.API.Identify(r, key)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", fmt.Sprint(ae.RetryAfter))
			c.showLogin(w, r, http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins from this address; try again in %d s.", ae.RetryAfter))
			return
		}
		c.log.Info("console: sign-in refused", "remote", r.RemoteAddr, "reason", "invalid key")
		c.showLogin(w, r, http.StatusUnauthorized, "This is not a valid API key. (A mailbox password never signs in here: use an operator key holding approve or admin.)")
		return
	}
	switch {
	case slices.Contains(ident.Scopes, mailbox.ScopeSend):
		c.log.Info("console: sign-in refused", "remote", r.RemoteAddr, "key", ident.KeyID, "reason", "send scope")
		c.showLogin(w, r, http.StatusForbidden, "This key can send mail, so it can never decide approvals (separation of duties). Sign in with an operator key holding approve or admin.")
		return
	case !mailbox.Oversees(ident.Scopes):
		c.showLogin(w, r, http.StatusForbidden, "This key holds neither approve nor admin: it cannot oversee anything here.")
		return
	}
	if _, old := c.session(r, false); old != "" {
		c.sess.drop(old)
	}
	id, _ := c.sess.create(key, ident, c.now())
	c.setCookie(w, r, c.cookieName(r), id, 0)
	c.setCookie(w, r, loginCookie, "", -1)
	c.log.Info("console: signed in", "remote", r.RemoteAddr, "key", ident.KeyID)
	http.Redirect(w, r, "/console/approvals", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if _, id := c.session(r, false); id != "" {
		c.sess.drop(id)
	}
	c.setCookie(w, r, c.cookieName(r), "", -1)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// pending lists the key's pending approvals, oldest first.
func (c *Console) pending(r *http.Request, s *session) ([]wire.Approval, error) {
	var out []wire.Approval
	cursor := ""
	for range 20 {
		var page wire.ApprovalList
		q := url.Values{"state": {"pending"}, "limit": {"100"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		if _, err := c.call(r, s, "GET", "/v1/approvals?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Approvals...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	return out, nil
}

// approvalsData is the approvals page.
type approvalsData struct {
	Pending []wire.Approval
	Recent  []wire.Approval
}

func (c *Console) approvals(w http.ResponseWriter, r *http.Request, s *session) {
	v := c.pageView(r, s, "Approvals", "approvals", nil)
	d := approvalsData{}
	var err error
	if d.Pending, err = c.pending(r, s); err != nil {
		v.Error = apiMessage(err)
	}
	var all wire.ApprovalList
	if _, err := c.call(r, s, "GET", "/v1/approvals?state=all&limit=100", nil, &all); err == nil {
		for i := len(all.Approvals) - 1; i >= 0 && len(d.Recent) < 20; i-- {
			if a := all.Approvals[i]; a.State != "pending" {
				d.Recent = append(d.Recent, a)
			}
		}
	}
	v.Data = d
	v.LiveURL = "/console/events"
	c.render(w, http.StatusOK, "approvals", v)
}

// approvalRows is the pending table's body alone, for the live update.
func (c *Console) approvalRows(w http.ResponseWriter, r *http.Request, s *session) {
	p, err := c.pending(r, s)
	if err != nil {
		http.Error(w, apiMessage(err), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	v := view{Now: c.now(), CSRF: s.csrf, Data: approvalsData{Pending: p}}
	if err := c.pages["approvals"].ExecuteTemplate(w, "rows", v); err != nil {
		c.log.Error("console: rows", "err", err)
	}
}

// decide applies the approvals form: one row's Approve or Reject, or the selected rows'.
func (c *Console) decide(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	var ids []string
	verb := ""
	reason := strings.TrimSpace(f.Get("reason"))
	switch {
	case f.Get("approve") != "":
		ids, verb = []string{f.Get("approve")}, "approve"
	case f.Get("reject") != "":
		ids, verb = []string{f.Get("reject")}, "reject"
		if rr := strings.TrimSpace(f.Get("reason-" + f.Get("reject"))); rr != "" {
			reason = rr
		}
	case f.Get("bulk") == "approve" || f.Get("bulk") == "reject":
		ids, verb = f["id"], f.Get("bulk")
	}
	back := f.Get("back")
	if !strings.HasPrefix(back, "/console/") || strings.HasPrefix(back, "//") {
		back = "/console/approvals"
	}
	if len(ids) == 0 || verb == "" {
		redirectMsg(w, r, back, "Nothing selected.")
		return
	}
	if verb == "reject" && reason == "" {
		redirectMsg(w, r, back, "A rejection needs a reason: write one and press Reject again.")
		return
	}
	if len(ids) > maxBulk {
		redirectMsg(w, r, back, fmt.Sprintf("At most %d at a time.", maxBulk))
		return
	}
	var done, failed []string
	for _, id := range ids {
		_, err := c.call(r, s, "POST", "/v1/approvals/"+url.PathEscape(id)+"/"+verb, wire.DecisionRequest{Reason: reason}, nil)
		if err != nil {
			failed = append(failed, id+": "+apiMessage(err))
			continue
		}
		done = append(done, id)
	}
	var msg string
	if verb == "approve" {
		msg = fmt.Sprintf("Approved %d.", len(done))
	} else {
		msg = fmt.Sprintf("Rejected %d.", len(done))
	}
	if len(failed) > 0 {
		msg += " Not decided: " + strings.Join(failed, "; ")
	}
	redirectMsg(w, r, back, msg)
}

// maxBulk bounds one bulk decision.
const maxBulk = 500

func redirectMsg(w http.ResponseWriter, r *http.Request, to, msg string) {
	http.Redirect(w, r, to+"?done="+url.QueryEscape(msg), http.StatusSeeOther)
}

// findApproval looks one approval up among the key's (the API lists; 404 for others').
func (c *Console) findApproval(r *http.Request, s *session, id string) (*wire.Approval, error) {
	cursor := ""
	for range 50 {
		var page wire.ApprovalList
		q := url.Values{"state": {"all"}, "limit": {"100"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		if _, err := c.call(r, s, "GET", "/v1/approvals?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		for i := range page.Approvals {
			if page.Approvals[i].ApprovalID == id {
				return &page.Approvals[i], nil
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	return nil, &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "approval not found"}
}

// approvalData is one approval's page.
type approvalData struct {
	A    wire.Approval
	Msg  held
	Raw  bool
	Back string
}

func (c *Console) approval(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	a, err := c.findApproval(r, s, id)
	if err != nil {
		v := c.pageView(r, s, "Approval", "approvals", nil)
		v.Error = apiMessage(err)
		c.render(w, http.StatusNotFound, "approval", v)
		return
	}
	d := approvalData{A: *a, Back: "/console/approvals/" + a.ApprovalID}
	raw, err := c.call(r, s, "GET", "/v1/approvals/"+url.PathEscape(id)+"/message", nil, nil)
	if err == nil {
		d.Msg, d.Raw = parseHeld(raw), true
	}
	c.render(w, http.StatusOK, "approval", c.pageView(r, s, "Approval: "+a.Subject, "approvals", d))
}

// approvalHTML serves a held message's HTML body on its own, under a CSP that allows no
// script and no remote resource, for the sandboxed iframe of the approval page.
func (c *Console) approvalHTML(w http.ResponseWriter, r *http.Request, s *session) {
	raw, err := c.call(r, s, "GET", "/v1/approvals/"+url.PathEscape(r.PathValue("id"))+"/message", nil, nil)
	if err != nil {
		http.Error(w, apiMessage(err), http.StatusNotFound)
		return
	}
	h := parseHeld(raw)
	hd := w.Header()
	hd.Set("Content-Security-Policy", htmlCSP)
	hd.Set("X-Frame-Options", "SAMEORIGIN")
	hd.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(h.HTML)
}

// messagesData is the search page.
type messagesData struct {
	Q        url.Values
	Results  []wire.Message
	Searched bool
}

func (c *Console) messages(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := c.pageView(r, s, "Messages", "messages", nil)
	d := messagesData{Q: q}
	if id := strings.TrimSpace(q.Get("message_id")); id != "" {
		http.Redirect(w, r, "/console/messages/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	if q.Has("status") || q.Has("mailbox") || q.Has("recipient") || q.Has("tag") {
		d.Searched = true
		lq := url.Values{}
		if st := q.Get("status"); st != "" {
			lq.Set("state", st)
		}
		if mb := q.Get("mailbox"); mb != "" {
			lq.Set("mailbox", mb)
		}
		list, err := c.queueList(r, s, lq)
		if err != nil {
			v.Error = apiMessage(err)
		}
		rc, tag := strings.ToLower(strings.TrimSpace(q.Get("recipient"))), strings.ToLower(strings.TrimSpace(q.Get("tag")))
		for i := len(list.Messages) - 1; i >= 0; i-- {
			m := list.Messages[i]
			if rc != "" && !slices.ContainsFunc(m.Recipients, func(x wire.Recipient) bool { return strings.Contains(strings.ToLower(x.Address), rc) }) {
				continue
			}
			if tag != "" && !slices.ContainsFunc(m.Tags, func(t string) bool { return strings.EqualFold(t, tag) }) {
				continue
			}
			d.Results = append(d.Results, m)
		}
	}
	v.Data = d
	c.render(w, http.StatusOK, "messages", v)
}

func (c *Console) message(w http.ResponseWriter, r *http.Request, s *session) {
	var m wire.Message
	v := c.pageView(r, s, "Message", "messages", nil)
	if _, err := c.call(r, s, "GET", "/v1/messages/"+url.PathEscape(r.PathValue("id")), nil, &m); err != nil {
		v.Error = apiMessage(err)
		c.render(w, http.StatusNotFound, "message", v)
		return
	}
	d := messageData{Message: m}
	if verdict, err := c.opts.API.IdentityVerdict(r, s.key, m.MessageID); err == nil {
		d.Identity = verdict
	}
	v.Title, v.Data = "Message "+m.MessageID, d
	c.render(w, http.StatusOK, "message", v)
}

// messageData is a message's page: the API's message and its identity header verdict.
type messageData struct {
	wire.Message
	Identity string
}

// queueData is the queue page.
type queueData struct {
	Counts   []laneCount
	Deferred []deferredRcpt
	Messages []wire.Message
}

type laneCount struct {
	Lane   string
	States map[string]int
	Total  int
}

type deferredRcpt struct {
	MessageID, Subject string
	R                  wire.Recipient
}

func (c *Console) queuePage(w http.ResponseWriter, r *http.Request, s *session) {
	v := c.pageView(r, s, "Queue", "queue", nil)
	list, err := c.queueList(r, s, url.Values{})
	if err != nil {
		v.Error = apiMessage(err)
	}
	d := queueData{}
	idx := map[string]int{}
	for _, lane := range []string{"high", "normal", "low"} {
		idx[lane] = len(d.Counts)
		d.Counts = append(d.Counts, laneCount{Lane: lane, States: map[string]int{}})
	}
	for _, m := range list.Messages {
		i, ok := idx[m.Priority]
		if !ok {
			continue
		}
		d.Counts[i].States[m.Status]++
		d.Counts[i].Total++
		live := false
		for _, rc := range m.Recipients {
			if rc.Status == "deferred" {
				d.Deferred = append(d.Deferred, deferredRcpt{MessageID: m.MessageID, Subject: m.Subject, R: rc})
			}
			live = live || rc.Status == "deferred" || rc.Status == "queued"
		}
		if live {
			d.Messages = append(d.Messages, m)
		}
	}
	v.Data = d
	c.render(w, http.StatusOK, "queue", v)
}

// maxQueuePages bounds how much of the queue one page reads (pages of the API's maximum, 200).
const maxQueuePages = 25

// queueList reads the key's queue listing with the filters q, page after page (the API
// answers at most 200 messages a page).
func (c *Console) queueList(r *http.Request, s *session, q url.Values) (wire.MessageList, error) {
	var all wire.MessageList
	q.Set("limit", "200")
	for range maxQueuePages {
		var page wire.MessageList
		if _, err := c.call(r, s, "GET", "/v1/admin/queue?"+q.Encode(), nil, &page); err != nil {
			return all, err
		}
		all.Messages = append(all.Messages, page.Messages...)
		if page.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", page.NextCursor)
	}
	all.NextCursor = "more"
	return all, nil
}

// queueAction is retry or cancel of one message, as the API allows the key.
func (c *Console) queueAction(w http.ResponseWriter, r *http.Request, s *session) {
	id := url.PathEscape(r.PathValue("id"))
	var err error
	switch r.PathValue("action") {
	case "retry":
		_, err = c.call(r, s, "POST", "/v1/admin/queue/"+id+"/retry", nil, nil)
	case "cancel":
		_, err = c.call(r, s, "DELETE", "/v1/admin/queue/"+id, nil, nil)
	default:
		http.NotFound(w, r)
		return
	}
	msg := r.PathValue("action") + ": done."
	if err != nil {
		msg = apiMessage(err)
	}
	redirectMsg(w, r, "/console/queue", msg)
}

// mailboxesData is the mailboxes page.
type mailboxesData struct {
	Mailboxes []wire.Mailbox
	Scoped    []string // without admin: the key's mailboxes, each with its own page
	Requests  []wire.OversightRequest
}

func (c *Console) mailboxes(w http.ResponseWriter, r *http.Request, s *session) {
	v := c.pageView(r, s, "Mailboxes", "mailboxes", nil)
	var list wire.MailboxList
	d := mailboxesData{}
	if _, err := c.call(r, s, "GET", "/v1/admin/mailboxes", nil, &list); err != nil {
		d.Scoped = slices.DeleteFunc(slices.Clone(s.ident.Mailboxes), func(m string) bool { return m == "*" })
	}
	d.Requests = c.pendingRequests(r, s)
	for _, m := range list.Mailboxes {
		m.Password = ""
		d.Mailboxes = append(d.Mailboxes, m)
	}
	v.Data = d
	c.render(w, http.StatusOK, "mailboxes", v)
}
