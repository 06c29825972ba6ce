package pgqueue

// suppress.go is the suppression list (table mq_suppress), as the Pebble queue's: per
// sending domain, recipients not to send to, with a reason; hard bounces (5.1.1, 5.1.2,
// 5.1.10) add one in the transaction that records them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"multimail.dev/multimail/pgdb"
	"multimail.dev/multimail/queue"
)

var _ queue.Suppressions = (*Queue)(nil)

// dnsBounceSuppression is how long a hard bounce decided without an SMTP reply (DNS said
// the domain does not exist) suppresses, as the Pebble queue.
const dnsBounceSuppression = 24 * time.Hour

func normAddr(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

func domainOf(a string) string {
	if at := strings.LastIndexByte(a, '@'); at >= 0 {
		return strings.ToLower(a[at+1:])
	}
	return ""
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// putSuppression writes s (Domain and Address normalised) in tx.
func putSuppression(ctx context.Context, tx pgx.Tx, s queue.Suppression) error {
	_, err := tx.Exec(ctx, `INSERT INTO mq_suppress (domain, address, data) VALUES ($1, $2, $3)
		ON CONFLICT (domain, address) DO UPDATE SET data = EXCLUDED.data`, s.Domain, s.Address, mustJSON(s))
	return err
}

// suppressBounce adds the hard-bounce suppression of a recipient of a message sent from
// mailbox, when code says the address does not exist.
func suppressBounce(ctx context.Context, tx pgx.Tx, msgID, mailbox, rcpt string, res queue.Result, now time.Time) error {
	switch res.EnhancedCode {
	case "5.1.1", "5.1.2", "5.1.10":
	default:
		return nil
	}
	if mailbox == "" {
		return nil
	}
	s := queue.Suppression{Domain: domainOf(mailbox), Address: normAddr(rcpt), Reason: queue.SuppressHardBounce,
		Detail: clip(res.EnhancedCode+" "+res.Detail, 300), MsgID: msgID, CreatedAt: now}
	if res.SMTPCode == 0 {
		s.ExpiresAt = now.Add(dnsBounceSuppression)
	}
	return putSuppression(ctx, tx, s)
}

// Suppress adds or replaces a suppression (CreatedAt defaults to the database's now).
func (q *Queue) Suppress(ctx context.Context, s queue.Suppression) error {
	s.Domain, s.Address = strings.ToLower(s.Domain), normAddr(s.Address)
	if s.Domain == "" || len(s.Domain) > 255 || s.Address == "" || len(s.Address) > 1024 || !strings.Contains(s.Address, "@") {
		return fmt.Errorf("%w: suppression %q for %q", queue.ErrInvalid, s.Address, s.Domain)
	}
	return q.tx(ctx, func(tx pgx.Tx) error {
		if s.CreatedAt.IsZero() {
			now, err := txNow(ctx, tx)
			if err != nil {
				return err
			}
			s.CreatedAt = now
		}
		return putSuppression(ctx, tx, s)
	})
}

// SuppressMessageRecipient suppresses addr, a recipient of message msgID, for the message's
// sending domain. ErrNotFound for an unknown message, a non-recipient or a DSN (no mailbox).
func (q *Queue) SuppressMessageRecipient(ctx context.Context, msgID, addr, reason, detail string) error {
	var mailbox string
	err := q.pool.QueryRow(ctx, `SELECT m.mailbox FROM mq_message m JOIN mq_rcpt r ON r.msg_id = m.id
		WHERE m.id = $1 AND lower(r.address) = $2 LIMIT 1`, msgID, normAddr(addr)).Scan(&mailbox)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && mailbox == "" {
		return fmt.Errorf("suppress: %w: %s is not a recipient of %s", queue.ErrNotFound, addr, msgID)
	}
	if err != nil {
		return fmt.Errorf("suppress: %w", err)
	}
	return q.Suppress(ctx, queue.Suppression{Domain: domainOf(mailbox), Address: addr, Reason: reason,
		Detail: clip(detail, 300), MsgID: msgID})
}

// Unsuppress removes a suppression; ErrNotFound when there is none.
func (q *Queue) Unsuppress(ctx context.Context, domain, addr string) error {
	var n int64
	err := pgdb.Retry(ctx, func() error {
		tag, err := q.pool.Exec(ctx, `DELETE FROM mq_suppress WHERE domain = $1 AND address = $2`,
			strings.ToLower(domain), normAddr(addr))
		n = tag.RowsAffected()
		return err
	})
	if err == nil && n == 0 {
		err = queue.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("unsuppress %s: %w", addr, err)
	}
	return nil
}

// Suppressed returns the live (unexpired) suppressions of addrs for domain, by address.
func (q *Queue) Suppressed(ctx context.Context, domain string, addrs []string) (map[string]queue.Suppression, error) {
	norm := make([]string, len(addrs))
	for i, a := range addrs {
		norm[i] = normAddr(a)
	}
	rows, err := q.pool.Query(ctx, `SELECT domain, address, data, now() FROM mq_suppress
		WHERE domain = $1 AND address = ANY($2)`, strings.ToLower(domain), norm)
	if err != nil {
		return nil, fmt.Errorf("suppressed: %w", err)
	}
	out := map[string]queue.Suppression{}
	var now time.Time
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (queue.Suppression, error) {
		return scanSuppression(r, &now)
	})
	if err != nil {
		return nil, fmt.Errorf("suppressed: %w", err)
	}
	for _, s := range list {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			out[s.Address] = s
		}
	}
	return out, nil
}

// Suppressions lists a domain's suppressions (expired ones included) in address order,
// after the address after, at most limit (default 100).
func (q *Queue) Suppressions(ctx context.Context, domain, after string, limit int) ([]queue.Suppression, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.pool.Query(ctx, `SELECT domain, address, data, now() FROM mq_suppress
		WHERE domain = $1 AND address > $2 ORDER BY address LIMIT $3`, strings.ToLower(domain), normAddr(after), limit)
	if err != nil {
		return nil, fmt.Errorf("suppressions: %w", err)
	}
	var now time.Time
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (queue.Suppression, error) {
		return scanSuppression(r, &now)
	})
	if err != nil {
		return nil, fmt.Errorf("suppressions: %w", err)
	}
	return out, nil
}

func scanSuppression(r pgx.CollectableRow, now *time.Time) (queue.Suppression, error) {
	var s queue.Suppression
	var domain, addr string
	var data []byte
	if err := r.Scan(&domain, &addr, &data, now); err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%w: suppression %s: %v", queue.ErrCorrupt, addr, err)
	}
	s.Domain, s.Address = domain, addr
	return s, nil
}

// Unsubscribe verifies a one-click unsubscribe token (any node's: the key is shared) and
// adds the "unsubscribe" suppression it names. ErrNotFound for a token that does not verify.
func (q *Queue) Unsubscribe(ctx context.Context, tok, detail string) (queue.Suppression, error) {
	d, r, id, ok := q.ParseUnsubscribeToken(tok)
	if !ok {
		return queue.Suppression{}, fmt.Errorf("unsubscribe: %w", queue.ErrNotFound)
	}
	s := queue.Suppression{Domain: d, Address: r, Reason: queue.SuppressUnsubscribe, Detail: clip(detail, 300), MsgID: id}
	if err := q.Suppress(ctx, s); err != nil {
		return queue.Suppression{}, err
	}
	s.Domain, s.Address = strings.ToLower(d), normAddr(r)
	return s, nil
}
