// console.go: what the approver's console (api/console) needs from the API beyond its routes,
// which it calls in process with the signed-in key (so every page is authorized exactly as the
// API is): who a key is (Identify, at sign-in, through the failed-login throttle), and the
// one-click decision of an approval link, taken as the mailbox's oversight address.
package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
	"multimail.dev/multimail/submission"
)

// Identity is what a valid API key may do: its mailboxes ("*" = all) and usable scopes (a
// legacy key holding send with approve/admin acts with its send half only).
type Identity struct {
	KeyID     string
	Mailboxes []string
	Scopes    []string
}

// Identify checks an API key as the bearer door does (throttle first, then the hashed lookup,
// counting a failure or remembering the success for the request's client address). The error
// is an *Error: 401 for an unknown key, 429 (RetryAfter set) for a throttled client.
func (s *Server) Identify(r *http.Request, key string) (Identity, error) {
	if s.opts.Store == nil {
		return Identity{}, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: "no store"}
	}
	if err := s.throttleCheck(r, key); err != nil {
		return Identity{}, err
	}
	k, err := s.opts.Store.APIKeyByHash(r.Context(), mailbox.HashAPIKey(key))
	if errors.Is(err, mailbox.ErrNotFound) {
		s.throttleFailure(r)
		return Identity{}, errUnauthorized("invalid API key")
	}
	if err != nil {
		return Identity{}, err
	}
	s.throttleSuccess(r, key)
	return Identity{KeyID: k.ID, Mailboxes: k.Mailboxes, Scopes: mailbox.UsableScopes(k.Scopes)}, nil
}

// HeldMessage is a held send as the one-click confirmation page shows it.
type HeldMessage struct {
	ApprovalID       string
	State            string
	MessageID        string
	Mailbox          string
	OversightAddress string // the mailbox's, now ("" if it has none)
	Subject          string
	To               []string
	Tags             []string
	CreatedAt        time.Time
	ExpiresAt        time.Time // the message's expires_at (zero: none)
	Raw              []byte    // the message as queued; nil once it is no longer kept
}

// HeldForLink loads an approval for the one-click flow, whose token (checked by the caller)
// is the authorization. ErrNotFound-like *Error 404 for an unknown id.
func (s *Server) HeldForLink(ctx context.Context, approvalID string) (*HeldMessage, error) {
	rec, err := s.opts.Queue.Approval(ctx, approvalID)
	if err != nil {
		return nil, err
	}
	h := &HeldMessage{ApprovalID: rec.ID, State: string(rec.State), MessageID: rec.MsgID, Mailbox: rec.Mailbox,
		Subject: rec.Subject, To: rec.To, Tags: rec.Tags, CreatedAt: rec.CreatedAt}
	if mb, err := s.opts.Store.Mailbox(ctx, rec.Mailbox); err == nil {
		h.OversightAddress = mb.OversightAddress
	}
	if st, err := s.opts.Queue.Status(ctx, rec.MsgID); err == nil {
		h.ExpiresAt = st.ExpiresAt
	}
	if raw, err := s.opts.Queue.Body(ctx, rec.MsgID); err == nil {
		h.Raw = raw
	}
	return h, nil
}

// DecideByLink decides an approval for its mailbox's oversight address (the one-click link's
// token, checked and consumed by the caller, was the authentication). The trail records it as
// decided by "oversight:<address>".
func (s *Server) DecideByLink(ctx context.Context, approvalID string, approve bool, reason string) error {
	h, err := s.HeldForLink(ctx, approvalID)
	if err != nil {
		return err
	}
	if h.OversightAddress == "" {
		return errForbidden("the mailbox %s has no oversight address", h.Mailbox)
	}
	p := submission.Principal{Mailbox: h.Mailbox, KeyID: h.OversightAddress, Scopes: []string{scopeApprove}, Source: "oversight"}
	if approve {
		return s.opts.Submitter.Approve(detached(ctx), approvalID, reason, p)
	}
	return s.opts.Submitter.Reject(detached(ctx), approvalID, reason, p)
}

// heldMessage is GET /v1/approvals/{approval_id}/message: the held message as queued
// (message/rfc822), for the reviewer who decides it. Another mailbox's approval is 404.
func (s *Server) heldMessage(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathValue(r, "approval_id")
	if err != nil {
		return err
	}
	rec, err := s.opts.Queue.Approval(r.Context(), id)
	if err != nil {
		return err
	}
	if !p.may(rec.Mailbox) || !p.seesTest(rec.Test) {
		return errNotFound("approval")
	}
	raw, err := s.opts.Queue.Body(r.Context(), rec.MsgID)
	if errors.Is(err, queue.ErrNotFound) {
		return errNotFound("message body")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", "attachment")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(raw)
	return nil
}

// IdentityVerdict checks the Multimail-Identity header of a message's stored body (as
// released) against this node's own identity key set, for the console's message page. The
// key must be one that may see the message (its sending mailbox); anything else is a 404
// *Error. The verdict is one line for a person: "verified: …", "not released yet", "the body
// is no longer kept", or "FAILED: <why>".
func (s *Server) IdentityVerdict(r *http.Request, key, msgID string) (string, error) {
	ident, err := s.Identify(r, key)
	if err != nil {
		return "", err
	}
	st, err := s.opts.Queue.Status(r.Context(), msgID)
	if err != nil || !(mailbox.APIKey{Mailboxes: ident.Mailboxes}).AllowsMailbox(st.Mailbox) {
		return "", errNotFound("message")
	}
	switch st.State {
	case "pending_approval":
		return "not released yet (held for approval)", nil
	case "rejected":
		return "never released (rejected)", nil
	}
	body, err := s.opts.Queue.Body(r.Context(), msgID)
	if err != nil || len(body) == 0 {
		return "the body is no longer kept", nil
	}
	ks := identity.KeySet{Version: 1}
	ds, err := s.opts.Store.Domains(r.Context())
	if err != nil {
		return "", err
	}
	for _, d := range ds {
		keys, err := identityKeys(d)
		if err != nil {
			return "", err
		}
		ks.Keys = append(ks.Keys, keys...)
	}
	res, err := identity.Verify(body, ks.LookupTXT)
	if err != nil {
		return "FAILED: " + err.Error(), nil
	}
	return fmt.Sprintf("verified: %s, mode %s, released %s (selector %s)", res.Header.Mailbox, res.Header.Mode,
		res.Header.Release, res.Selector), nil
}
