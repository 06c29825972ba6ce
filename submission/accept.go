package submission

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"multimail.dev/multimail/identity"
	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// sender is a sending mailbox with its domain (and so its DKIM key).
type sender struct {
	mbox   mailbox.Mailbox
	domain mailbox.Domain
}

// envelope is everything about an accepted message but its bytes.
type envelope struct {
	sender    sender
	rcpts     []string
	subject   string
	lane      queue.Lane
	tags      []string
	expiresAt time.Time
	sendAt    time.Time
	idemKey   string
	reqHash   string
	source    string
	now       time.Time
	msgID     string // the queue id, assigned before the enqueue for the VERP return path
	actor     string // who sends (Principal.by), for the audit journal
	test      bool   // a test key's send (Principal.Test)

	requireTLS bool // REQUIRETLS (RFC 8689), from the SMTP envelope
}

// sender looks up a sending mailbox and its domain: no mailbox is ErrUnknownMailbox, a mailbox
// on a domain that is not configured is ErrSenderNotAllowed.
func (s *Submitter) sender(ctx context.Context, addr string) (sender, error) {
	mb, err := s.opts.Store.Mailbox(ctx, addr)
	if errors.Is(err, mailbox.ErrNotFound) {
		return sender{}, fmt.Errorf("%w: %s", ErrUnknownMailbox, addr)
	}
	if err != nil {
		return sender{}, fmt.Errorf("submission: mailbox %s: %w", addr, err)
	}
	dom, err := s.opts.Store.Domain(ctx, domainOf(mb.Address))
	if errors.Is(err, mailbox.ErrNotFound) {
		return sender{}, fmt.Errorf("%w: %s is not on a configured domain", ErrSenderNotAllowed, addr)
	}
	if err != nil {
		return sender{}, fmt.Errorf("submission: domain of %s: %w", addr, err)
	}
	return sender{mbox: mb, domain: dom}, nil
}

// rawSender checks an SMTP envelope sender against the principal: it must be the
// authenticated mailbox, or any local mailbox for a trusted-network principal ("*").
func (s *Submitter) rawSender(ctx context.Context, from string, auth Principal) (sender, error) {
	if from == "" {
		return sender{}, fmt.Errorf("%w: the null sender cannot submit", ErrSenderNotAllowed)
	}
	addr, msg := checkAddress(from)
	if msg != "" {
		return sender{}, fieldErr("from", msg)
	}
	if !auth.hasScope(mailbox.ScopeSend) {
		return sender{}, fmt.Errorf("%w: the credentials lack the send scope", ErrForbidden)
	}
	if !auth.may(addr) {
		return sender{}, fmt.Errorf("%w: %s is not the authenticated mailbox", ErrSenderNotAllowed, addr)
	}
	snd, err := s.sender(ctx, addr)
	if errors.Is(err, ErrUnknownMailbox) {
		return sender{}, fmt.Errorf("%w: %s is not a local mailbox", ErrSenderNotAllowed, addr)
	}
	return snd, err
}

// accept is the common tail of Send and SubmitRaw: oversight, DKIM, one enqueue, the oversight
// message (notify.go), the Sent copy.
func (s *Submitter) accept(ctx context.Context, env *envelope, raw []byte) (queue.Receipt, error) {
	addr := env.sender.mbox.Address
	var pol mailbox.Policy
	if m := env.sender.mbox.Oversight; m == mailbox.GatedSend || m == mailbox.GatedAll || m == "" {
		var err error
		if pol, err = s.opts.Store.Policy(ctx, addr); err != nil {
			return queue.Receipt{}, s.refused("policy", fmt.Errorf("submission: policy of %s: %w", addr, err))
		}
	}
	dec, err := decidePolicy(env.sender.mbox.Oversight, *s.rules.Load(), pol, addr, env.tags, env.rcpts, env.now)
	if err != nil {
		return queue.Receipt{}, s.refused("forbidden", err)
	}
	if err := checkWire(raw); err != nil {
		return queue.Receipt{}, s.refused("unsafe_bytes", fmt.Errorf("submission: %s: %w", env.msgID, err))
	}
	if dec.approval != nil && dec.approval.ID == "" {
		dec.approval.ID = queue.NewApprovalID(env.now) // the identity header names it
	}
	raw = identity.RemoveFields(raw, identity.FieldName) // only the release adds one
	signDom := s.sendingDomain(ctx, addr, env.sender.domain)
	var signed []byte
	if env.test {
		signed, err = s.signTest(raw, signDom.Name)
	} else {
		signed, err = s.sign(raw, signDom)
	}
	if err != nil {
		return queue.Receipt{}, err
	}
	if h, now := releaseAtAccept(env, dec); now && !env.test {
		if signed, err = s.release(signed, env.sender.domain, h); err != nil {
			return queue.Receipt{}, s.refused("identity", err)
		}
	}
	r, err := s.opts.Queue.Enqueue(ctx, &queue.Message{
		ID: env.msgID, Mailbox: addr, From: s.opts.Queue.BounceAddress(env.msgID, signDom.Name),
		To: env.rcpts, Subject: env.subject, Lane: env.lane, Tags: env.tags, Body: signed,
		ExpiresAt: env.expiresAt, SendAt: env.sendAt, Approval: dec.approval, IdempotencyKey: env.idemKey,
		RequestHash: env.reqHash, Source: env.source, Monitored: dec.monitored, Actor: env.actor,
		Test: env.test, RequireTLS: env.requireTLS,
	})
	if err != nil {
		return queue.Receipt{}, s.refused("enqueue", fmt.Errorf("submission: enqueue %s: %w", env.msgID, err))
	}
	s.metrics.accepted.WithLabelValues(env.source, r.Status).Inc()
	s.log.InfoContext(ctx, "accepted", "msg_id", r.ID, "mailbox", addr, "status", r.Status,
		"rcpts", len(env.rcpts), "size", len(signed), "source", env.source, "duplicate", r.Duplicate)
	if env.test { // no oversight mail, no Sent copy: a test key causes no delivery anywhere
		return r, nil
	}
	s.notifyOversight(ctx, env, dec, r, signed)
	if r.Status == queue.StatusQueued && !r.Duplicate {
		s.copyToSent(ctx, addr, r.ID, signed)
	}
	return r, nil
}

// sendingDomain is the domain that signs addr's mail and receives its bounces: its sending
// subdomain (Options.SendingDomain) when it has one, else its own domain d.
func (s *Submitter) sendingDomain(ctx context.Context, addr string, d mailbox.Domain) mailbox.Domain {
	if s.opts.SendingDomain == nil {
		return d
	}
	name := s.opts.SendingDomain(addr)
	if name == "" || strings.EqualFold(name, d.Name) {
		return d
	}
	sd, err := s.opts.Store.Domain(ctx, strings.ToLower(name))
	if err != nil {
		s.log.Warn("sending domain unavailable; signing with the mailbox's domain", "mailbox", addr, "sending_domain", name, "err", err)
		return d
	}
	return sd
}

// TestSelector is the DKIM selector of test mail. It is never published: the key behind it is
// made per process (Submitter.testKey), so test mail cannot be replayed as genuine.
const TestSelector = "mmtest"

// signTest DKIM-signs a test key's message with the unpublished test key.
func (s *Submitter) signTest(raw []byte, domain string) ([]byte, error) {
	out, err := sign(raw, domain, TestSelector, s.testKey)
	if err != nil {
		return nil, fmt.Errorf("submission: test dkim sign for %s: %w", domain, err)
	}
	return out, nil
}

// sign DKIM-signs raw with the domain's key. A domain without a key sends unsigned (logged).
func (s *Submitter) sign(raw []byte, d mailbox.Domain) ([]byte, error) {
	if len(d.DKIMKeyPEM) == 0 {
		s.log.Warn("domain has no DKIM key; sending unsigned", "domain", d.Name)
		return raw, nil
	}
	key, sel, err := s.keys.signer(d)
	if err != nil {
		return nil, fmt.Errorf("submission: %w", err)
	}
	start := time.Now()
	out, err := sign(raw, d.Name, sel, key)
	s.metrics.signSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, fmt.Errorf("submission: dkim sign for %s: %w", d.Name, err)
	}
	return out, nil
}

// copyToSent stores the sent message in the sender's Sent folder, marked \Seen. It is a second
// commit after the enqueue (see doc.go): a failure is logged, the send stands.
func (s *Submitter) copyToSent(ctx context.Context, addr, msgID string, body []byte) {
	_, err := s.opts.Store.Deliver(ctx, addr, "Sent", body, mailbox.DeliverOptions{Flags: []string{mailbox.FlagSeen}, NoSync: true})
	if err != nil {
		s.metrics.sentCopyErrors.Inc()
		s.log.ErrorContext(ctx, "copy to Sent failed", "msg_id", msgID, "mailbox", addr, "err", err)
	}
}
