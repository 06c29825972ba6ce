package inbound

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"multimail.dev/multimail/mailbox"
)

// recipient is an accepted RCPT: a local mailbox, or a bounce address naming a queued message.
type recipient struct {
	mbox     mailbox.Mailbox
	bounceID string
}

// classify decides what a RCPT TO address is. The domain must be one of the store's domains
// (else ErrRelayDenied); then a VERP bounce address is accepted when events can be recorded,
// and anything else must be an existing mailbox (else ErrUnknownUser). Store failures are
// temporary.
func (s *Server) classify(ctx context.Context, to string) (recipient, error) {
	local, domain, ok := strings.Cut(to, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return recipient{}, fmt.Errorf("%w: %q", ErrBadRecipient, to)
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if _, err := s.opts.Store.Domain(ctx, domain); notFound(err) {
		return recipient{}, fmt.Errorf("%w: %s", ErrRelayDenied, domain)
	} else if err != nil {
		return recipient{}, fmt.Errorf("look up domain %s: %w", domain, err)
	}
	if s.opts.Queue != nil {
		if id, ok := s.opts.Queue.ParseBounceAddress(to); ok {
			return recipient{bounceID: id}, nil
		}
	}
	addr := strings.ToLower(local) + "@" + domain
	mb, err := s.opts.Store.Mailbox(ctx, addr)
	if notFound(err) {
		return recipient{}, fmt.Errorf("%w: %s", ErrUnknownUser, addr)
	}
	if err != nil {
		return recipient{}, fmt.Errorf("look up mailbox %s: %w", addr, err)
	}
	return recipient{mbox: mb}, nil
}

// notFound reports a store answer meaning "no such domain or mailbox"; a name the store
// finds malformed (a domain literal, a quoted local part) cannot be ours either.
func notFound(err error) bool {
	return errors.Is(err, mailbox.ErrNotFound) || errors.Is(err, mailbox.ErrInvalidAddress)
}

// rcptOutcome is the metrics label of a refused recipient.
func rcptOutcome(err error) string {
	switch {
	case errors.Is(err, ErrRelayDenied):
		return "relay_denied"
	case errors.Is(err, ErrUnknownUser), errors.Is(err, ErrBadRecipient):
		return "unknown_user"
	}
	return "error"
}
