package queue

// suppress.go: the suppression list, per sending domain (family 0x0d).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Suppression reasons.
const (
	SuppressHardBounce  = "hard_bounce" // 5.1.1, 5.1.2 or 5.1.10 at RCPT, or in a failed DSN
	SuppressComplaint   = "complaint"   // an ARF (RFC 5965) abuse report about a message we sent
	SuppressUnsubscribe = "unsubscribe" // the recipient's one-click List-Unsubscribe (RFC 8058)
	SuppressManual      = "manual"      // POST /v1/suppressions
)

// Suppression is one suppressed address of a sending domain.
type Suppression struct {
	Domain    string    `json:"-"`
	Address   string    `json:"-"`
	Reason    string    `json:"reason"`
	Detail    string    `json:"detail,omitempty"`    // the remote reply, the report, who added it
	MsgID     string    `json:"msg_id,omitempty"`    // the message that caused it
	CreatedAt time.Time `json:"created_at"`          //
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero = never
}

// suppressingStatus reports whether an enhanced status code says the address does not exist
// (RFC 3463: 5.1.1 bad mailbox, 5.1.2 bad domain, 5.1.10 null MX). Policy and content
// refusals (5.7.x, DMARC, 5.6.x) and full mailboxes (5.2.x) never suppress: they would lock
// an address out of login mail for good.
func suppressingStatus(code string) bool {
	switch code {
	case "5.1.1", "5.1.2", "5.1.10":
		return true
	}
	return false
}

// normAddr lower-cases an address for the list (local parts are compared case-insensitively
// here, as every large provider does).
func normAddr(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

// domainOf is the domain of an address.
func domainOf(a string) string {
	if at := strings.LastIndexByte(a, '@'); at >= 0 {
		return strings.ToLower(a[at+1:])
	}
	return ""
}

// dnsBounceSuppression is how long a bounce that no server answered suppresses: our own DNS
// said the domain does not exist (5.1.2) or takes no mail (5.1.10). A lapsed registration or a
// broken zone is often fixed within hours, and a login address must not stay locked out for
// good on a DNS answer; an MX's reply or a DSN suppresses without expiry.
const dnsBounceSuppression = 24 * time.Hour

// suppressBounce adds rcpt to the sending domain's list in b when code says the address does
// not exist. unanswered: no server replied (the bounce came from our DNS lookup), and the
// entry expires after dnsBounceSuppression.
func (q *Queue) suppressBounce(b *pebble.Batch, m *msgRecord, rcpt string, unanswered bool, code, detail string, now time.Time) {
	if !suppressingStatus(code) || m.Mailbox == "" {
		return
	}
	s := Suppression{Reason: SuppressHardBounce, Detail: clip(code+" "+detail, 300), MsgID: m.ID, CreatedAt: now}
	if unanswered {
		s.ExpiresAt = now.Add(dnsBounceSuppression)
	}
	set(b, suppressKey(domainOf(m.Mailbox), normAddr(rcpt)), encodeValue(s))
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// normSuppression lower-cases s's domain and address, refuses one that is not an address
// of a domain (ErrInvalid), and stamps CreatedAt when unset.
func (q *Queue) normSuppression(s *Suppression) error {
	s.Domain, s.Address = strings.ToLower(s.Domain), normAddr(s.Address)
	if s.Domain == "" || len(s.Domain) > 255 || s.Address == "" || len(s.Address) > 1024 || !strings.Contains(s.Address, "@") {
		return fmt.Errorf("%w: suppression %q for %q", ErrInvalid, s.Address, s.Domain)
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = q.now()
	}
	return nil
}

// Suppress adds (or replaces) an entry of domain's list in one synced batch.
func (q *Queue) Suppress(ctx context.Context, s Suppression) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := q.normSuppression(&s); err != nil {
		return err
	}
	b := q.db.NewBatch()
	set(b, suppressKey(s.Domain, s.Address), encodeValue(s))
	return commit(b, pebble.Sync)
}

// SuppressMessageRecipient adds a recipient of a message we sent to its sending domain's
// list (a complaint, an unsubscribe). ErrNotFound when msgID is not ours or addr is not one of
// its recipients, so a forged report cannot suppress arbitrary addresses.
func (q *Queue) SuppressMessageRecipient(ctx context.Context, msgID, addr, reason, detail string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, m, rcpts, unlock, err := q.lockedMsg("suppress", msgID)
	if err != nil {
		return err
	}
	defer unlock()
	if findRcpt(rcpts, addr) == nil || m.Mailbox == "" {
		return fmt.Errorf("suppress: %w: %s is not a recipient of %s", ErrNotFound, addr, msgID)
	}
	return q.suppressLocked(m, rcpts, Suppression{Domain: domainOf(m.Mailbox), Address: addr, Reason: reason,
		Detail: clip(detail, 300), MsgID: m.ID})
}

// suppressEvents are the message events a recipient's own suppression leaves in the trail.
var suppressEvents = map[string]EventType{SuppressComplaint: EventComplained, SuppressUnsubscribe: EventUnsubscribed}

// suppressLocked writes s and, for a complaint or an unsubscribe by a recipient m was
// delivered to and not already on the list for it, a "complained"/"unsubscribed" event of m
// (and its webhook), in one synced batch. The caller holds m's lock.
func (q *Queue) suppressLocked(m *msgRecord, rcpts []*rcptRecord, s Suppression) error {
	if err := q.normSuppression(&s); err != nil {
		return err
	}
	var old Suppression
	err := q.get(suppressKey(s.Domain, s.Address), &old)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	again := err == nil && old.Reason == s.Reason && old.MsgID == s.MsgID
	b := q.db.NewBatch()
	set(b, suppressKey(s.Domain, s.Address), encodeValue(s))
	j := q.msgJournal(b, m)
	if ev, ok := suppressEvents[s.Reason]; ok && !again {
		if r := findRcpt(rcpts, s.Address); r != nil && r.Status == RcptDelivered {
			j.add(Event{Type: ev, Recipient: r.Addr, Reason: s.Reason, Detail: s.Detail, Tags: m.Tags})
		}
	}
	if err := j.flush(); err != nil {
		b.Close()
		return err
	}
	if err := commit(b, pebble.Sync); err != nil {
		return err
	}
	q.afterJournal(j)
	return nil
}

// Unsuppress deletes an entry; ErrNotFound when absent.
func (q *Queue) Unsuppress(ctx context.Context, domain, addr string) error {
	k := suppressKey(strings.ToLower(domain), normAddr(addr))
	ok, err := q.exists(k)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("unsuppress %s: %w", addr, ErrNotFound)
	}
	b := q.db.NewBatch()
	del(b, k)
	return commit(b, pebble.Sync)
}

// Suppressed returns the live entries of domain's list among addrs, by normalised address.
func (q *Queue) Suppressed(ctx context.Context, domain string, addrs []string) (map[string]Suppression, error) {
	out := map[string]Suppression{}
	now := q.now()
	for _, a := range addrs {
		var s Suppression
		err := q.get(suppressKey(strings.ToLower(domain), normAddr(a)), &s)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) {
			continue
		}
		s.Domain, s.Address = strings.ToLower(domain), normAddr(a)
		out[s.Address] = s
	}
	return out, nil
}

// Suppressions lists domain's entries in address order after the address after (a page of at
// most limit), expired ones included with their ExpiresAt.
func (q *Queue) Suppressions(ctx context.Context, domain, after string, limit int) ([]Suppression, error) {
	if limit <= 0 {
		limit = 100
	}
	prefix := suppressPrefix(strings.ToLower(domain))
	from := prefix
	if after != "" {
		from = append(suppressKey(strings.ToLower(domain), normAddr(after)), 0)
	}
	var out []Suppression
	err := q.scanFrom(prefix, from, func(k, v []byte) error {
		var s Suppression
		if decodeValue(v, &s) != nil {
			return nil
		}
		s.Domain, s.Address = strings.ToLower(domain), string(k[len(prefix):])
		out = append(out, s)
		if len(out) == limit {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return out, err
}
