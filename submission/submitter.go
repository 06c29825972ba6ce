package submission

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"multimail.dev/multimail/mailbox"
	"multimail.dev/multimail/queue"
)

// Submitter is the acceptance path every outbound message takes. It is safe for concurrent use.
type Submitter struct {
	opts    Options
	log     *slog.Logger
	clock   Clock
	keys    keyCache
	metrics *metrics
	rules   atomic.Pointer[[]Rule] // the approval rules in force (SetRules swaps them)
	testKey ed25519.PrivateKey     // signs test mail under TestSelector; never published
}

// New checks opts and returns a Submitter. A bad approval rule is an error naming the rule.
func New(opts Options) (*Submitter, error) {
	if opts.Queue == nil || opts.Store == nil {
		return nil, errors.New("submission: Queue and Store are required")
	}
	if err := ValidateRules(opts.Rules); err != nil {
		return nil, err
	}
	opts = withDefaults(opts)
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	_, tk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("submission: test key: %w", err)
	}
	s := &Submitter{opts: opts, log: opts.Logger, clock: opts.Clock, metrics: m, testKey: tk}
	rules := slices.Clone(opts.Rules)
	s.rules.Store(&rules)
	return s, nil
}

// ValidateRules checks every rule's action and recipient globs; the error names the first bad
// rule (counting from 1, as the config file's [[approval_rule]]s).
func ValidateRules(rules []Rule) error {
	for i, r := range rules {
		if err := r.validate(); err != nil {
			return fmt.Errorf("submission: approval_rule %d: %w", i+1, err)
		}
	}
	return nil
}

// SetRules replaces the approval rules (a config reload); sends already decided keep their
// decision, every later send is decided by rules. A bad rule is refused and the old set stays.
func (s *Submitter) SetRules(rules []Rule) error {
	if err := ValidateRules(rules); err != nil {
		return err
	}
	rules = slices.Clone(rules)
	s.rules.Store(&rules)
	return nil
}

// withDefaults fills the zero values of opts.
func withDefaults(o Options) Options {
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = DefaultMaxRecipients
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	return o
}

// Send accepts an API or MCP send_email request for auth. It validates every field (a
// *FieldError names the bad one), checks that auth may send as req.MailboxID (ErrForbidden) and
// that the mailbox exists on a configured domain (ErrUnknownMailbox, ErrSenderNotAllowed),
// applies oversight, builds, signs and enqueues the message. It returns after the queue's
// commit. An idempotency hit returns the first receipt with Duplicate set; the same key with
// another request is queue.ErrIdempotencyConflict. A message an approval rule rejects is
// recorded and never sent: the receipt's Status is "rejected" and the error nil.
func (s *Submitter) Send(ctx context.Context, req *SendRequest, auth Principal) (queue.Receipt, error) {
	now := s.clock.Now()
	d, err := s.validate(req, now)
	if err == nil {
		err = s.checkUnsubscribe(req, d)
	}
	if err != nil {
		return queue.Receipt{}, s.refused("invalid", err)
	}
	if !auth.may(d.mailbox) || !auth.hasScope(mailbox.ScopeSend) {
		return queue.Receipt{}, s.refused("forbidden", fmt.Errorf("%w: not allowed to send as %s", ErrForbidden, d.mailbox))
	}
	if err := checkOriginators([]string{d.mailbox}, headerValues(req.Headers, "Sender"), d.mailbox); err != nil {
		return queue.Receipt{}, s.refused("sender", err)
	}
	snd, err := s.sender(ctx, d.mailbox)
	if err != nil {
		return queue.Receipt{}, s.refused("sender", err)
	}
	if err := s.checkSuppressed(ctx, req, d, snd.domain.Name, auth); err != nil {
		return queue.Receipt{}, err
	}
	hash := ""
	if req.IdempotencyKey != "" {
		hash = requestHash(req)
	}
	idem := req.IdempotencyKey
	if idem != "" && auth.Test { // a test key's keys never meet a live key's
		idem = "test:" + idem
	}
	if r, dup, err := s.idempotent(ctx, d.mailbox, idem, hash); err != nil || dup {
		return r, err
	}
	env := &envelope{
		sender: snd, rcpts: d.rcpts, subject: req.Subject, lane: d.lane, tags: d.tags,
		expiresAt: req.ExpiresAt, sendAt: req.SendAt, idemKey: idem, reqHash: hash,
		source: sourceOf(auth, "api"), now: now, msgID: queue.NewMessageID(now), actor: auth.by(),
		test: auth.Test,
	}
	if req.Markdown != "" { // the text part is the markdown itself, the html part its rendering
		c := *req
		if c.HTML, err = renderMarkdown(req.Markdown); err != nil {
			return queue.Receipt{}, s.refused("invalid", fieldErr("markdown", "could not be rendered"))
		}
		c.Text, c.Markdown = req.Markdown, ""
		req = &c
	}
	if req.Unsubscribe {
		req = s.withUnsubscribe(req, snd.domain.Name, d.rcpts[0], env.msgID)
	}
	raw, err := compose(req, d, now, s.messageIDHeader(env.msgID))
	if err != nil {
		return queue.Receipt{}, fmt.Errorf("submission: compose: %w", err)
	}
	if int64(len(raw)) > s.opts.MaxMessageBytes {
		return queue.Receipt{}, s.refused("too_large", fmt.Errorf("%w: %d bytes", ErrTooLarge, len(raw)))
	}
	return s.accept(ctx, env, raw)
}

// SubmitRaw accepts a complete RFC 5322 message from SMTP: from is the envelope sender, rcpts
// the envelope recipients (already syntax-checked by the session or checked here). From: must be
// the sender and the sender must be auth's mailbox (ErrSenderNotAllowed); Date and Message-ID
// are added when missing and Bcc is removed; X-Multimail-Priority and X-Multimail-Tags choose
// the lane and tags and are removed; then oversight, signing and the enqueue as Send.
func (s *Submitter) SubmitRaw(ctx context.Context, from string, rcpts []string, raw []byte, auth Principal) (queue.Receipt, error) {
	return s.SubmitRawWith(ctx, from, rcpts, raw, auth, RawOptions{})
}

// RawOptions are the SMTP envelope's options of a raw submission.
type RawOptions struct {
	// RequireTLS: MAIL FROM … REQUIRETLS (RFC 8689); delivery relays only over validated TLS
	// to hosts that offer REQUIRETLS, else the recipients bounce with 5.7.30.
	RequireTLS bool
}

// SubmitRawWith is SubmitRaw with the envelope's options.
func (s *Submitter) SubmitRawWith(ctx context.Context, from string, rcpts []string, raw []byte, auth Principal, o RawOptions) (queue.Receipt, error) {
	now := s.clock.Now()
	snd, err := s.rawSender(ctx, from, auth)
	if err != nil {
		return queue.Receipt{}, s.refused("sender", err)
	}
	rcpts, err = checkRcpts(rcpts, s.opts.MaxRecipients)
	if err != nil {
		return queue.Receipt{}, s.refused("invalid", err)
	}
	if err := s.CheckRcptSuppressed(ctx, snd.mbox.Address, "", rcpts...); err != nil {
		return queue.Receipt{}, err // RCPT refused them already; a list change since is caught here
	}
	if int64(len(raw)) > s.opts.MaxMessageBytes+traceSlack {
		return queue.Receipt{}, s.refused("too_large", fmt.Errorf("%w: %d bytes", ErrTooLarge, len(raw)))
	}
	m, err := parseRaw(raw)
	if err != nil {
		return queue.Receipt{}, s.refused("invalid", err)
	}
	if err := m.checkFrom(snd.mbox.Address); err != nil {
		return queue.Receipt{}, s.refused("sender", err)
	}
	lane, tags, err := m.controls()
	if err != nil {
		return queue.Receipt{}, s.refused("invalid", err)
	}
	env := &envelope{
		sender: snd, rcpts: rcpts, subject: m.subject(), lane: lane, tags: tags,
		source: sourceOf(auth, "smtp"), now: now, msgID: queue.NewMessageID(now), actor: auth.by(),
		test: auth.Test, requireTLS: o.RequireTLS,
	}
	m.complete(now, s.messageIDHeader(env.msgID))
	body, err := m.bytes()
	if err != nil {
		return queue.Receipt{}, s.refused("invalid", fmt.Errorf("%w: %v", ErrMalformedMessage, err))
	}
	return s.accept(ctx, env, body)
}

// checkSuppressed refuses a send to an address on the sending domain's suppression list,
// naming the recipient field and why, unless the request says ignore_suppression and auth
// holds admin on top of send.
func (s *Submitter) checkSuppressed(ctx context.Context, req *SendRequest, d *draft, domain string, auth Principal) error {
	if req.IgnoreSuppression {
		if !auth.Owner && !auth.hasScope(mailbox.ScopeAdmin) {
			return s.refused("forbidden", fmt.Errorf("%w: ignore_suppression needs the admin scope", ErrForbidden))
		}
		return nil
	}
	sup, err := s.opts.Queue.Suppressed(ctx, domain, d.rcpts)
	if err != nil {
		return fmt.Errorf("submission: suppression list: %w", err)
	}
	if len(sup) == 0 {
		return nil
	}
	for i, a := range d.rcpts {
		if e, ok := sup[strings.ToLower(a)]; ok {
			return s.refused("suppressed", suppressedErr(d.fields[i], a, domain, e))
		}
	}
	return nil
}

// suppressedErr is the *FieldError of a suppressed recipient: the address, the sending domain
// and why (the entry's reason and detail).
func suppressedErr(field, addr, domain string, e queue.Suppression) *FieldError {
	why := e.Reason
	if e.Detail != "" {
		why += ": " + e.Detail
	}
	return &FieldError{Field: field, cause: ErrSuppressed, Msg: fmt.Sprintf("%s is suppressed for %s (%s)", addr, domain, why)}
}

// CheckRcptSuppressed refuses an SMTP recipient on the sending mailbox's domain list, the
// rule the API applies (there is no ignore_suppression on SMTP): a *FieldError wrapping
// ErrSuppressed, answered 550 5.7.1 naming the suppression. field is "to[i]".
func (s *Submitter) CheckRcptSuppressed(ctx context.Context, from, field string, rcpts ...string) error {
	domain := domainOf(from)
	sup, err := s.opts.Queue.Suppressed(ctx, domain, rcpts)
	if err != nil {
		return fmt.Errorf("submission: suppression list: %w", err)
	}
	for i, a := range rcpts {
		if e, ok := sup[strings.ToLower(a)]; ok {
			f := field
			if f == "" {
				f = fmt.Sprintf("to[%d]", i)
			}
			return s.refused("suppressed", suppressedErr(f, a, domain, e))
		}
	}
	return nil
}

// traceSlack is room over MaxMessageBytes for the fields a listener adds (Received), so that a
// message the listener accepted by SIZE is not refused here for them.
const traceSlack = 4096

// checkRcpts validates the envelope recipients of a raw submission and returns them with
// lower-case domains.
func checkRcpts(rcpts []string, max int) ([]string, error) {
	if len(rcpts) == 0 {
		return nil, fieldErr("to", "at least one recipient is required")
	}
	if len(rcpts) > max {
		return nil, tooMany(len(rcpts), max)
	}
	out := make([]string, len(rcpts))
	for i, r := range rcpts {
		addr, msg := checkAddress(r)
		if msg != "" {
			return nil, fieldErr(fmt.Sprintf("to[%d]", i), msg)
		}
		out[i] = addr
	}
	return out, nil
}

// headerValues returns the values of the custom headers named name (any case).
func headerValues(h map[string]string, name string) []string {
	var out []string
	for _, k := range sortedKeys(h) {
		if strings.EqualFold(k, name) {
			out = append(out, h[k])
		}
	}
	return out
}

// sourceOf is the Message.Source of a send: the principal's door, or def.
func sourceOf(p Principal, def string) string {
	if p.Source != "" {
		return p.Source
	}
	return def
}

// messageIDHeader is the Message-ID we give a message: its queue id at our hostname, so that a
// reply or a bounce quoting it leads back to the queue entry.
func (s *Submitter) messageIDHeader(msgID string) string {
	return msgID + "@" + s.opts.Hostname
}

// idempotent looks the key up before any work; no key is no hit.
func (s *Submitter) idempotent(ctx context.Context, mbox, key, hash string) (queue.Receipt, bool, error) {
	if key == "" {
		return queue.Receipt{}, false, nil
	}
	r, dup, err := s.opts.Queue.Idempotent(ctx, mbox, key, hash)
	if err != nil {
		return queue.Receipt{}, false, s.refused("idempotency", fmt.Errorf("submission: idempotency: %w", err))
	}
	return r, dup, nil
}

// refused counts a refusal by reason and returns err unchanged.
func (s *Submitter) refused(reason string, err error) error {
	s.metrics.refused.WithLabelValues(reason).Inc()
	return err
}
