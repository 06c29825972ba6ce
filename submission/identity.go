package submission

// identity.go is the release point: the one function that adds the Multimail-Identity header
// and its signature (package identity) to a message as it is released for delivery. Every
// door passes here: accept (autonomous, monitored, and sends an approval rule releases at
// once), Approve (a person releases a held send; the queue rewrites the body in the same
// commit as the decision), the oversight messages of notify.go, and ReleaseSystem for the
// node's own TLS-RPT report mail.

import (
	"fmt"
	"time"

	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// modeSystem is the identity mode of messages multimail itself originates.
const modeSystem = "system"

// releaseAtAccept returns the identity header of a send released when it is accepted, or
// false when it is held (pending) or refused by a rule (never released).
func releaseAtAccept(env *envelope, dec decision) (identity.Header, bool) {
	h := identity.Header{Mailbox: env.sender.mbox.Address, Mode: string(env.sender.mbox.Oversight),
		At: env.now, Msg: env.msgID}
	switch {
	case dec.approval == nil && dec.monitored:
		h.Release = identity.ReleaseMonitored
	case dec.approval == nil:
		h.Release = identity.ReleaseAutonomous
	case dec.approval.State == queue.ApprovalApproved:
		h.Release, h.Ref = identity.ReleaseAutoApproved, dec.approval.ID
	default:
		return identity.Header{}, false
	}
	return h, true
}

// release adds the identity header h and the identity signature of dom's active key to body.
// A domain without an active identity key sends without one (logged, counted), as a domain
// without a DKIM key sends unsigned.
func (s *Submitter) release(body []byte, dom mailbox.Domain, h identity.Header) ([]byte, error) {
	k, ok := dom.ActiveIdentityKey()
	if !ok {
		s.metrics.identity.WithLabelValues("no_key").Inc()
		s.log.Warn("domain has no identity key; releasing without Multimail-Identity", "domain", dom.Name, "msg_id", h.Msg)
		return body, nil
	}
	key, err := s.keys.identity(dom.Name, k)
	if err != nil {
		return nil, fmt.Errorf("submission: identity key of %s: %w", dom.Name, err)
	}
	start := time.Now()
	out, err := identity.Sign(body, h, dom.Name, k.Selector, key)
	s.metrics.signSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.identity.WithLabelValues("error").Inc()
		return nil, fmt.Errorf("submission: identity for %s: %w", h.Msg, err)
	}
	s.metrics.identity.WithLabelValues(string(h.Release)).Inc()
	return out, nil
}

// ReleaseSystem adds the identity header (mode=system, release autonomous) and its signature
// by d's active identity key to a message the node itself writes outside a Submitter (a
// TLS-RPT report), as the oversight messages carry one: from is its From address (of
// domain d), msgID its message id. A domain without an active identity key sends without.
func ReleaseSystem(msg []byte, d mailbox.Domain, from, msgID string, at time.Time) ([]byte, error) {
	k, ok := d.ActiveIdentityKey()
	if !ok {
		return msg, nil
	}
	key, err := identity.ParseKey(k.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("submission: identity key of %s: %w", d.Name, err)
	}
	h := identity.Header{Mailbox: from, Mode: modeSystem, Release: identity.ReleaseAutonomous,
		At: at.UTC().Truncate(time.Second), Msg: msgID}
	return identity.Sign(msg, h, d.Name, k.Selector, key)
}
