package console

import (
	"errors"
	"net/http"
	"strings"

	"multimail.dev/multimail/api"
)

// linkData is the one-click confirmation page.
type linkData struct {
	Token    string
	Decision string
	H        *api.HeldMessage
	Text     string // the held message's text, shown as text only
	Done     string
}

// linkPage is GET /console/d/{token}: it shows what the link would decide and one button.
// Following the link decides nothing (mail scanners follow links).
func (c *Console) linkPage(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	if c.opts.Links == nil {
		c.render(w, http.StatusNotFound, "link", view{Title: "Decision link", Error: "One-click links are off on this server."})
		return
	}
	id, decision, err := c.opts.Links.Peek(tok)
	if err != nil {
		c.render(w, http.StatusGone, "link", view{Title: "Decision link", Error: err.Error()})
		return
	}
	h, err := c.opts.API.HeldForLink(r.Context(), id)
	if err != nil {
		c.render(w, http.StatusNotFound, "link", view{Title: "Decision link", Error: "This approval no longer exists."})
		return
	}
	if !c.opts.Links.Allowed(h.Mailbox) {
		c.render(w, http.StatusGone, "link", view{Title: "Decision link", Error: ErrLinkOff.Error()})
		return
	}
	d := linkData{Token: tok, Decision: decision, H: h}
	if h.State != "pending" {
		d.Done = "This send was already decided: " + h.State + "."
	}
	if h.Raw != nil {
		m := parseHeld(h.Raw)
		d.Text = m.Text
		if d.Text == "" {
			d.Text = string(h.Raw)
		}
	}
	c.render(w, http.StatusOK, "link", view{Title: "Confirm: " + decision, Data: d})
}

// linkDecide is POST /console/d/{token}: the token (unguessable, in the path of a same-origin
// post) is the authority. Its single use is the approval's: the queue decides an approval once
// in one synced commit, so of two clicks (or the approve and the reject link) exactly one
// decides, before or after a restart. The trail records it as by "oversight:<the mailbox's
// oversight address>".
func (c *Console) linkDecide(w http.ResponseWriter, r *http.Request) {
	if c.opts.Links == nil {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	tok := r.PathValue("token")
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	id, decision, err := c.opts.Links.Peek(tok)
	if err != nil {
		c.render(w, http.StatusGone, "link", view{Title: "Decision link", Error: err.Error()})
		return
	}
	if decision == decideReject && reason == "" {
		c.render(w, http.StatusBadRequest, "link", view{Title: "Decision link", Error: "A rejection needs a reason: go back and write one."})
		return
	}
	h, err := c.opts.API.HeldForLink(r.Context(), id)
	switch {
	case err != nil:
		c.render(w, http.StatusNotFound, "link", view{Title: "Decision link", Error: "This approval no longer exists."})
		return
	case !c.opts.Links.Allowed(h.Mailbox):
		c.render(w, http.StatusGone, "link", view{Title: "Decision link", Error: ErrLinkOff.Error()})
		return
	case h.State != "pending":
		c.render(w, http.StatusGone, "link", view{Title: "Decision link", Error: ErrLinkUsed.Error()})
		return
	}
	if err := c.opts.API.DecideByLink(r.Context(), id, decision == decideApprove, reason); err != nil {
		if h, herr := c.opts.API.HeldForLink(r.Context(), id); herr == nil && h.State != "pending" {
			// Another click (or the other link) decided it first.
			c.render(w, http.StatusGone, "link", view{Title: "Decision link", Error: ErrLinkUsed.Error()})
			return
		}
		msg := "The decision failed: " + err.Error()
		var ae *api.Error
		if errors.As(err, &ae) {
			msg = "The decision failed: " + ae.Message
		}
		c.render(w, http.StatusConflict, "link", view{Title: "Decision link", Error: msg})
		return
	}
	c.log.Info("console: decided by link", "approval", id, "decision", decision)
	word := "Approved"
	if decision == decideReject {
		word = "Rejected"
	}
	c.render(w, http.StatusOK, "link", view{Title: word, Flash: word + ": " + id + ". You can close this page."})
}
