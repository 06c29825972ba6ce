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
	abuse    bool // abuse@ of a local domain (RFC 2142): ARF reports there are complaints
}

// classify decides what a RCPT TO address is. The domain must be one of the store's domains
// (else ErrRelayDenied); then a VERP bounce address is accepted when events can be recorded,
// and anything else must be an existing mailbox (else ErrUnknownUser). Store failures are
// temporary.
func (s *Server) classify(ctx context.Context, to string) (recipient, error) {
	if strings.EqualFold(to, "postmaster") {
		// RFC 5321 §4.5.1: <Postmaster> with no domain is always accepted.
		return s.roleMailbox(ctx, "")
	}
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
	abuse := strings.EqualFold(local, "abuse")
	if notFound(err) && roleLocal(local) {
		r, err := s.roleMailbox(ctx, domain)
		r.abuse = abuse
		return r, err
	}
	if notFound(err) {
		return recipient{}, fmt.Errorf("%w: %s", ErrUnknownUser, addr)
	}
	if err != nil {
		return recipient{}, fmt.Errorf("look up mailbox %s: %w", addr, err)
	}
	return recipient{mbox: mb, abuse: abuse}, nil
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
	case errors.Is(err, mailbox.ErrOverQuota):
		return "over_quota"
	}
	return "error"
}

// roleLocal reports the local parts every local domain accepts even without a mailbox of
// that name: postmaster (RFC 5321 §4.5.1) and abuse (RFC 2142 §2).
func roleLocal(local string) bool {
	return strings.EqualFold(local, "postmaster") || strings.EqualFold(local, "abuse")
}

// roleMailbox is the mailbox that receives postmaster@ and abuse@ of domain (domain "": the
// bare <Postmaster>): Options.Postmaster when set; else the first mailbox of domain by
// address; else (or for the bare form) the first mailbox of the hostname's domain or any
// domain. A store without a mailbox has nowhere to put it: ErrUnknownUser.
func (s *Server) roleMailbox(ctx context.Context, domain string) (recipient, error) {
	if pm := s.opts.Postmaster; pm != "" {
		mb, err := s.opts.Store.Mailbox(ctx, pm)
		if err == nil {
			return recipient{mbox: mb}, nil
		}
		if !notFound(err) {
			return recipient{}, fmt.Errorf("look up postmaster mailbox %s: %w", pm, err)
		}
		s.log.Error("the configured postmaster mailbox does not exist; using the domain's first mailbox", "postmaster", pm)
	}
	ms, err := s.opts.Store.Mailboxes(ctx)
	if err != nil {
		return recipient{}, fmt.Errorf("list mailboxes: %w", err)
	}
	for _, d := range []string{domain, hostDomain(s.opts.Hostname)} {
		for _, m := range ms {
			if d != "" && strings.HasSuffix(m.Address, "@"+d) {
				return recipient{mbox: m}, nil
			}
		}
	}
	if len(ms) > 0 {
		return recipient{mbox: ms[0]}, nil
	}
	return recipient{}, fmt.Errorf("%w: no mailbox to receive postmaster mail", ErrUnknownUser)
}

// hostDomain is the hostname without its first label (mx.example.com: example.com).
func hostDomain(host string) string {
	_, d, ok := strings.Cut(strings.ToLower(strings.TrimSuffix(host, ".")), ".")
	if !ok || !strings.Contains(d, ".") {
		return strings.ToLower(host)
	}
	return d
}
